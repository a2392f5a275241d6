// One side's operations for the benchmark: prisma-presence's (ours, oursUrl) or the same
// logical steps as hand-written SQL on the raw drivers (raw). Each side's process loads
// only what its side needs (the raw side never loads Prisma).
import { setTimeout as sleep } from 'node:timers/promises';
import type { PresenceTracker, PrismaClientLike } from '../src/index.ts';
import {
  HEARTBEAT,
  MAX_AGE,
  SQLITE_BUSY_TIMEOUT_MS,
  sqliteTimestamp,
  WRITE_COST_INTERVAL_SECONDS,
  WRITE_COST_INTERVALS,
  type Engine,
  type Side,
  type WriteCostMeasured,
} from './bench-workload.ts';

export interface Connection {
  room: string;
  channel: string;
  user: string | null;
}

export interface Operations {
  add(room: string, channel: string, user: string | null): Promise<unknown>;
  touch(channel: string): Promise<void>;
  getUsers(room: string): Promise<string[]>;
  getAnonymousCount(room: string): Promise<number>;
  prunePresences(maxAge: number): Promise<number>;
  leaveAll(channel: string): Promise<void>;
  pruneRooms(): Promise<number>;
  /** A message handler as an application registers it: touch, then stop at a heartbeat. */
  onMessage(channel: string, message: string): Promise<unknown>;
  /** The same handler writing every touch at once (touchInterval 0). */
  onMessageUnbuffered(channel: string, message: string): Promise<unknown>;
  /** Writes buffered touches. */
  flush(): Promise<void>;
  /** Statements sent so far; null where they cannot be counted. */
  statements(): number | null;
  /** The write-cost measurement (see WRITE_COST_INTERVALS); only where statements are counted. */
  writeCost?(connections: Connection[]): Promise<WriteCostMeasured>;
  close(): Promise<void>;
}

export function openOperations(side: Side, engine: Engine, url: string): Promise<Operations> {
  if (side === 'raw') return engine === 'sqlite' ? rawSqliteOperations(url) : rawPostgresOperations(url);
  return libraryOperations(engine, url, side === 'ours' ? 'client' : 'url');
}

// ---------------------------------------------------------------------------------------
// The library side: ours through a PrismaClient built here, with query events to count
// statements; oursUrl through the library's own connection.

type StatementKind = 'liveness' | 'heartbeat' | 'other';

interface CountingClient {
  client: PrismaClientLike;
  statements(): number;
  /** Statements so far by kind. */
  byKind(): Record<StatementKind, number>;
}

const kindOf = (query: string): StatementKind =>
  query.includes('"PresenceServer"') ? 'liveness' : /^\s*UPDATE "Presence" SET "lastSeen"/.test(query) ? 'heartbeat' : 'other';

async function countingClient(engine: Engine, url: string): Promise<CountingClient> {
  let count = 0;
  const kinds: Record<StatementKind, number> = { liveness: 0, heartbeat: 0, other: 0 };
  const log = [{ emit: 'event' as const, level: 'query' as const }];
  // Settings as src/database/open.ts uses them when the library opens the database itself.
  const client = engine === 'sqlite' ? await sqliteClient(url, log) : await postgresClient(url, log);
  (client as unknown as { $on(event: 'query', listener: (event: { query: string }) => void): void }).$on('query', (event) => {
    count++;
    kinds[kindOf(event.query)]++;
  });
  if (engine === 'sqlite') {
    await client.$queryRawUnsafe('PRAGMA journal_mode = WAL');
    await client.$queryRawUnsafe('PRAGMA synchronous = NORMAL');
    await client.$queryRawUnsafe('PRAGMA foreign_keys = ON');
  } else {
    await client.$queryRawUnsafe('SELECT 1');
  }
  return { client, statements: () => count, byKind: () => ({ ...kinds }) };
}

type QueryLog = { emit: 'event'; level: 'query' }[];

