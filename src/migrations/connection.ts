// The connection `migrate` and `status` use: the raw drivers (better-sqlite3, pg), so that a
// migration script runs whole inside one transaction that also holds the migration lock.
// (Prisma's schema engine and driver adapters run a script statement by statement, each
// committed on its own, which is how an interrupted migration used to leave half a schema.)
import { closeSync, existsSync, mkdirSync, openSync, readSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import type { Sql } from '../database/sql.js';
import { toSqlite, whenUnlocked } from '../database/sqlite.js';
import type { DatabaseLocation, Dialect } from '../database/url.js';
import { PresenceError } from '../errors.js';

export interface MigrationConnection {
  readonly dialect: Dialect;
  query<T>(statement: Sql): Promise<T[]>;
  /** Runs a multi-statement script as it is. */
  script(text: string): Promise<void>;
  /**
   * Runs `work` holding the migration lock, which a second `migrate` waits for: SQLite's
   * write lock (one transaction around the whole run, waited for without blocking Node),
   * or on PostgreSQL the advisory lock Prisma's own migrate commands take, so that
   * presence-admin and the Prisma CLI never interleave. Steps that finished stay done
   * when `work` fails.
   */
  exclusive<T>(work: () => Promise<T>): Promise<T>;
  /** Runs `work` atomically inside `exclusive`: all of it or, when it throws, none of it. */
  step<T>(work: () => Promise<T>): Promise<T>;
  /** Runs `work` in a transaction (or savepoint) that is always rolled back. */
  rolledBack<T>(work: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** The key of the advisory lock Prisma's schema engine holds while it migrates PostgreSQL. */
const PRISMA_ADVISORY_LOCK = 72707369;

/** How long `migrate` waits for another process's SQLite write lock (a long upgrade, a second `migrate`). */
const SQLITE_LOCK_WAIT_MS = 120_000;

const SQLITE_HEADER = 'SQLite format 3\0';

/**
 * Opens the database for `migrate` (`writing`: a missing SQLite file is created and put
 * in WAL mode) or for `status` (the caller has checked that the file exists).
 */
export async function openMigrationConnection(location: DatabaseLocation, writing: boolean): Promise<MigrationConnection> {
  return location.dialect === 'sqlite' ? openSqlite(location.path, writing) : openPostgres(location.url);
}

/** Refuses a path that is a folder or a file that is not a SQLite database, in words. */
export function checkSqliteFile(path: string): void {
  if (!existsSync(path)) return;
  const stats = statSync(path);
  if (stats.isDirectory()) {
    throw new PresenceError('INVALID_ARGUMENT', `${path} is a directory, not a SQLite database file: give the path of a file, e.g. file:${path.replace(/\/$/, '')}/presence.db`);
  }
  if (stats.size === 0) return;
  const header = Buffer.alloc(SQLITE_HEADER.length);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, header, 0, header.length, 0);
  } finally {
    closeSync(fd);
  }
  if (header.toString('latin1') !== SQLITE_HEADER) {
    throw new PresenceError('INVALID_ARGUMENT', `${path} is not a SQLite database (it does not start with SQLite's file header): check the path`);
  }
}

async function openSqlite(path: string, writing: boolean): Promise<MigrationConnection> {
  checkSqliteFile(path);
  if (writing) mkdirSync(dirname(path), { recursive: true });
  // A short busy timeout: waiting for the lock happens below, asynchronously.
  const db = new BetterSqlite3(path, { timeout: 20, fileMustExist: !writing });
  try {
    if (writing) await whenUnlocked(() => db.pragma('journal_mode = WAL'), SQLITE_LOCK_WAIT_MS);
    // Only possible outside a transaction; the table rebuilds of SQLite migrations need it
    // off, and `foreign_key_check` before each commit takes its place.
    db.pragma('foreign_keys = OFF');
  } catch (error) {
    db.close();
    throw error;
  }
  const bind = (values: unknown[]) => values.map((value) => toSqlite(value));
  const savepoint = async <T>(work: () => Promise<T>, keep: boolean): Promise<T> => {
    db.exec('SAVEPOINT presence_migration');
    try {
      const result = await work();
      if (!keep) db.exec('ROLLBACK TO presence_migration');
      db.exec('RELEASE presence_migration');
      return result;
    } catch (error) {
      if (db.inTransaction) db.exec('ROLLBACK TO presence_migration; RELEASE presence_migration');
      throw error;
    }
  };
  return {
    dialect: 'sqlite',
    async query<T>(statement: Sql) {
      const { text, values } = statement.render('sqlite');
      const prepared = db.prepare(text);
      return (prepared.reader ? prepared.all(...bind(values)) : (prepared.run(...bind(values)), [])) as T[];
    },
    async script(text) {
      db.exec(text);
    },
    async exclusive(work) {
      await whenUnlocked(() => db.exec('BEGIN IMMEDIATE'), SQLITE_LOCK_WAIT_MS);
      let result;
      try {
        result = await work();
      } catch (error) {
        // Keep the steps that finished; a failed one was rolled back to its savepoint.
        try {
          if (db.inTransaction) db.exec('COMMIT');
        } catch {
          if (db.inTransaction) db.exec('ROLLBACK');
        }
        throw error;
      }
      try {
        db.exec('COMMIT');
      } catch (error) {
        if (db.inTransaction) db.exec('ROLLBACK');
        throw error;
      }
      return result;
    },
    step: (work) => savepoint(work, true),
    rolledBack: (work) => savepoint(work, false),
    async close() {
      db.close();
    },
  };
}

async function openPostgres(url: string): Promise<MigrationConnection> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  client.on('error', () => {});
  await client.connect();
  let inTransaction = false;
  const transaction = async <T>(work: () => Promise<T>, commit: boolean): Promise<T> => {
    // Nested (a scratch schema while a step runs): a savepoint, which also undoes SET LOCAL.
    const [begin, end, abort] = inTransaction
      ? ['SAVEPOINT presence_scratch', 'ROLLBACK TO SAVEPOINT presence_scratch; RELEASE SAVEPOINT presence_scratch', 'ROLLBACK TO SAVEPOINT presence_scratch; RELEASE SAVEPOINT presence_scratch']
      : ['BEGIN', commit ? 'COMMIT' : 'ROLLBACK', 'ROLLBACK'];
    const outer = !inTransaction;
    await client.query(begin);
    inTransaction = true;
    try {
      const result = await work();
      await client.query(end);
      return result;
    } catch (error) {
      await client.query(abort).catch(() => {});
      throw error;
    } finally {
      if (outer) inTransaction = false;
    }
  };
  return {
    dialect: 'postgresql',
    async query<T>(statement: Sql) {
      const { text, values } = statement.render('postgresql');
      return (await client.query(text, values)).rows as T[];
    },
    async script(text) {
      // The simple query protocol runs every statement of the text inside the open transaction.
      await client.query(text);
    },
    async exclusive(work) {
      await client.query('SELECT pg_advisory_lock($1)', [PRISMA_ADVISORY_LOCK]);
      try {
        return await work();
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [PRISMA_ADVISORY_LOCK]).catch(() => {});
      }
    },
    step: (work) => transaction(work, true),
    rolledBack: (work) => transaction(work, false),
    close: () => client.end(),
  };
}
