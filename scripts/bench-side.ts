// One side of the benchmark, in a process of its own so that its peak RSS is its own:
// `library` is createPresence({ databaseUrl }) with its own connection; `raw` runs the same
// steps as hand-written SQL on better-sqlite3 prepared statements / pg named statements on
// a pool of 10 (the library's). scripts/bench.ts forks it once per side and engine.
import Database from 'better-sqlite3';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';

export type Engine = 'sqlite' | 'postgresql';
export type Side = 'library' | 'raw';
export const STEPS = ['add', 'touch', 'roomQueries', 'prunePresences', 'leaveAll', 'pruneRooms', 'heartbeat'] as const;
export type StepName = (typeof STEPS)[number];
/** One timed step: `ops` counts calls, or for the prunes the rows / rooms their one call removed. */
export type Measured = { ms: number; ops: number; statements: number };
export type SideRun = Awaited<ReturnType<typeof runSide>>;
export type SideReply = { ok: true; run: SideRun } | { ok: false; error: string };

const MAX_AGE = 60;
const HEARTBEAT = '"heartbeat"';
const HEARTBEAT_ROUNDS = 10;
const WRITE_COST_SECONDS = 3;

export const roomCount = (n: number) => Math.max(1, Math.floor(n / 100));

// The side's clock: the prune step moves it on by two max ages.
let clockOffsetMs = 0;
const now = () => new Date(Date.now() + clockOffsetMs);

/** Statements that reached the driver: all of them, and the liveness and heartbeat writes among them. */
const counts = { all: 0, liveness: 0, heartbeat: 0 };

function count(sql: string): void {
  counts.all++;
  if (sql.includes('"PresenceServer"')) counts.liveness++;
  else if (/^\s*UPDATE "Presence" SET "lastSeen"/.test(sql)) counts.heartbeat++;
}

/** Wraps better-sqlite3's statement runs and pg's Client#query, which both sides go through. */
function countDriverStatements(): void {
  const probe = new Database(':memory:');
  const statement = Object.getPrototypeOf(probe.prepare('SELECT 1')) as Record<string, (...args: unknown[]) => unknown>;
  probe.close();
  // Statements are prepared once and run many times: count the runs.
  for (const method of ['run', 'all', 'get']) {
    const original = statement[method]!;
    statement[method] = function (this: { source: string }, ...args: unknown[]) {
      count(this.source);
      return original.apply(this, args);
    };
  }
  const client = pg.Client.prototype as unknown as { query(config: unknown, ...rest: unknown[]): unknown };
  const query = client.query;
  client.query = function (this: unknown, config: unknown, ...rest: unknown[]) {
    count(typeof config === 'string' ? config : ((config as { text?: string }).text ?? ''));
    return query.call(this, config, ...rest);
  };
}

interface Operations {
  add(room: string, channel: string, user: string | null): Promise<unknown>;
  touch(channel: string): Promise<void>;
  getUsers(room: string): Promise<string[]>;
  getAnonymousCount(room: string): Promise<number>;
  prunePresences(): Promise<number>;
  leaveAll(channel: string): Promise<void>;
  pruneRooms(): Promise<number>;
  /** A message handler as an application registers it: touch, then stop at a heartbeat. */
  onMessage(channel: string, message: string): Promise<unknown>;
  flush(): Promise<void>;
  close(): Promise<void>;
}

async function libraryOperations(url: string): Promise<Operations> {
  const { createPresence } = await import('../src/index.ts');
  const presence = createPresence({ databaseUrl: url, maxAge: MAX_AGE, now });
  const { rooms, presences } = presence;
  return {
    add: (room, channel, user) => rooms.add(room, channel, user),
    touch: (channel) => presences.touch(channel),
    getUsers: (room) => rooms.getUsers(room),
    getAnonymousCount: (room) => rooms.getAnonymousCount(room),
    prunePresences: () => rooms.prunePresences(),
    leaveAll: (channel) => presences.leaveAll(channel),
    pruneRooms: () => rooms.pruneRooms(),
    onMessage: presence.touchPresence(async () => 'handled'),
    flush: () => presences.flush(),
    close: () => presence.close(),
  };
}