async function sqliteClient(url: string, log: QueryLog): Promise<PrismaClientLike> {
  const { PrismaClient } = await import('../src/generated/sqlite/client.ts');
  const { PrismaBetterSqlite3 } = await import('@prisma/adapter-better-sqlite3');
  return new PrismaClient({ adapter: new PrismaBetterSqlite3({ url, timeout: SQLITE_BUSY_TIMEOUT_MS }), log }) as unknown as PrismaClientLike;
}

async function postgresClient(url: string, log: QueryLog): Promise<PrismaClientLike> {
  const { PrismaClient } = await import('../src/generated/postgresql/client.ts');
  const { PrismaPg } = await import('@prisma/adapter-pg');
  const adapter = new PrismaPg({ connectionString: url, max: 10, connectionTimeoutMillis: 5000, idleTimeoutMillis: 10000 });
  return new PrismaClient({ adapter, log }) as unknown as PrismaClientLike;
}

async function libraryOperations(engine: Engine, url: string, via: 'client' | 'url'): Promise<Operations> {
  const { createPresence } = await import('../src/index.ts');
  const counting = via === 'client' ? await countingClient(engine, url) : undefined;
  const open = (options: { touchInterval?: number }): PresenceTracker =>
    counting
      ? createPresence({ prisma: counting.client, maxAge: MAX_AGE, ...options })
      : createPresence({ databaseUrl: url, maxAge: MAX_AGE, ...options });
  const presence = open({});
  // Another tracker only for the unbuffered heartbeat step (on its own connection for oursUrl).
  const unbuffered = open({ touchInterval: 0 });
  // Connect both before anything is timed.
  await presence.rooms.getAnonymousCount('warm-up');
  await unbuffered.rooms.getAnonymousCount('warm-up');
  const handler = async () => 'handled';
  return {
    add: (room, channel, user) => presence.rooms.add(room, channel, user),
    touch: (channel) => presence.presences.touch(channel),
    getUsers: (room) => presence.rooms.getUsers(room),
    getAnonymousCount: (room) => presence.rooms.getAnonymousCount(room),
    prunePresences: (maxAge) => presence.rooms.prunePresences(maxAge),
    leaveAll: (channel) => presence.presences.leaveAll(channel),
    pruneRooms: () => presence.rooms.pruneRooms(),
    onMessage: presence.touchPresence(handler),
    onMessageUnbuffered: unbuffered.touchPresence(handler),
    flush: () => presence.presences.flush(),
    statements: () => counting?.statements() ?? null,
    writeCost: counting && ((connections) => measureWriteCost(counting, connections)),
    close: async () => {
      await presence.close();
      await unbuffered.close();
      await counting?.client.$disconnect();
    },
  };
}

/**
 * A tracker with liveness holds every connection (added untimed), then each connection
 * sends one heartbeat per interval for WRITE_COST_INTERVALS intervals; the statements
 * that reach the database meanwhile are counted by kind: liveness writes up to the
 * window's end, heartbeat writes up to the end of the flush of the window's heartbeats. The tracker's clean shutdown
 * (which removes its presences) comes after the count.
 */
