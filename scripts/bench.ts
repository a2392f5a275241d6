// Throughput benchmark: prisma-presence against the same logical operations written as
// hand-written SQL on the raw drivers (better-sqlite3, pg), on the same schema, in the
// same process. The library runs two ways, each on its own database:
//   ours     createPresence({ prisma }) with a PrismaClient the benchmark builds (query
//            events on: they count the statements that reach the database);
//   oursUrl  createPresence({ databaseUrl }): the library opens the database itself
//            (through Prisma's driver adapter, without a PrismaClient). Its statements
//            cannot be observed from outside; the SQL is the same as ours'.
//
//   tsx scripts/bench.ts [--n 1000,10000,100000] [--engines sqlite,postgresql]
//                        [--out bench-results/bench.json] [--postgres-url <server url>]
//                        [--warmup 200]
//
// Per engine and N, three fresh databases migrated with `migrate()` (ours, oursUrl, raw).
// R = max(1, floor(N/100)) rooms `room-%05d`, channels `chan.%07d` (i = 0..N-1), channel
// i in room floor(i*R/N), user `user-${i/2}` for even i, anonymous for odd i. Steps, each
// timed with sequential awaits, ours, then oursUrl, then raw:
//   add            rooms.add for every channel, in order                      (N calls)
//   touch          presences.touch for every channel                          (N calls)
//   roomQueries    getUsers + getAnonymousCount for every room                (2R calls)
//   prunePresences (untimed: i % 4 in {0,1} get lastSeen one hour ago)
//                  prunePresences(60), N/2 rows removed (asserted)           (1 call, counted in rows)
//   leaveAll       presences.leaveAll for the remaining channels              (N/2 calls)
//   pruneRooms     pruneRooms, R rooms removed (asserted)                     (1 call, counted in rooms)
//   heartbeat      (untimed: the N channels are added again, so each heartbeat
//                  updates one row) N connections x 10 `"heartbeat"` messages
//                  through touchPresence(handler), round-robin, with the default
//                  touchInterval (touches buffered), then presences.flush()  (10N calls)
//   heartbeatUnbuffered  the same with touchInterval: 0 (one write per message) (10N calls)
// The raw side writes one UPDATE per heartbeat in both heartbeat steps.
// Statements reaching the database are counted: for ours through the client's
// `$on('query')` events, for the raw side by the benchmark itself.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import pg from 'pg';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import { createPresence, migrate, type PresenceTracker, type PrismaClientLike } from '../src/index.ts';
import { PrismaClient as PostgresClient } from '../src/generated/postgresql/client.ts';
import { PrismaClient as SqliteClient } from '../src/generated/sqlite/client.ts';
import { createDatabase, dropDatabase, startPostgresServer, type PostgresServer } from '../tests/support/postgresServer.ts';

export type Engine = 'sqlite' | 'postgresql';
export const ENGINES: readonly Engine[] = ['sqlite', 'postgresql'];
export const STEPS = ['add', 'touch', 'roomQueries', 'prunePresences', 'leaveAll', 'pruneRooms', 'heartbeat', 'heartbeatUnbuffered'] as const;
export const SIDES = ['ours', 'oursUrl', 'raw'] as const;
export type Side = (typeof SIDES)[number];
export type StepName = (typeof STEPS)[number];

export interface BenchOptions {
  ns: number[];
  engines: Engine[];
  /** Where the JSON goes; undefined: not written. */
  out?: string;
  /** A running PostgreSQL server to create the databases on, instead of starting one. */
  postgresUrl?: string;
  /** N of an unreported warm-up pass per engine (JIT, pools, Prisma's row path); 0 skips it. */
  warmup?: number;
  /** Progress and tables go here; default console.log. */
  log?: (line: string) => void;
}

export interface SideResult {
  ms: number;
  opsPerSec: number;
  /** Statements that reached the database during the step; null where they cannot be observed (oursUrl). */
  statements: number | null;
  statementsPerOp: number | null;
}

