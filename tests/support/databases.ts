// A fresh, migrated database per test file on each engine, and raw-driver access to
// it so that assertions never rely on the code under test.
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, inject } from 'vitest';
import { migrate } from '../../src/index.ts';
import type { Engine } from './engines.ts';
import { createDatabase } from './postgresServer.ts';
import { eventually } from './realtime.ts';
import { scratchDir } from './scratch.ts';

export { testEngines, type Engine } from './engines.ts';

/** Makes an empty database (no tables) and returns its URL. */
export async function emptyDatabase(engine: Engine): Promise<string> {
  if (engine === 'sqlite') {
    return `file:${join(scratchDir('db'), 'presence.db')}`;
  }
  const serverUrl = inject('postgresUrl');
  if (!serverUrl) throw new Error('No PostgreSQL test server: run through vitest with postgresql in PRESENCE_TEST_ENGINES');
  return createDatabase(serverUrl, `t_${randomBytes(6).toString('hex')}`);
}

/** Makes a database with the presence tables and returns its URL. */
export async function migratedDatabase(engine: Engine): Promise<string> {
  const url = await emptyDatabase(engine);
  await migrate({ databaseUrl: url });
  return url;
}

/** Raw-driver access to a test database, independent of prisma-presence. */
export interface Inspector {
  /** Runs SQL with `?` placeholders (rewritten to $n on PostgreSQL) and returns plain rows. */
  rows<T = Record<string, unknown>>(text: string, ...values: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

export async function inspect(url: string): Promise<Inspector> {
  if (url.startsWith('file:')) {
    const db = new Database(url.slice('file:'.length));
    db.pragma('busy_timeout = 5000');
    return {
      rows: async <T>(text: string, ...values: unknown[]) => {
        const statement = db.prepare(text);
        return (statement.reader ? statement.all(...values) : (statement.run(...values), [])) as T[];
      },
      close: async () => void db.close(),
    };
  }
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  return {
    rows: async <T>(text: string, ...values: unknown[]) => {
      let n = 0;
      const result = await client.query(text.replace(/\?/g, () => `$${++n}`), values);
      return result.rows as T[];
    },
    close: () => client.end(),
  };
}

/** Every presence as `room/channel=user` strings, sorted: a compact picture of the state. */
export async function snapshot(inspector: Inspector): Promise<string[]> {
  const rows = await inspector.rows<{ room: string; channel: string; userId: string | null }>(
    'SELECT r."channelName" AS room, p."channelName" AS channel, p."userId" AS "userId" FROM "Presence" p JOIN "Room" r ON r.id = p."roomId"',
  );
  return rows.map((row) => `${row.room}/${row.channel}=${row.userId ?? '-'}`).sort();
}

/** Names of all rooms, sorted. */
export async function roomNames(inspector: Inspector): Promise<string[]> {
  const rows = await inspector.rows<{ name: string }>('SELECT "channelName" AS name FROM "Room"');
  return rows.map((row) => row.name).sort();
}

/**
 * Gives a test file one migrated database on `engine`, emptied before each test.
 * Read `url` and `db` (a raw-driver inspector) inside tests and hooks.
 */
export function useDatabase(engine: Engine): { readonly url: string; readonly db: Inspector } {
  const state = {} as { url: string; db: Inspector };
  beforeAll(async () => {
    state.url = await migratedDatabase(engine);
    state.db = await inspect(state.url);
  });
  afterAll(() => state.db.close());
  beforeEach(async () => {
    await state.db.rows('DELETE FROM "Presence"');
    await state.db.rows('DELETE FROM "Room"');
  });
  return state;
}

/** Registers server `id` with a liveness that expired long ago (the only server row): the next prune reaps its presences. */
export async function expiredServer(db: Inspector, id: string): Promise<void> {
  const past = '2020-01-01T00:00:00.000+00:00';
  await db.rows('DELETE FROM "PresenceServer"');
  await db.rows(`INSERT INTO "PresenceServer" ("id", "hostname", "pid", "startedAt", "lastSeen", "expiresAt") VALUES (?, 'h', 1, ?, ?, ?)`, id, past, past, past);
}

/**
 * Resolves once a session of the PostgreSQL database `url` waits for a lock another holds.
 * SQLite has one writer: a write there runs wholly before or wholly after a held
 * transaction, in either order, so there is no waiter to observe and this resolves at once.
 */
export async function untilASessionWaitsOnALock(url: string): Promise<void> {
  if (url.startsWith('file:')) return;
  const db = await inspect(url);
  try {
    await eventually(async () => (await sessionsWaitingOnALock(db)) > 0, 10_000, 'a session waiting on a lock');
  } finally {
    await db.close();
  }
}

/** How many sessions of this PostgreSQL database wait for a lock now. */
export async function sessionsWaitingOnALock(db: Inspector): Promise<number> {
  const [row] = await db.rows<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`);
  return row!.n;
}