async function measureWriteCost(counting: CountingClient, connections: Connection[]): Promise<WriteCostMeasured> {
  const { createPresence } = await import('../src/index.ts');
  const intervalMs = WRITE_COST_INTERVAL_SECONDS * 1000;
  const presence = createPresence({
    prisma: counting.client,
    maxAge: MAX_AGE,
    // A little under the heartbeat period, so that each round's heartbeats make one batch
    // (at exactly the period a round could race the previous batch's timer and join it).
    touchInterval: intervalMs * 0.9,
    liveness: { interval: WRITE_COST_INTERVAL_SECONDS },
  });
  try {
    await addConcurrently(presence, connections);
    const onMessage = presence.touchPresence(async () => 'handled');
    // The window starts half an interval after a liveness write, so that exactly one
    // falls in each of its intervals (the timer runs since the first add).
    const written = counting.byKind().liveness;
    while (counting.byKind().liveness === written) await sleep(5);
    await sleep(intervalMs / 2);
    const before = counting.byKind();
    const start = performance.now();
    for (let interval = 1; interval <= WRITE_COST_INTERVALS; interval++) {
      for (const { channel } of connections) await onMessage(channel, HEARTBEAT);
      await sleep(Math.max(0, start + interval * intervalMs - performance.now()));
    }
    const livenessAtEnd = counting.byKind().liveness;
    const seconds = (performance.now() - start) / 1000;
    // Heartbeats of the window still buffered or being written count too.
    await presence.presences.flush();
    const after = counting.byKind();
    return {
      connections: connections.length,
      intervalSeconds: WRITE_COST_INTERVAL_SECONDS,
      intervals: WRITE_COST_INTERVALS,
      seconds: Number(seconds.toFixed(3)),
      livenessStatements: livenessAtEnd - before.liveness,
      heartbeatStatements: after.heartbeat - before.heartbeat,
      otherStatements: after.other - before.other,
    };
  } finally {
    await presence.close();
  }
}