const SQL = {
  upsertRoom:
    'INSERT INTO "Room" ("channelName") VALUES ($1) ON CONFLICT ("channelName") DO UPDATE SET "channelName" = excluded."channelName" RETURNING "id"',
  upsertPresence:
    'INSERT INTO "Presence" ("roomId", "channelName", "userId", "lastSeen") VALUES ($1, $2, $3, $4) ' +
    'ON CONFLICT ("roomId", "channelName") DO UPDATE SET "userId" = excluded."userId", "lastSeen" = excluded."lastSeen"',
  touch: 'UPDATE "Presence" SET "lastSeen" = $1 WHERE "channelName" = $2',
  users:
    'SELECT DISTINCT p."userId" FROM "Presence" p JOIN "Room" r ON r."id" = p."roomId" WHERE r."channelName" = $1 AND p."userId" IS NOT NULL ORDER BY p."userId"',
  anonymous: 'SELECT count(*) AS "count" FROM "Presence" p JOIN "Room" r ON r."id" = p."roomId" WHERE r."channelName" = $1 AND p."userId" IS NULL',
  prune: 'DELETE FROM "Presence" WHERE "lastSeen" < $1',
  leaveAll: 'DELETE FROM "Presence" WHERE "channelName" = $1',
  pruneRooms: 'DELETE FROM "Room" WHERE NOT EXISTS (SELECT 1 FROM "Presence" p WHERE p."roomId" = "Room"."id")',
};
type Run = (name: keyof typeof SQL, values: unknown[]) => Promise<{ rows: Record<string, unknown>[]; changes: number }>;

function rawOperations(engine: Engine, url: string): Operations {
  const { run, close } = engine === 'sqlite' ? rawSqlite(url) : rawPostgres(url);
  // Timestamps as text in the format the library writes on SQLite; PostgreSQL reads the ISO text as UTC.
  const stamp = (date: Date) => (engine === 'sqlite' ? date.toISOString().replace('Z', '+00:00') : date.toISOString());
  const touch = async (channel: string) => void (await run('touch', [stamp(now()), channel]));
  return {
    async add(room, channel, user) {
      const { rows } = await run('upsertRoom', [room]);
      await run('upsertPresence', [rows[0]!.id, channel, user, stamp(now())]);
    },
    touch,
    getUsers: async (room) => (await run('users', [room])).rows.map((row) => row.userId as string),
    getAnonymousCount: async (room) => Number((await run('anonymous', [room])).rows[0]!.count),
    prunePresences: async () => (await run('prune', [stamp(new Date(now().getTime() - MAX_AGE * 1000))])).changes,
    leaveAll: async (channel) => void (await run('leaveAll', [channel])),
    pruneRooms: async () => (await run('pruneRooms', [])).changes,
    onMessage: async (channel, message) => (await touch(channel), message === HEARTBEAT ? undefined : 'handled'),
    flush: async () => {},
    close,
  };
}

/** Every statement prepared once, with the library's pragmas. */
function rawSqlite(url: string): { run: Run; close(): Promise<void> } {
  const db = new Database(url.slice('file:'.length));
  for (const pragma of ['journal_mode = WAL', 'synchronous = NORMAL', 'foreign_keys = ON']) db.pragma(pragma);
  const statements = new Map(Object.entries(SQL).map(([name, text]) => [name, db.prepare(text.replace(/\$\d+/g, '?'))]));
  const run: Run = async (name, values) => {
    const statement = statements.get(name)!;
    if (statement.reader) return { rows: statement.all(...values) as Record<string, unknown>[], changes: 0 };
    return { rows: [], changes: statement.run(...values).changes };
  };
  return { run, close: async () => void db.close() };
}

/** Named statements (prepared once per connection) on a pool of 10. */
function rawPostgres(url: string): { run: Run; close(): Promise<void> } {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  const run: Run = async (name, values) => {
    const result = await pool.query({ name, text: SQL[name], values });
    return { rows: result.rows, changes: result.rowCount ?? 0 };
  };
  return { run, close: () => pool.end() };
}

/** N connections `chan.%07d` over max(1, N/100) rooms; even ones have a user, odd ones are anonymous. */
function connectionsOf(n: number) {
  const rooms = Array.from({ length: roomCount(n) }, (_, r) => `room-${String(r).padStart(5, '0')}`);
  const connections = Array.from({ length: n }, (_, i) => ({
    room: rooms[Math.floor((i * rooms.length) / n)]!,
    channel: `chan.${String(i).padStart(7, '0')}`,
    user: i % 2 === 0 ? `user-${i / 2}` : null,
  }));
  return { rooms, connections };
}

function expectEqual(what: string, actual: number, expected: number): void {
  if (actual !== expected) throw new Error(`bench check failed: ${what} is ${actual}, expected ${expected}`);
}

/** Each operation a few hundred times on names the workload never uses; unreported. */
async function warmUp(ops: Operations, n: number): Promise<void> {
  const channels = Array.from({ length: Math.min(n, 500) }, (_, i) => `warm.${i}`);
  for (const [i, channel] of channels.entries()) {
    await ops.add('warm-up', channel, i % 2 ? null : `warm-${i}`);
    await ops.touch(channel);
    await ops.getUsers('warm-up');
    await ops.getAnonymousCount('warm-up');
    await ops.onMessage(channel, HEARTBEAT);
  }
  await ops.flush();
  for (const channel of channels) await ops.leaveAll(channel);
  await ops.pruneRooms();
}

