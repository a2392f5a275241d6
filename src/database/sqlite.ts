// prisma-presence's own SQLite connection: one better-sqlite3 handle, used by one
// statement or transaction at a time, that never blocks the event loop on a lock.
//
// better-sqlite3 is synchronous: with a busy timeout it would wait for another
// process's write lock inside the call, freezing every socket of the app. Here the
// busy timeout is 0 and a busy statement is retried after an asynchronous pause.
// Every statement waits for the transaction in progress on the handle, so a statement
// never runs inside another caller's BEGIN (and never vanishes with its rollback).
import { setTimeout as sleep } from 'node:timers/promises';
import BetterSqlite3 from 'better-sqlite3';
import { PresenceError } from '../errors.js';
import { serialized, type Connection, type StatementRunner } from './connections.js';

/** How long a statement waits for another process's write lock before DATABASE_UNAVAILABLE. */
const LOCK_TIMEOUT_MS = 5000;

/** Prepared statements kept per handle; a larger set of distinct texts starts the cache over. */
const STATEMENT_CACHE_SIZE = 256;

/**
 * Settings for several processes sharing one file: WAL lets readers run while one
 * process writes; synchronous=NORMAL is safe in WAL mode and spares an fsync per commit.
 */
const PRAGMAS = ['journal_mode = WAL', 'synchronous = NORMAL', 'foreign_keys = ON'];

/** `rename` maps the shipped table names to the application's (see Database), for the statements run here. */
export function sqliteConnection(path: string, rename: (text: string) => string = (text) => text): Connection {
  let handle: BetterSqlite3.Database | undefined;
  let timestamps: TimestampFormat = 'iso8601';
  const statements = new Map<string, BetterSqlite3.Statement>();

  async function open(): Promise<BetterSqlite3.Database> {
    if (handle) return handle;
    const db = new BetterSqlite3(path, { fileMustExist: true, timeout: 0 });
    try {
      for (const pragma of PRAGMAS) await whenUnlocked(() => db.pragma(pragma));
      timestamps = await whenUnlocked(() => storedTimestampFormat(db, path, rename));
    } catch (error) {
      db.close();
      throw error;
    }
    return (handle = db);
  }

  function statement(db: BetterSqlite3.Database, text: string): BetterSqlite3.Statement {
    let prepared = statements.get(text);
    if (!prepared) {
      if (statements.size >= STATEMENT_CACHE_SIZE) statements.clear();
      statements.set(text, (prepared = db.prepare(text)));
    }
    return prepared;
  }

  /** Runs one statement now; the caller holds the handle. */
  function runNow<T>(db: BetterSqlite3.Database, text: string, values: unknown[]): { rows: T[]; changes: number } {
    const prepared = statement(db, text);
    const bound = values.map((value) => toSqlite(value, timestamps));
    if (prepared.reader) return { rows: prepared.all(...bound) as T[], changes: 0 };
    return { rows: [], changes: prepared.run(...bound).changes };
  }

  async function run<T>(text: string, values: unknown[]) {
    const db = await open();
    return whenUnlocked(() => runNow<T>(db, text, values));
  }

  return serialized({
    query: async <T>(text: string, values: unknown[]) => (await run<T>(text, values)).rows,
    execute: async (text, values) => (await run(text, values)).changes,
    async transaction<T>(work: (tx: StatementRunner) => Promise<T>) {
        const db = await open();
        // IMMEDIATE takes the write lock up front: no statement inside can meet a busy
        // lock or a stale snapshot later, so the work never has to start over.
        await whenUnlocked(() => db.exec('BEGIN IMMEDIATE'));
        try {
          const result = await work({
            query: async <R>(text: string, values: unknown[]) => runNow<R>(db, text, values).rows,
            execute: async (text, values) => runNow(db, text, values).changes,
          });
          db.exec('COMMIT');
          return result;
        } catch (error) {
          if (db.inTransaction) db.exec('ROLLBACK');
          throw error;
        }
    },
    async close() {
      handle?.close();
      handle = undefined;
      statements.clear();
    },
  });
}