export interface StepResult {
  step: StepName;
  /** What `ops` counts: calls, or rows/rooms removed by the single prune call. */
  unit: 'calls' | 'rows' | 'rooms';
  ops: number;
  /** createPresence({ prisma }) with the benchmark's PrismaClient. */
  ours: SideResult;
  /** createPresence({ databaseUrl }): the library's own connection. */
  oursUrl: SideResult;
  raw: SideResult;
  /** ours ops/s divided by raw ops/s: 1 is as fast as hand-written SQL, 0.5 half as fast. */
  ratio: number;
  /** oursUrl ops/s divided by raw ops/s. */
  ratioUrl: number;
}

export interface RunResult {
  engine: Engine;
  n: number;
  rooms: number;
  /** Wall time of the whole run for this engine and N, setup and checks included. */
  durationMs: number;
  /** process.resourceUsage().maxRSS after the run, in bytes (peak of the process so far). */
  peakRssBytes: number;
  steps: StepResult[];
}

export interface BenchReport {
  meta: {
    startedAt: string;
    durationMs: number;
    node: string;
    platform: string;
    cpu: string;
    cpus: number;
    ns: number[];
    engines: Engine[];
    warmup: number;
    notes: string[];
  };
  runs: RunResult[];
}

const MAX_AGE = 60;
const HEARTBEAT_ROUNDS = 10;
const HEARTBEAT = '"heartbeat"';
const SQLITE_BUSY_TIMEOUT_MS = 5000;

// ---------------------------------------------------------------------------------------
// The workload's names.

const roomName = (r: number) => `room-${String(r).padStart(5, '0')}`;
const channelName = (i: number) => `chan.${String(i).padStart(7, '0')}`;
const roomCount = (n: number) => Math.max(1, Math.floor(n / 100));
const roomOf = (i: number, n: number, rooms: number) => Math.floor((i * rooms) / n);
const userOf = (i: number) => (i % 2 === 0 ? `user-${i / 2}` : null);
const isStale = (i: number) => i % 4 === 0 || i % 4 === 1;

/** The timestamp text the library stores on SQLite (checked at run time, see checkStoredFormat). */
const sqliteTimestamp = (date: Date) => date.toISOString().replace('Z', '+00:00');

// ---------------------------------------------------------------------------------------
// The library side: a PrismaClient built here, with query events to count statements.

interface CountingClient {
  client: PrismaClientLike;
  statements(): number;
}

async function countingClient(engine: Engine, url: string): Promise<CountingClient> {
  let count = 0;
  const log = [{ emit: 'event' as const, level: 'query' as const }];
  // Settings as src/database/open.ts uses them when the library opens the database itself.
  const client =
    engine === 'sqlite'
      ? new SqliteClient({ adapter: new PrismaBetterSqlite3({ url, timeout: SQLITE_BUSY_TIMEOUT_MS }), log })
      : new PostgresClient({
          adapter: new PrismaPg({ connectionString: url, max: 10, connectionTimeoutMillis: 5000, idleTimeoutMillis: 10000 }),
          log,
        });
  (client as unknown as { $on(event: 'query', listener: () => void): void }).$on('query', () => void count++);
  if (engine === 'sqlite') {
    await client.$queryRawUnsafe('PRAGMA journal_mode = WAL');
    await client.$queryRawUnsafe('PRAGMA synchronous = NORMAL');
    await client.$queryRawUnsafe('PRAGMA foreign_keys = ON');
  } else {
    await client.$queryRawUnsafe('SELECT 1');
  }
  return { client: client as unknown as PrismaClientLike, statements: () => count };
}

/** One side's operations: the library's (ours, oursUrl) or the hand-written SQL's (raw). */
interface Operations {
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
  close(): Promise<void>;
}

/** ours (through the benchmark's PrismaClient) or oursUrl (the library opens the database). */
async function libraryOperations(engine: Engine, url: string, via: 'client' | 'url'): Promise<Operations> {
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
  const onMessage = presence.touchPresence(handler);
  const onMessageUnbuffered = unbuffered.touchPresence(handler);
  return {
    add: (room, channel, user) => presence.rooms.add(room, channel, user),
    touch: (channel) => presence.presences.touch(channel),
    getUsers: (room) => presence.rooms.getUsers(room),
    getAnonymousCount: (room) => presence.rooms.getAnonymousCount(room),
    prunePresences: (maxAge) => presence.rooms.prunePresences(maxAge),
    leaveAll: (channel) => presence.presences.leaveAll(channel),
    pruneRooms: () => presence.rooms.pruneRooms(),
    onMessage,
    onMessageUnbuffered,
    flush: () => presence.presences.flush(),
    statements: () => counting?.statements() ?? null,
    close: async () => {
      await presence.close();
      await unbuffered.close();
      await counting?.client.$disconnect();
    },
  };
}