/** The timed steps, in STEPS order, each a run of sequential awaits; checks their results untimed. */
async function runSteps(n: number, ops: Operations, checkpoint: () => void): Promise<Record<StepName, Measured>> {
  const { rooms, connections } = connectionsOf(n);
  const steps = {} as Record<StepName, Measured>;
  const time = async (step: StepName, run: () => Promise<number>) => {
    checkpoint();
    const [before, start] = [counts.all, performance.now()];
    const done = await run();
    steps[step] = { ms: performance.now() - start, ops: done, statements: counts.all - before };
    return done;
  };
  const addAll = async () => {
    for (const { room, channel, user } of connections) await ops.add(room, channel, user);
    return n;
  };
  const touched = connections.filter((_, i) => i % 4 >= 2);

  await time('add', addAll);
  await time('touch', async () => {
    for (const { channel } of connections) await ops.touch(channel);
    return n;
  });
  let found = 0;
  await time('roomQueries', async () => {
    for (const room of rooms) found += (await ops.getUsers(room)).length + (await ops.getAnonymousCount(room));
    return 2 * rooms.length;
  });
  expectEqual('users and anonymous found', found, n);

  // Two max ages later, only half the connections have been touched since.
  clockOffsetMs += 2 * MAX_AGE * 1000;
  for (const { channel } of touched) await ops.touch(channel);
  expectEqual('presences pruned', await time('prunePresences', () => ops.prunePresences()), n - touched.length);
  await time('leaveAll', async () => {
    for (const { channel } of touched) await ops.leaveAll(channel);
    return touched.length;
  });
  // Every room is empty now.
  expectEqual('rooms pruned', await time('pruneRooms', () => ops.pruneRooms()), rooms.length);

  await addAll(); // so that each heartbeat touches a row
  await time('heartbeat', async () => {
    for (let round = 0; round < HEARTBEAT_ROUNDS; round++) {
      for (const { channel } of connections) {
        if ((await ops.onMessage(channel, HEARTBEAT)) !== undefined) throw new Error('a heartbeat reached the handler');
      }
    }
    await ops.flush();
    return HEARTBEAT_ROUNDS * n;
  });
  return steps;
}

/**
 * The write cost of liveness: a tracker with `liveness: { interval: 1 }` holds the N
 * connections, each sending one heartbeat a second for 3 s from half an interval after a
 * liveness write; counts the liveness and heartbeat writes meanwhile.
 */
async function measureWriteCost(url: string, n: number) {
  const { createPresence } = await import('../src/index.ts');
  // touchInterval a little under the heartbeat period: each second's heartbeats make one batch.
  const presence = createPresence({ databaseUrl: url, maxAge: MAX_AGE, touchInterval: 900, liveness: { interval: 1 } });
  try {
    const { connections } = connectionsOf(n);
    for (const { room, channel, user } of connections) await presence.rooms.add(room, channel, user);
    const onMessage = presence.touchPresence(async () => 'handled');
    const written = counts.liveness;
    while (counts.liveness === written) await sleep(5);
    await sleep(500);
    const before = { ...counts };
    const start = performance.now();
    for (let second = 1; second <= WRITE_COST_SECONDS; second++) {
      for (const { channel } of connections) await onMessage(channel, HEARTBEAT);
      await sleep(Math.max(0, start + second * 1000 - performance.now()));
    }
    const seconds = (performance.now() - start) / 1000;
    const livenessWrites = counts.liveness - before.liveness;
    await presence.presences.flush(); // the last second's batch
    const heartbeatWrites = counts.heartbeat - before.heartbeat;
    const perConnectionSecond = (writes: number) => Number((writes / (n * seconds)).toFixed(6));
    return {
      connections: n,
      seconds: Number(seconds.toFixed(3)),
      livenessWrites,
      livenessPerConnectionSecond: perConnectionSecond(livenessWrites),
      heartbeatWrites,
      heartbeatPerConnectionSecond: perConnectionSecond(heartbeatWrites),
    };
  } finally {
    await presence.close();
  }
}

async function runSide(side: Side, engine: Engine, url: string, n: number) {
  countDriverStatements();
  const ops = side === 'library' ? await libraryOperations(url) : rawOperations(engine, url);
  // On SQLite the WAL is copied into the database before each timed step, so that no step
  // pays for a checkpoint that earlier steps brought due.
  const wal = engine === 'sqlite' ? new Database(url.slice('file:'.length), { timeout: 5000 }) : undefined;
  await warmUp(ops, n);
  const steps = await runSteps(n, ops, () => void wal?.pragma('wal_checkpoint(TRUNCATE)'));
  await ops.close();
  wal?.close();
  const writeCost = side === 'library' ? await measureWriteCost(url, n) : undefined;
  return { steps, writeCost, peakRssBytes: process.resourceUsage().maxRSS * 1024 };
}

const [side, engine, url, n] = process.argv.slice(2);
if (process.send && (side === 'library' || side === 'raw')) {
  const reply = (message: SideReply) => process.send!(message, () => process.exit());
  runSide(side, engine as Engine, url!, Number(n)).then(
    (run) => reply({ ok: true, run }),
    (error: unknown) => reply({ ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
  );
}
