// One side of the benchmark in a process of its own, so that its peak RSS is its own:
// `library` (createPresence({ databaseUrl }), the library's own connection) or `raw`
// (hand-written SQL on better-sqlite3 / pg). scripts/bench.ts forks it and sends one
// request at a time; the workload is described there.
//
// Statements are counted where they reach the driver: the raw side counts its own; on
// the library side better-sqlite3's statement runs and pg's Client#query are wrapped
// before the library loads.
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

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
const WRITE_COST_INTERVALS = 3;
const BUSY_TIMEOUT_MS = 5000;
const PG_POOL = { max: 10, connectionTimeoutMillis: 5000, idleTimeoutMillis: 10000 };

// ---------------------------------------------------------------------------------------
// Statements by kind, counted at the driver.

type Kind = 'liveness' | 'heartbeat' | 'other';
const counts: Record<Kind, number> = { liveness: 0, heartbeat: 0, other: 0 };
const total = () => counts.liveness + counts.heartbeat + counts.other;
const count = (sql: string) =>
  counts[sql.includes('"PresenceServer"') ? 'liveness' : /^\s*UPDATE "Presence" SET "lastSeen"/.test(sql) ? 'heartbeat' : 'other']++;

function countDriverStatements(): void {
  const require = createRequire(import.meta.url);
  // better-sqlite3 statements are prepared once and run many times: count the runs.
  const Database = require('better-sqlite3') as new (path: string) => { prepare(sql: string): object; close(): void };
  const probe = new Database(':memory:');
  const statement = Object.getPrototypeOf(probe.prepare('SELECT 1')) as Record<'run' | 'all' | 'get', (...args: unknown[]) => unknown>;
  probe.close();
  for (const method of ['run', 'all', 'get'] as const) {
    const original = statement[method];
    statement[method] = function (this: { source: string }, ...args: unknown[]) {
      count(this.source);
      return original.apply(this, args);
    };
  }
  const client = require('pg').Client.prototype as { query(config: unknown, ...rest: unknown[]): unknown };
  const query = client.query;
  client.query = function (this: unknown, config: unknown, ...rest: unknown[]) {
    count(typeof config === 'string' ? config : ((config as { text?: string }).text ?? ''));
    return query.call(this, config, ...rest);
  };
}

// ---------------------------------------------------------------------------------------
// The operations of each side. `now` is the side's clock: the prune step moves it on.

type Operations = Awaited<ReturnType<typeof libraryOperations>>;

let clockOffsetMs = 0;
const now = () => new Date(Date.now() + clockOffsetMs);