// ---------------------------------------------------------------------------------------
// The raw side: hand-written SQL, prepared once, one statement per logical step.

const isHeartbeat = (message: string) => message.trim() === HEARTBEAT;

function rawSqliteOperations(url: string): Operations {
  const db = new Database(url.slice('file:'.length), { timeout: SQLITE_BUSY_TIMEOUT_MS });
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  let count = 0;
  const upsertRoom = db.prepare<[string], { id: number }>(
    'INSERT INTO "Room" ("channelName") VALUES (?) ON CONFLICT ("channelName") DO UPDATE SET "channelName" = excluded."channelName" RETURNING "id"',
  );
  const upsertPresence = db.prepare<[number, string, string | null, string]>(
    'INSERT INTO "Presence" ("roomId", "channelName", "userId", "lastSeen") VALUES (?, ?, ?, ?) ' +
      'ON CONFLICT ("roomId", "channelName") DO UPDATE SET "userId" = excluded."userId", "lastSeen" = excluded."lastSeen"',
  );
  const touch = db.prepare<[string, string]>('UPDATE "Presence" SET "lastSeen" = ? WHERE "channelName" = ?');
  const users = db
    .prepare<[string], string>(
      'SELECT DISTINCT p."userId" FROM "Presence" p JOIN "Room" r ON r."id" = p."roomId" WHERE r."channelName" = ? AND p."userId" IS NOT NULL ORDER BY p."userId"',
    )
    .pluck();
  const anonymous = db
    .prepare<[string], number>(
      'SELECT count(*) FROM "Presence" p JOIN "Room" r ON r."id" = p."roomId" WHERE r."channelName" = ? AND p."userId" IS NULL',
    )
    .pluck();
  const prune = db.prepare<[string]>('DELETE FROM "Presence" WHERE "lastSeen" < ?');
  const leaveAll = db.prepare<[string]>('DELETE FROM "Presence" WHERE "channelName" = ?');
  const pruneRooms = db.prepare('DELETE FROM "Room" WHERE NOT EXISTS (SELECT 1 FROM "Presence" p WHERE p."roomId" = "Room"."id")');
  const doTouch = (channel: string) => {
    count++;
    touch.run(sqliteTimestamp(new Date()), channel);
  };
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
    onMessage: async (channel, message) => (doTouch(channel), isHeartbeat(message) ? undefined : 'handled'),
    onMessageUnbuffered: async (channel, message) => (doTouch(channel), isHeartbeat(message) ? undefined : 'handled'),
    flush: async () => {},
    statements: () => count,
    close: async () => void db.close(),
  };
}