/** Adds with a few calls in flight (PostgreSQL runs them on the pool; SQLite queues them). */
async function addConcurrently(presence: PresenceTracker, connections: Connection[]): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < connections.length) {
      const { room, channel, user } = connections[next++]!;
      await presence.rooms.add(room, channel, user);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

// ---------------------------------------------------------------------------------------
// The raw side: hand-written SQL, prepared once, one statement per logical step.

const isHeartbeat = (message: string) => message.trim() === HEARTBEAT;

const UPSERT_ROOM =
  'INSERT INTO "Room" ("channelName") VALUES ($1) ON CONFLICT ("channelName") DO UPDATE SET "channelName" = excluded."channelName" RETURNING "id"';
const UPSERT_PRESENCE =
  'INSERT INTO "Presence" ("roomId", "channelName", "userId", "lastSeen") VALUES ($1, $2, $3, $4) ' +
  'ON CONFLICT ("roomId", "channelName") DO UPDATE SET "userId" = excluded."userId", "lastSeen" = excluded."lastSeen"';
const TOUCH = 'UPDATE "Presence" SET "lastSeen" = $1 WHERE "channelName" = $2';
const USERS =
  'SELECT DISTINCT p."userId" FROM "Presence" p JOIN "Room" r ON r."id" = p."roomId" WHERE r."channelName" = $1 AND p."userId" IS NOT NULL ORDER BY p."userId"';
const ANONYMOUS = 'SELECT count(*) AS "count" FROM "Presence" p JOIN "Room" r ON r."id" = p."roomId" WHERE r."channelName" = $1 AND p."userId" IS NULL';
const PRUNE = 'DELETE FROM "Presence" WHERE "lastSeen" < $1';
const LEAVE_ALL = 'DELETE FROM "Presence" WHERE "channelName" = $1';
const PRUNE_ROOMS = 'DELETE FROM "Room" r WHERE NOT EXISTS (SELECT 1 FROM "Presence" p WHERE p."roomId" = r."id")';
// SQLite's DELETE takes no alias without AS.
const PRUNE_ROOMS_SQLITE = 'DELETE FROM "Room" WHERE NOT EXISTS (SELECT 1 FROM "Presence" p WHERE p."roomId" = "Room"."id")';

/** SQLite takes `?` for `$n` (the values are passed in order). */
const forSqlite = (text: string) => text.replace(/\$\d+/g, '?');

async function rawSqliteOperations(url: string): Promise<Operations> {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(url.slice('file:'.length), { timeout: SQLITE_BUSY_TIMEOUT_MS });
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  let count = 0;
  const prepare = <P extends unknown[], R = unknown>(text: string) => db.prepare<P, R>(forSqlite(text));
  const upsertRoom = prepare<[string], { id: number }>(UPSERT_ROOM);
  const upsertPresence = prepare<[number, string, string | null, string]>(UPSERT_PRESENCE);
  const touch = prepare<[string, string]>(TOUCH);
  const users = prepare<[string], string>(USERS).pluck();
  const anonymous = prepare<[string], number>(ANONYMOUS).pluck();
  const prune = prepare<[string]>(PRUNE);
  const leaveAll = prepare<[string]>(LEAVE_ALL);
  const pruneRooms = prepare<[]>(PRUNE_ROOMS_SQLITE);
  const doTouch = (channel: string) => {
    count++;
    touch.run(sqliteTimestamp(new Date()), channel);
  };
  const onMessage = async (channel: string, message: string) => (doTouch(channel), isHeartbeat(message) ? undefined : 'handled');
  return {
    async add(room, channel, user) {
      count += 2;
      const { id } = upsertRoom.get(room)!;
      upsertPresence.run(id, channel, user, sqliteTimestamp(new Date()));
      return { id, channelName: room };
    },
    touch: async (channel) => doTouch(channel),
    getUsers: async (room) => (count++, users.all(room)),
    getAnonymousCount: async (room) => (count++, anonymous.get(room) ?? 0),
    prunePresences: async (maxAge) => (count++, prune.run(sqliteTimestamp(new Date(Date.now() - maxAge * 1000))).changes),
    leaveAll: async (channel) => void (count++, leaveAll.run(channel)),
    pruneRooms: async () => (count++, pruneRooms.run().changes),
    onMessage,
    onMessageUnbuffered: onMessage,
    flush: async () => {},
    statements: () => count,
    close: async () => void db.close(),
  };
}

async function rawPostgresOperations(url: string): Promise<Operations> {
  const { default: pg } = await import('pg');
  // The pool settings the library's own client uses.
  const pool = new pg.Pool({ connectionString: url, max: 10, connectionTimeoutMillis: 5000, idleTimeoutMillis: 10000 });
  pool.on('error', () => {});
  let count = 0;
  // Named statements: pg prepares each once per connection and reuses it.
  const run = async <T extends Record<string, unknown>>(name: string, text: string, values: unknown[]) => {
    count++;
    return pool.query<T>({ name, text, values });
  };
  // timestamp(3) without time zone holds UTC (as Prisma writes it): an ISO string's Z is ignored.
  const now = () => new Date().toISOString();
  const doTouch = (channel: string) => run('touch', TOUCH, [now(), channel]);
  const onMessage = async (channel: string, message: string) => {
    await doTouch(channel);
    return isHeartbeat(message) ? undefined : 'handled';
  };
  await pool.query('SELECT 1');
  return {
    async add(room, channel, user) {
      const { rows } = await run<{ id: number }>('upsert_room', UPSERT_ROOM, [room]);
      const id = rows[0]!.id;
      await run('upsert_presence', UPSERT_PRESENCE, [id, channel, user, now()]);
      return { id, channelName: room };
    },
    touch: async (channel) => void (await doTouch(channel)),
    getUsers: async (room) => (await run<{ userId: string }>('users', USERS, [room])).rows.map((row) => row.userId),
    getAnonymousCount: async (room) => Number((await run<{ count: string }>('anonymous', ANONYMOUS, [room])).rows[0]?.count ?? 0),
    async prunePresences(maxAge) {
      const cutoff = new Date(Date.now() - maxAge * 1000).toISOString();
      return (await run('prune', PRUNE, [cutoff])).rowCount ?? 0;
    },
    leaveAll: async (channel) => void (await run('leave_all', LEAVE_ALL, [channel])),
    pruneRooms: async () => (await run('prune_rooms', PRUNE_ROOMS, [])).rowCount ?? 0,
    onMessage,
    onMessageUnbuffered: onMessage,
    flush: async () => {},
    statements: () => count,
    close: () => pool.end(),
  };
}
