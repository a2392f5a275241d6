import { existsSync } from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import type { SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import { PresenceError } from '../errors.js';
import { adapterConnection, onEachConnection, type Connection } from './connections.js';
import type { DatabaseLocation } from './url.js';

/** Connection pool settings for PostgreSQL (ignored for SQLite). */
export interface PoolOptions {
  /** Most connections the pool opens. Default 10. */
  max?: number;
  /** Milliseconds to wait for a connection before failing. Default 5000. */
  connectTimeout?: number;
  /** Milliseconds an unused connection stays open. Default 10000. */
  idleTimeout?: number;
}

/** How long a SQLite writer waits for another process's write lock before failing. */
const SQLITE_BUSY_TIMEOUT_MS = 5000;

/**
 * SQLite settings for several processes sharing one file: WAL lets readers run while
 * one process writes, the busy timeout makes writers queue instead of failing, and
 * synchronous=NORMAL is safe in WAL mode while sparing an fsync per commit.
 */
const SQLITE_PRAGMAS = `PRAGMA busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;`;

/** A driver adapter factory for the location, as Prisma's client and schema engine take it. */
export function adapterFactory(location: DatabaseLocation, pool: PoolOptions = {}): SqlMigrationAwareDriverAdapterFactory {
  if (location.dialect === 'sqlite') {
    const timestampFormat = storedTimestampFormat(location.path);
    return onEachConnection(new PrismaBetterSqlite3({ url: location.url, timeout: SQLITE_BUSY_TIMEOUT_MS }, { timestampFormat }), (connection) =>
      connection.executeScript(SQLITE_PRAGMAS),
    );
  }
  return new PrismaPg({
    connectionString: location.url,
    max: pool.max ?? 10,
    connectionTimeoutMillis: pool.connectTimeout ?? 5000,
    idleTimeoutMillis: pool.idleTimeout ?? 10000,
  });
}

/**
 * How the file's `Presence.lastSeen` values are stored: ISO-8601 text (the adapter's
 * default), or integer milliseconds when an application's adapter writes them with
 * `timestampFormat: 'unixepoch-ms'`. prisma-presence's own connection writes and compares
 * in the same format. Both at once cannot be compared correctly, so that is refused.
 * SQLite orders integers before text, so the two ends of the lastSeen index tell.
 */
function storedTimestampFormat(path: string): 'iso8601' | 'unixepoch-ms' {
  if (!existsSync(path)) return 'iso8601';
  let ends: { lowest: string | null; highest: string | null } | undefined;
  const db = new BetterSqlite3(path, { readonly: true, timeout: SQLITE_BUSY_TIMEOUT_MS });
  try {
    ends = db
      .prepare(
        `SELECT (SELECT typeof("lastSeen") FROM "Presence" ORDER BY "lastSeen" LIMIT 1) AS lowest,
                (SELECT typeof("lastSeen") FROM "Presence" ORDER BY "lastSeen" DESC LIMIT 1) AS highest`,
      )
      .get() as typeof ends;
  } catch {
    return 'iso8601'; // no presence tables yet: the commands report that themselves
  } finally {
    db.close();
  }
  if (ends?.lowest !== 'integer') return 'iso8601';
  if (ends.highest === 'integer') return 'unixepoch-ms';
  throw new PresenceError(
    'UNSUPPORTED_DATABASE',
    `SQLite database ${path} stores Presence.lastSeen in two formats (integer milliseconds and ISO-8601 text), which cannot be compared: ` +
      "give every PrismaBetterSqlite3 adapter that writes it the same timestampFormat, then convert the text rows, e.g. UPDATE \"Presence\" SET \"lastSeen\" = CAST(round((julianday(\"lastSeen\") - 2440587.5) * 86400000) AS INTEGER) WHERE typeof(\"lastSeen\") = 'text'",
  );
}

/**
 * Opens prisma-presence's own connection: Prisma's driver adapter for the engine.
 * A SQLite file must already exist (migrate creates it), so a mistyped path fails
 * instead of leaving an empty database behind.
 */
export function openConnection(location: DatabaseLocation, pool?: PoolOptions): Connection {
  if (location.dialect === 'sqlite' && !existsSync(location.path)) {
    throw new PresenceError(
      'MIGRATION_REQUIRED',
      `SQLite database ${location.path} does not exist: run \`npx presence-admin migrate --database-url ${location.url}\` to create it`,
    );
  }
  return adapterConnection(adapterFactory(location, pool));
}