async function rawPostgresOperations(url: string): Promise<Operations> {
  // The pool settings the library's own client uses.
  const pool = new pg.Pool({ connectionString: url, max: 10, connectionTimeoutMillis: 5000, idleTimeoutMillis: 10000 });
  pool.on('error', () => {});
  let count = 0;
  // Named statements: pg prepares each once per connection and reuses it.
  const run = async <T extends pg.QueryResultRow>(name: string, text: string, values: unknown[]) => {
    count++;
    return pool.query<T>({ name, text, values });
  };
  // timestamp(3) without time zone holds UTC (as Prisma writes it): an ISO string's Z is ignored.
  const now = () => new Date().toISOString();
  const doTouch = (channel: string) => run('touch', 'UPDATE "Presence" SET "lastSeen" = $1 WHERE "channelName" = $2', [now(), channel]);
  await pool.query('SELECT 1');
  return {
    async add(room, channel, user) {
      const { rows } = await run<{ id: number }>(
        'upsert_room',
        'INSERT INTO "Room" ("channelName") VALUES ($1) ON CONFLICT ("channelName") DO UPDATE SET "channelName" = excluded."channelName" RETURNING "id"',
        [room],
      );
      const id = rows[0]!.id;
      await run(
        'upsert_presence',
        'INSERT INTO "Presence" ("roomId", "channelName", "userId", "lastSeen") VALUES ($1, $2, $3, $4) ' +
          'ON CONFLICT ("roomId", "channelName") DO UPDATE SET "userId" = excluded."userId", "lastSeen" = excluded."lastSeen"',
        [id, channel, user, now()],
      );
      return { id, channelName: room };
    },
    touch: async (channel) => void (await doTouch(channel)),
    async getUsers(room) {
      const { rows } = await run<{ userId: string }>(
        'users',
        'SELECT DISTINCT p."userId" FROM "Presence" p JOIN "Room" r ON r."id" = p."roomId" WHERE r."channelName" = $1 AND p."userId" IS NOT NULL ORDER BY p."userId"',
        [room],
      );
      return rows.map((row) => row.userId);
    },
    async getAnonymousCount(room) {
      const { rows } = await run<{ count: string }>(
        'anonymous',
        'SELECT count(*) AS "count" FROM "Presence" p JOIN "Room" r ON r."id" = p."roomId" WHERE r."channelName" = $1 AND p."userId" IS NULL',
        [room],
      );
      return Number(rows[0]?.count ?? 0);
    },
    async prunePresences(maxAge) {
      const cutoff = new Date(Date.now() - maxAge * 1000).toISOString();
      return (await run('prune', 'DELETE FROM "Presence" WHERE "lastSeen" < $1', [cutoff])).rowCount ?? 0;
    },
    leaveAll: async (channel) => void (await run('leave_all', 'DELETE FROM "Presence" WHERE "channelName" = $1', [channel])),
    async pruneRooms() {
      const result = await run(
        'prune_rooms',
        'DELETE FROM "Room" r WHERE NOT EXISTS (SELECT 1 FROM "Presence" p WHERE p."roomId" = r."id")',
        [],
      );
      return result.rowCount ?? 0;
    },
    async onMessage(channel, message) {
      await doTouch(channel);
      return isHeartbeat(message) ? undefined : 'handled';
    },
    async onMessageUnbuffered(channel, message) {
      await doTouch(channel);
      return isHeartbeat(message) ? undefined : 'handled';
    },
    flush: async () => {},
    statements: () => count,
    close: () => pool.end(),
  };
}

// ---------------------------------------------------------------------------------------
// Untimed set-up and checks, through a separate raw connection.

interface Admin {
  /** Sets lastSeen to `when` for the channels with i % 4 in {0, 1}; returns how many rows. */
  ageStale(when: Date): Promise<number>;
  /** Number of presences, and how many were last seen at or after `since`. */
  presences(since?: Date): Promise<{ total: number; since: number }>;
  rooms(): Promise<number>;
  /** The raw text of one stored lastSeen (SQLite) or its value as an ISO string (PostgreSQL). */
  oneLastSeen(): Promise<string | undefined>;
  close(): Promise<void>;
}

const STALE_CONDITION = (engine: Engine) =>
  `CAST(substr("channelName", 6) AS ${engine === 'sqlite' ? 'INTEGER' : 'integer'}) % 4 IN (0, 1)`;

function admin(engine: Engine, url: string): Promise<Admin> {
  return engine === 'sqlite' ? sqliteAdmin(url) : postgresAdmin(url);
}

async function sqliteAdmin(url: string): Promise<Admin> {
  const db = new Database(url.slice('file:'.length), { timeout: SQLITE_BUSY_TIMEOUT_MS });
  return {
    ageStale: async (when) =>
      db.prepare(`UPDATE "Presence" SET "lastSeen" = ? WHERE ${STALE_CONDITION('sqlite')}`).run(sqliteTimestamp(when)).changes,
    async presences(since) {
      const row = db
        .prepare<[string], { total: number; since: number }>(
          'SELECT count(*) AS total, coalesce(sum("lastSeen" >= ?), 0) AS since FROM "Presence"',
        )
        .get(sqliteTimestamp(since ?? new Date(0)))!;
      return row;
    },
    rooms: async () => db.prepare<[], number>('SELECT count(*) FROM "Room"').pluck().get()!,
    oneLastSeen: async () => db.prepare<[], string>('SELECT "lastSeen" FROM "Presence" LIMIT 1').pluck().get(),
    close: async () => void db.close(),
  };
}