async function libraryOperations(url: string) {
  const { createPresence } = await import('../src/index.ts');
  const presence = createPresence({ databaseUrl: url, maxAge: MAX_AGE, now });
  await presence.rooms.getAnonymousCount('connect');
  return {
    add: (room: string, channel: string, user: string | null): Promise<unknown> => presence.rooms.add(room, channel, user),
    touch: (channel: string) => presence.presences.touch(channel),
    getUsers: (room: string) => presence.rooms.getUsers(room),
    getAnonymousCount: (room: string) => presence.rooms.getAnonymousCount(room),
    prunePresences: () => presence.rooms.prunePresences(),
    leaveAll: (channel: string) => presence.presences.leaveAll(channel),
    pruneRooms: () => presence.rooms.pruneRooms(),
    /** A message handler as an application registers it: touch, then stop at a heartbeat. */
    onMessage: presence.touchPresence(async (_channel: string, _message: string): Promise<unknown> => 'handled'),
    flush: () => presence.presences.flush(),
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
  // Untimed checks, and SQLite's checkpoint (see settle).
  Presence: 'SELECT count(*) AS "count" FROM "Presence"',
  Room: 'SELECT count(*) AS "count" FROM "Room"',
  checkpoint: 'PRAGMA wal_checkpoint(TRUNCATE)',
};
type Run = (name: keyof typeof SQL, values: unknown[]) => Promise<{ rows: Record<string, unknown>[]; changes: number }>;

/** The raw side: each statement prepared once (pg: named statements), the library's pool and pragmas. */
async function rawOperations(engine: Engine, url: string): Promise<Operations> {
  const { run, close } = engine === 'sqlite' ? await rawSqlite(url) : await rawPostgres(url);
  // Timestamps as text in the format the library writes on SQLite; PostgreSQL reads the ISO text as UTC.
  const stamp = (date: Date) => (engine === 'sqlite' ? date.toISOString().replace('Z', '+00:00') : date.toISOString());
  const touch = async (channel: string) => void (await run('touch', [stamp(now()), channel]));
  return {
    async add(room: string, channel: string, user: string | null) {
      const { rows } = await run('upsertRoom', [room]);
      await run('upsertPresence', [rows[0]!.id, channel, user, stamp(now())]);
    },
    touch,
    getUsers: async (room) => (await run('users', [room])).rows.map((row) => row.userId as string),
    getAnonymousCount: async (room) => Number((await run('anonymous', [room])).rows[0]?.count ?? 0),
    prunePresences: async () => (await run('prune', [stamp(new Date(now().getTime() - MAX_AGE * 1000))])).changes,
    leaveAll: async (channel) => void (await run('leaveAll', [channel])),
    pruneRooms: async () => (await run('pruneRooms', [])).changes,
    onMessage: async (channel, message) => (await touch(channel), message === HEARTBEAT ? undefined : 'handled'),
    flush: async () => {},
    close,
  };
}

async function rawSqlite(url: string): Promise<{ run: Run; close(): Promise<void> }> {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(url.slice('file:'.length), { timeout: BUSY_TIMEOUT_MS });
  for (const pragma of ['journal_mode = WAL', 'synchronous = NORMAL', 'foreign_keys = ON']) db.pragma(pragma);
  const statements = new Map(Object.entries(SQL).map(([name, text]) => [name, db.prepare(text.replace(/\$\d+/g, '?'))]));
  const run: Run = async (name, values) => {
    count(SQL[name]);
    const statement = statements.get(name)!;
    if (statement.reader) return { rows: statement.all(...values) as Record<string, unknown>[], changes: 0 };
    return { rows: [], changes: statement.run(...values).changes };
  };
  return { run, close: async () => void db.close() };
}

async function rawPostgres(url: string): Promise<{ run: Run; close(): Promise<void> }> {
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({ connectionString: url, ...PG_POOL });
  pool.on('error', () => {});
  await pool.query('SELECT 1');
  const run: Run = async (name, values) => {
    count(SQL[name]);
    const result = await pool.query({ name, text: SQL[name], values });
    return { rows: result.rows, changes: result.rowCount ?? 0 };
  };
  return { run, close: () => pool.end() };
}

/** Untimed counts and the SQLite checkpoint, on a connection of its own. */
async function openAdmin(engine: Engine, url: string) {
  const { run, close } = engine === 'sqlite' ? await rawSqlite(url) : await rawPostgres(url);
  return {
    count: async (table: 'Presence' | 'Room') => Number((await run(table, [])).rows[0]!.count),
    // Before each timed step the WAL is copied into the database, so that no step pays for
    // a checkpoint that earlier steps brought due.
    settle: async () => void (engine === 'sqlite' && (await run('checkpoint', []))),
    close,
  };
}

// ---------------------------------------------------------------------------------------
// The workload (see scripts/bench.ts).

const roomName = (r: number) => `room-${String(r).padStart(5, '0')}`;
const channelName = (i: number) => `chan.${String(i).padStart(7, '0')}`;
const isStale = (i: number) => i % 4 < 2;

class Workload {
  private readonly rooms: string[];
  private readonly channels: { room: string; channel: string; user: string | null }[];

  constructor(
    private readonly n: number,
    private readonly operations: Operations,
    private readonly admin: Awaited<ReturnType<typeof openAdmin>>,
  ) {
    const roomCount = Math.max(1, Math.floor(n / 100));
    this.rooms = Array.from({ length: roomCount }, (_, r) => roomName(r));
    this.channels = Array.from({ length: n }, (_, i) => ({
      room: this.rooms[Math.floor((i * roomCount) / n)]!,
      channel: channelName(i),
      user: i % 2 === 0 ? `user-${i / 2}` : null,
    }));
  }

  /** Unreported: each operation a few hundred times on names the workload never uses. */
  async warmUp(): Promise<void> {
    const { operations: ops } = this;
    for (let i = 0; i < Math.min(this.n, 500); i++) {
      await ops.add('warm-up', `warm.${i}`, i % 2 ? null : `warm-${i}`);
      await ops.touch(`warm.${i}`);
      await ops.getUsers('warm-up');
      await ops.getAnonymousCount('warm-up');
      await ops.onMessage(`warm.${i}`, HEARTBEAT);
    }
    await ops.flush();
    for (let i = 0; i < Math.min(this.n, 500); i++) await ops.leaveAll(`warm.${i}`);
    await ops.pruneRooms();
  }

  private async addAll(): Promise<number> {
    for (const { room, channel, user } of this.channels) await this.operations.add(room, channel, user);
    return this.n;
  }

  private async check(what: string, actual: number | Promise<number>, expected: number): Promise<void> {
    if ((await actual) !== expected) throw new Error(`bench check failed: ${what} is ${await actual}, expected ${expected}`);
  }

  /** Each step: untimed preparation, the timed run (returns its ops), untimed checks. */
  readonly steps: Record<StepName, { prepare?(): Promise<void>; run(): Promise<number>; check?(ops: number): Promise<void> }> = {
    add: {
      run: () => this.addAll(),
      check: async () => {
        await this.check('presences after add', this.admin.count('Presence'), this.n);
        await this.check('rooms after add', this.admin.count('Room'), this.rooms.length);
      },
    },
    touch: {
      run: async () => {
        for (const { channel } of this.channels) await this.operations.touch(channel);
        return this.n;
      },
    },
    roomQueries: {
      run: async () => {
        let found = 0;
        for (const room of this.rooms) found += (await this.operations.getUsers(room)).length + (await this.operations.getAnonymousCount(room));
        await this.check('users and anonymous found', found, this.n);
        return 2 * this.rooms.length;
      },
    },
    prunePresences: {
      // Two max ages later, only the other half has been touched since.
      prepare: async () => {
        clockOffsetMs += 2 * MAX_AGE * 1000;
        for (const [i, { channel }] of this.channels.entries()) if (!isStale(i)) await this.operations.touch(channel);
      },
      run: () => this.operations.prunePresences(),
      check: (removed) => this.check('presences pruned', removed, this.channels.filter((_, i) => isStale(i)).length),
    },
    leaveAll: {
      run: async () => {
        const remaining = this.channels.filter((_, i) => !isStale(i));
        for (const { channel } of remaining) await this.operations.leaveAll(channel);
        return remaining.length;
      },
      check: () => this.check('presences after leaveAll', this.admin.count('Presence'), 0),
    },
    pruneRooms: {
      run: () => this.operations.pruneRooms(),
      check: (removed) => this.check('rooms pruned', removed, this.rooms.length),
    },
    heartbeat: {
      // The N connections present again, so that each heartbeat touches one row.
      prepare: async () => void (await this.addAll()),
      run: async () => {
        for (let round = 0; round < HEARTBEAT_ROUNDS; round++) {
          for (const { channel } of this.channels) {
            if ((await this.operations.onMessage(channel, HEARTBEAT)) !== undefined) throw new Error('a heartbeat reached the handler');
          }
        }
        await this.operations.flush();
        return HEARTBEAT_ROUNDS * this.n;
      },
    },
  };

  async runStep(step: StepName): Promise<Measured> {
    const { prepare, run, check } = this.steps[step];
    await prepare?.();
    await this.admin.settle();
    const before = total();
    const start = performance.now();
    const ops = await run();
    const ms = performance.now() - start;
    const statements = total() - before;
    await check?.(ops);
    return { ms, ops, statements };
  }

  /**
   * A tracker with `liveness: { interval: 1 }` holds the N connections; each sends one
   * heartbeat a second for 3 s, starting half an interval after a liveness write, and
   * the liveness and heartbeat writes that reach the database meanwhile are counted.
   */
  async writeCost(url: string) {
    const { createPresence } = await import('../src/index.ts');
    const intervalMs = 1000;
    // touchInterval a little under the heartbeat period: each round's heartbeats make one batch.
    const presence = createPresence({ databaseUrl: url, maxAge: MAX_AGE, touchInterval: intervalMs * 0.9, liveness: { interval: intervalMs / 1000 } });
    try {
      for (const { room, channel, user } of this.channels) await presence.rooms.add(room, channel, user);
      const onMessage = presence.touchPresence(async () => 'handled');
      const written = counts.liveness;
      while (counts.liveness === written) await sleep(5);
      await sleep(intervalMs / 2);
      const before = { ...counts };
      const start = performance.now();
      for (let interval = 1; interval <= WRITE_COST_INTERVALS; interval++) {
        for (const { channel } of this.channels) await onMessage(channel, HEARTBEAT);
        await sleep(Math.max(0, start + interval * intervalMs - performance.now()));
      }
      const livenessWrites = counts.liveness - before.liveness;
      const seconds = (performance.now() - start) / 1000;
      await presence.presences.flush();
      return {
        connections: this.n,
        intervalSeconds: intervalMs / 1000,
        intervals: WRITE_COST_INTERVALS,
        seconds,
        livenessWrites,
        heartbeatWrites: counts.heartbeat - before.heartbeat,
      };
    } finally {
      await presence.close();
    }
  }
}

// ---------------------------------------------------------------------------------------
// The process.

async function runSide(side: Side, engine: Engine, url: string, n: number) {
  if (side === 'library') countDriverStatements();
  const operations = side === 'library' ? await libraryOperations(url) : await rawOperations(engine, url);
  const admin = await openAdmin(engine, url);
  const workload = new Workload(n, operations, admin);
  await workload.warmUp();
  const steps = {} as Record<StepName, Measured>;
  for (const step of STEPS) steps[step] = await workload.runStep(step);
  const writeCost = side === 'library' ? await workload.writeCost(url) : undefined;
  await operations.close();
  await admin.close();
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
