import { existsSync } from 'node:fs';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import type { SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import { PresenceError } from '../errors.js';
import { adapterConnection, onEachConnection, type Connection } from './connections.js';
import { sqliteConnection } from './sqlite.js';
import type { DatabaseLocation } from './url.js';

/** Connection pool settings for PostgreSQL (ignored for SQLite); each a positive integer. */
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
    return onEachConnection(new PrismaBetterSqlite3({ url: location.url, timeout: SQLITE_BUSY_TIMEOUT_MS }), (connection) =>
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
 * Opens prisma-presence's own connection: a better-sqlite3 handle, or Prisma's driver
 * adapter for PostgreSQL.
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
  return location.dialect === 'sqlite' ? sqliteConnection(location.path) : adapterConnection(adapterFactory(location, pool));
}