async function postgresAdmin(url: string): Promise<Admin> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  return {
    ageStale: async (when) =>
      (await client.query(`UPDATE "Presence" SET "lastSeen" = $1 WHERE ${STALE_CONDITION('postgresql')}`, [when.toISOString()])).rowCount ?? 0,
    async presences(since) {
      const { rows } = await client.query<{ total: string; since: string }>(
        'SELECT count(*) AS total, count(*) FILTER (WHERE "lastSeen" >= $1) AS since FROM "Presence"',
        [(since ?? new Date(0)).toISOString()],
      );
      return { total: Number(rows[0]!.total), since: Number(rows[0]!.since) };
    },
    rooms: async () => Number((await client.query<{ count: string }>('SELECT count(*) AS count FROM "Room"')).rows[0]!.count),
    async oneLastSeen() {
      const { rows } = await client.query<{ t: string }>(`SELECT to_char("lastSeen", 'YYYY-MM-DD"T"HH24:MI:SS.MS') AS t FROM "Presence" LIMIT 1`);
      return rows[0]?.t;
    },
    close: () => client.end(),
  };
}

function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(`bench check failed: ${message}`);
}

// ---------------------------------------------------------------------------------------
// Databases.

interface DatabaseFactory {
  /** A fresh migrated database; `label` tells ours from raw. */
  create(label: string): Promise<string>;
  /** Removes what create made for this run. */
  cleanup(): Promise<void>;
}

function sqliteDatabases(): DatabaseFactory {
  const dirs: string[] = [];
  return {
    async create(label) {
      const dir = mkdtempSync(join(os.tmpdir(), `presence-bench-${label}-`));
      dirs.push(dir);
      const url = `file:${join(dir, 'presence.db')}`;
      await migrate({ databaseUrl: url });
      return url;
    },
    async cleanup() {
      for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    },
  };
}

function postgresDatabases(serverUrl: string): DatabaseFactory {
  const names: string[] = [];
  const prefix = `bench_${randomBytes(4).toString('hex')}`;
  return {
    async create(label) {
      const name = `${prefix}_${names.length}_${label}`;
      names.push(name);
      const url = await createDatabase(serverUrl, name);
      await migrate({ databaseUrl: url });
      return url;
    },
    async cleanup() {
      for (const name of names.splice(0)) await dropDatabase(serverUrl, name);
    },
  };
}

// ---------------------------------------------------------------------------------------
// One engine, one N.

async function timed(operations: Operations, work: () => Promise<void>): Promise<{ ms: number; statements: number | null }> {
  const before = operations.statements();
  const start = performance.now();
  await work();
  const ms = performance.now() - start;
  const after = operations.statements();
  return { ms, statements: before === null || after === null ? null : after - before };
}

function side(ops: number, measured: { ms: number; statements: number | null }): SideResult {
  const ms = Math.max(measured.ms, 0.001);
  const { statements } = measured;
  return {
    ms: round(ms, 3),
    opsPerSec: round((ops * 1000) / ms, 1),
    statements,
    statementsPerOp: statements === null ? null : round(statements / ops, 4),
  };
}

const round = (value: number, digits: number) => Number(value.toFixed(digits));

/**
 * Prisma's path for statements that return rows takes a couple of thousand calls to warm
 * up (about 1 ms a call at first, 0.3 ms once warm, on the machine this was written on),
 * while the room-queries step makes only 2R calls. The warm-up pass repeats that step
 * until it has made this many calls, so that the reported step measures a warm process.
 */
const WARMUP_ROOM_QUERY_CALLS = 4000;