/**
 * Runs `attempt`, retrying after asynchronous pauses while another process holds the
 * file's lock, for up to `timeoutMs`; then DATABASE_UNAVAILABLE.
 */
export async function whenUnlocked<T>(attempt: () => T, timeoutMs = LOCK_TIMEOUT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let pause = 1; ; pause = Math.min(pause * 2, 50)) {
    try {
      return attempt();
    } catch (error) {
      if (!isBusy(error)) throw error;
      if (Date.now() >= deadline) {
        throw new PresenceError(
          'DATABASE_UNAVAILABLE',
          `Cannot use the database: the SQLite file stayed locked by another process for ${timeoutMs / 1000} s`,
          { cause: error },
        );
      }
      await sleep(pause * (0.5 + Math.random()));
    }
  }
}

function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

/** What SQLite's constraint and schema errors mean, named as Prisma's driver adapters name them. */
export function sqliteErrorKind(error: unknown): string | undefined {
  if (!(error instanceof BetterSqlite3.SqliteError)) return undefined;
  if (error.code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return 'ForeignKeyConstraintViolation';
  if (error.code === 'SQLITE_CONSTRAINT_UNIQUE' || error.code === 'SQLITE_CONSTRAINT_PRIMARYKEY') return 'UniqueConstraintViolation';
  if (/^no such table/.test(error.message)) return 'TableDoesNotExist';
  return undefined;
}

/** How Prisma's SQLite adapter stores DateTime values: its `timestampFormat` option. */
type TimestampFormat = 'iso8601' | 'unixepoch-ms';

/**
 * How the file's `Presence.lastSeen` values are stored: ISO-8601 text (the adapter's
 * default), or integer milliseconds when an application's adapter writes them with
 * `timestampFormat: 'unixepoch-ms'`; this connection then writes and compares the same.
 * Both at once cannot be compared correctly, so that is refused. SQLite orders integers
 * before text, so the two ends of the lastSeen index tell.
 */
function storedTimestampFormat(db: BetterSqlite3.Database, path: string, rename: (text: string) => string): TimestampFormat {
  let ends: { lowest: string | null; highest: string | null } | undefined;
  try {
    ends = db
      .prepare(
        rename(`SELECT (SELECT typeof("lastSeen") FROM "Presence" ORDER BY "lastSeen" LIMIT 1) AS lowest,
                (SELECT typeof("lastSeen") FROM "Presence" ORDER BY "lastSeen" DESC LIMIT 1) AS highest`),
      )
      .get() as typeof ends;
  } catch (error) {
    if (sqliteErrorKind(error) === 'TableDoesNotExist') return 'iso8601'; // the first statement reports it
    throw error;
  }
  if (ends?.lowest !== 'integer') return 'iso8601';
  if (ends.highest === 'integer') return 'unixepoch-ms';
  throw new PresenceError(
    'UNSUPPORTED_DATABASE',
    `SQLite database ${path} stores Presence.lastSeen in two formats (integer milliseconds and ISO-8601 text), which cannot be compared: ` +
      'give every PrismaBetterSqlite3 adapter that writes it the same timestampFormat, then convert the text rows, e.g. ' +
      rename(`UPDATE "Presence" SET "lastSeen" = CAST(round((julianday("lastSeen") - 2440587.5) * 86400000) AS INTEGER) WHERE typeof("lastSeen") = 'text'`),
  );
}

/**
 * Values as SQLite stores them, in the format Prisma's SQLite adapter writes (so rows
 * written by an application's PrismaClient compare correctly).
 */
export function toSqlite(value: unknown, timestamps: TimestampFormat = 'iso8601'): unknown {
  if (value instanceof Date) return timestamps === 'unixepoch-ms' ? value.getTime() : value.toISOString().replace('Z', '+00:00');
  if (typeof value === 'boolean') return value ? 1 : 0;
  return value;
}