async function runOne(engine: Engine, n: number, databases: DatabaseFactory, warmingUp = false): Promise<RunResult> {
  const started = performance.now();
  const rooms = roomCount(n);
  const urls = { ours: await databases.create('ours'), oursUrl: await databases.create('oursurl'), raw: await databases.create('raw') };
  const sides: { name: Side; operations: Operations; admin: Admin }[] = [];
  const steps: StepResult[] = [];
  const nameOf = (operations: Operations) => sides.find((entry) => entry.operations === operations)!.name;

  const channels = Array.from({ length: n }, (_, i) => channelName(i));
  const roomNames = Array.from({ length: rooms }, (_, r) => roomName(r));
  const channelRooms = channels.map((_, i) => roomNames[roomOf(i, n, rooms)]!);
  const users = channels.map((_, i) => userOf(i));
  const staleCount = channels.filter((_, i) => isStale(i)).length;
  const remaining = channels.filter((_, i) => !isStale(i));

  /** Runs `work` on ours, oursUrl and raw in turn, and records the step. */
  const step = async (name: StepName, unit: StepResult['unit'], ops: number, work: (operations: Operations) => Promise<void>) => {
    const measured = {} as Record<Side, SideResult>;
    for (const { name: sideName, operations } of sides) measured[sideName] = side(ops, await timed(operations, () => work(operations)));
    const ratio = (of: SideResult) => round(of.opsPerSec / measured.raw.opsPerSec, 4);
    steps.push({ step: name, unit, ops, ...measured, ratio: ratio(measured.ours), ratioUrl: ratio(measured.oursUrl) });
  };
  /** Checks a condition on every side's database. */
  const checkAll = async (what: string, condition: (admin: Admin) => Promise<boolean>) => {
    for (const { name, admin } of sides) check(await condition(admin), `${name}: ${what}`);
  };
  const addAll = async (operations: Operations) => {
    for (let i = 0; i < n; i++) await operations.add(channelRooms[i]!, channels[i]!, users[i]!);
  };
  const heartbeats = (send: (operations: Operations) => (channel: string, message: string) => Promise<unknown>) => async (operations: Operations) => {
    const onMessage = send(operations);
    for (let round = 0; round < HEARTBEAT_ROUNDS; round++) {
      for (const channel of channels) {
        if ((await onMessage(channel, HEARTBEAT)) !== undefined) throw new Error('a heartbeat reached the handler');
      }
    }
    // Buffered touches count once they are stored.
    await operations.flush();
  };

  try {
    sides.push({ name: 'ours', operations: await libraryOperations(engine, urls.ours, 'client'), admin: await admin(engine, urls.ours) });
    sides.push({ name: 'oursUrl', operations: await libraryOperations(engine, urls.oursUrl, 'url'), admin: await admin(engine, urls.oursUrl) });
    const raw = engine === 'sqlite' ? rawSqliteOperations(urls.raw) : await rawPostgresOperations(urls.raw);
    sides.push({ name: 'raw', operations: raw, admin: await admin(engine, urls.raw) });

    // a) add
    await step('add', 'calls', n, addAll);
    await checkAll(`${n} presences after add`, async (admin) => (await admin.presences()).total === n);
    await checkAll(`${rooms} rooms after add`, async (admin) => (await admin.rooms()) === rooms);
    if (engine === 'sqlite') {
      // The raw side and the stale marks write lastSeen as text: it must be the library's format.
      for (const { name, admin } of sides.filter((entry) => entry.name !== 'raw')) {
        const stored = await admin.oneLastSeen();
        check(stored !== undefined && sqliteTimestamp(new Date(stored)) === stored, `${name}: the library stores lastSeen as ${stored}, not ISO-8601 with +00:00`);
      }
    }

    // b) touch
    await step('touch', 'calls', n, async (operations) => {
      for (const channel of channels) await operations.touch(channel);
    });

    // c) getUsers + getAnonymousCount per room
    const totals = new Map<Side, { users: number; anonymous: number }>();
    const roomQueryRounds = warmingUp ? Math.ceil(WARMUP_ROOM_QUERY_CALLS / (2 * rooms)) : 1;
    await step('roomQueries', 'calls', 2 * rooms * roomQueryRounds, async (operations) => {
      let userCount = 0;
      let anonymousCount = 0;
      for (let round = 0; round < roomQueryRounds; round++) {
        userCount = 0;
        anonymousCount = 0;
        for (const room of roomNames) {
          userCount += (await operations.getUsers(room)).length;
          anonymousCount += await operations.getAnonymousCount(room);
        }
      }
      totals.set(nameOf(operations), { users: userCount, anonymous: anonymousCount });
    });
    const expectedUsers = Math.ceil(n / 2);
    for (const [name, total] of totals) {
      check(total.users === expectedUsers && total.anonymous === n - expectedUsers, `${name}: room queries found ${total.users} users and ${total.anonymous} anonymous`);
    }

    // d) prunePresences after marking half the presences stale
    const hourAgo = new Date(Date.now() - 3_600_000);
    await checkAll(`${staleCount} presences marked stale`, async (admin) => (await admin.ageStale(hourAgo)) === staleCount);
    const pruned = new Map<Side, number>();
    await step('prunePresences', 'rows', staleCount, async (operations) => {
      pruned.set(nameOf(operations), await operations.prunePresences(MAX_AGE));
    });
    for (const [name, count] of pruned) check(count === staleCount, `${name}: prunePresences removed ${count}, expected ${staleCount}`);

    // e) leaveAll for the remaining channels
    await step('leaveAll', 'calls', remaining.length, async (operations) => {
      for (const channel of remaining) await operations.leaveAll(channel);
    });
    await checkAll('no presences after leaveAll', async (admin) => (await admin.presences()).total === 0);

    // f) pruneRooms
    const prunedRooms = new Map<Side, number>();
    await step('pruneRooms', 'rooms', rooms, async (operations) => {
      prunedRooms.set(nameOf(operations), await operations.pruneRooms());
    });
    for (const [name, count] of prunedRooms) check(count === rooms, `${name}: pruneRooms removed ${count}, expected ${rooms}`);

    // g) heartbeat ingest, on N present connections (added again, untimed)
    for (const { operations } of sides) await addAll(operations);
    for (const [name, send] of [
      ['heartbeat', (operations: Operations) => operations.onMessage],
      ['heartbeatUnbuffered', (operations: Operations) => operations.onMessageUnbuffered],
    ] as const) {
      const since = new Date();
      await step(name, 'calls', n * HEARTBEAT_ROUNDS, heartbeats(send));
      await checkAll(`every connection touched by its heartbeats in ${name}`, async (admin) => {
        const seen = await admin.presences(since);
        return seen.total === n && seen.since === n;
      });
    }
  } finally {
    for (const { operations, admin } of sides) {
      await operations.close();
      await admin.close();
    }
    await databases.cleanup();
  }
  return {
    engine,
    n,
    rooms,
    durationMs: round(performance.now() - started, 1),
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    steps,
  };
}

// ---------------------------------------------------------------------------------------
// The whole run.

export async function runBench(options: BenchOptions): Promise<BenchReport> {
  const log = options.log ?? ((line: string) => console.log(line));
  const warmup = options.warmup ?? 200;
  const startedAt = new Date();
  const started = performance.now();
  const runs: RunResult[] = [];
  let server: PostgresServer | undefined;
  try {
    for (const engine of options.engines) {
      let databases: DatabaseFactory;
      if (engine === 'sqlite') {
        databases = sqliteDatabases();
      } else {
        let serverUrl = options.postgresUrl;
        if (!serverUrl) {
          log('starting a throwaway PostgreSQL server');
          server = await startPostgresServer();
          serverUrl = server.url;
        }
        databases = postgresDatabases(serverUrl);
      }
      if (warmup > 0) {
        log(`${engine}: warm-up at N=${warmup} (not reported)`);
        await runOne(engine, warmup, databases, true);
      }
      const engineRuns: RunResult[] = [];
      for (const n of options.ns) {
        log(`${engine}: N=${n} ...`);
        const run = await runOne(engine, n, databases);
        log(`${engine}: N=${n} done in ${(run.durationMs / 1000).toFixed(1)} s`);
        engineRuns.push(run);
        runs.push(run);
      }
      log('');
      log(formatTable(engine, engineRuns));
      log('');
    }
  } finally {
    await server?.stop();
  }
  const report: BenchReport = {
    meta: {
      startedAt: startedAt.toISOString(),
      durationMs: round(performance.now() - started, 1),
      node: process.version,
      platform: `${process.platform} ${os.release()} ${process.arch}`,
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cpus: os.cpus().length,
      ns: options.ns,
      engines: options.engines,
      warmup,
      notes: [
        'ours: prisma-presence through createPresence({ prisma }) with a PrismaClient built by the benchmark (query events on, used to count statements)',
        'oursUrl: prisma-presence through createPresence({ databaseUrl }), its own connection; statements not observable (null), same SQL as ours',
        'raw: hand-written SQL on better-sqlite3 prepared statements / pg.Pool named statements, one statement per logical step (add: upsert room + upsert presence)',
        'ratio = ours ops/s / raw ops/s; ratioUrl = oursUrl ops/s / raw ops/s',
        'SQLite: WAL, synchronous=NORMAL, busy_timeout 5000, foreign_keys on, on both sides',
        'PostgreSQL: throwaway local server with fsync=off, synchronous_commit=off, full_page_writes=off (unless --postgres-url)',
        'prunePresences counts rows removed by its one call, pruneRooms rooms removed by its one call',
        'heartbeat: the N channels are added again (untimed) after pruneRooms, so each heartbeat updates one row',
        'heartbeat: default touchInterval (touches buffered, one UPDATE ... IN (...) per flush), timed up to a final presences.flush(); heartbeatUnbuffered: touchInterval 0; raw: one UPDATE per heartbeat in both',
        'no changed listeners registered',
        `an unreported warm-up pass per engine runs the workload at N=warmup, its room-queries step repeated to ${WARMUP_ROOM_QUERY_CALLS} calls`,
      ],
    },
    runs,
  };
  if (options.out) {
    mkdirSync(dirname(resolve(options.out)), { recursive: true });
    writeFileSync(options.out, `${JSON.stringify(report, null, 2)}\n`);
    log(`wrote ${options.out}`);
  }
  return report;
}

export function formatTable(engine: Engine, runs: RunResult[]): string {
  const header = ['step', 'N', 'ops', 'ours ops/s', 'ours/raw', 'oursUrl ops/s', 'oursUrl/raw', 'raw ops/s', 'stmts/op ours', 'stmts/op raw'];
  const rate = (result: SideResult) => Math.round(result.opsPerSec).toLocaleString('en-US');
  const rows: string[][] = [];
  for (const run of runs) {
    for (const s of run.steps) {
      rows.push([
        s.step,
        String(run.n),
        `${s.ops}${s.unit === 'calls' ? '' : ` ${s.unit}`}`,
        rate(s.ours),
        s.ratio.toFixed(3),
        rate(s.oursUrl),
        s.ratioUrl.toFixed(3),
        rate(s.raw),
        statementsCell(s, s.ours),
        statementsCell(s, s.raw),
      ]);
    }
    rows.push([`peak RSS after N=${run.n}: ${(run.peakRssBytes / 1024 / 1024).toFixed(0)} MB; run took ${(run.durationMs / 1000).toFixed(1)} s`]);
  }
  const widths = header.map((title, column) => Math.max(title.length, ...rows.filter((row) => row.length > 1).map((row) => row[column]!.length)));
  const line = (cells: string[]) => cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ');
  return [`== ${engine}`, line(header), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map((row) => (row.length > 1 ? line(row) : `  ${row[0]}`))].join('\n');
}

/** Statements per call; for the one-call prune steps (ops count rows or rooms), per that call. */
function statementsCell(step: StepResult, result: SideResult): string {
  if (result.statements === null) return '?';
  return step.unit === 'calls' ? String(result.statementsPerOp) : `${result.statements}/call`;
}

export function parseBenchArgs(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      n: { type: 'string', default: '1000,10000,100000' },
      engines: { type: 'string', default: 'sqlite,postgresql' },
      out: { type: 'string', default: 'bench-results/bench.json' },
      'postgres-url': { type: 'string' },
      warmup: { type: 'string', default: '200' },
    },
    strict: true,
  });
  const ns = values.n.split(',').map((text) => {
    const n = Number(text.trim());
    if (!Number.isInteger(n) || n < 1) throw new Error(`--n takes positive integers, got ${JSON.stringify(text)}`);
    return n;
  });
  const engines = values.engines.split(',').map((text) => {
    const engine = text.trim();
    if (!ENGINES.includes(engine as Engine)) throw new Error(`--engines takes ${ENGINES.join(', ')}, got ${JSON.stringify(engine)}`);
    return engine as Engine;
  });
  const warmup = Number(values.warmup);
  if (!Number.isInteger(warmup) || warmup < 0) throw new Error(`--warmup takes a non-negative integer, got ${JSON.stringify(values.warmup)}`);
  return { ns, engines, out: values.out, postgresUrl: values['postgres-url'], warmup };
}

function isMain(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  try {
    await runBench(parseBenchArgs(process.argv.slice(2)));
  } catch (error) {
    console.error(error);
    process.exitCode = 1;
  }
}
