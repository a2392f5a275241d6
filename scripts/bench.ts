// Throughput benchmark: prisma-presence against the same logical operations written as
// hand-written SQL on the raw drivers (better-sqlite3, pg), on the same schema. The
// library runs two ways, each on its own database:
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
// Processes: this one coordinates and touches no presence data. Per engine and N, one
// process (scripts/bench-migrate.ts) migrates a template database with `migrate()`, and
// each side gets a fresh copy of it (SQLite: the file copied; PostgreSQL: CREATE
// DATABASE ... TEMPLATE) and a process of its own (scripts/bench-side.ts), so that each
// process's peak RSS is reported on its own. Both scripts are bundled with src/ into
// plain JavaScript when the run starts (see bundleChildScripts). The sides' processes first run the workload
// at N = --warmup on other copies (unreported; its room-queries step repeated, see
// WARMUP_ROOM_QUERY_CALLS), then at N.
//
// R = max(1, floor(N/100)) rooms `room-%05d`, channels `chan.%07d` (i = 0..N-1), channel
// i in room floor(i*R/N), user `user-${i/2}` for even i, anonymous for odd i. Steps, each
// timed with sequential awaits, ours, then oursUrl, then raw:
//   add            rooms.add for every channel, in order                      (N calls)
//   touch          presences.touch for every channel                          (N calls)
//   roomQueries    getUsers + getAnonymousCount for every room                (2R calls)
//   prunePresences (untimed: i % 4 in {0,1} get lastSeen one hour ago, the others now)
//                  prunePresences(60), N/2 rows removed (asserted)           (1 call, counted in rows)
//   leaveAll       presences.leaveAll for the remaining channels              (N/2 calls)
//   pruneRooms     pruneRooms, R rooms removed (asserted)                     (1 call, counted in rooms)
//   heartbeat      (untimed: the N channels are added again, so each heartbeat
//                  updates one row) N connections x 10 `"heartbeat"` messages
//                  through touchPresence(handler), round-robin, with the default
//                  touchInterval (touches buffered), then presences.flush()  (10N calls)
//   heartbeatUnbuffered  the same with touchInterval: 0 (one write per message) (10N calls)
// The raw side writes one UPDATE per heartbeat in both heartbeat steps.
// Then the write cost of liveness (ours only, untimed): a tracker with
// liveness: { interval: 1 } and touchInterval 900 adds the N channels, each sends one
// heartbeat per second for 3 s, and the statements that reach the database meanwhile are
// counted by kind: liveness writes against coalesced-heartbeat flushes, per connection
// per interval.
// Statements reaching the database are counted: for ours through the client's
// `$on('query')` events, for the raw side by the benchmark itself.
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createDatabase, dropDatabase, startPostgresServer, type PostgresServer } from '../tests/support/postgresServer.ts';
import {
  ENGINES,
  HEARTBEAT_ROUNDS,
  isStale,
  LIBRARY_SIDES,
  peakRssBytes,
  roomCount,
  roomQueryRounds,
  SIDES,
  STEPS,
  WARMUP_ROOM_QUERY_CALLS,
  type Engine,
  type Measured,
  type Phase,
  type Reply,
  type Request,
  type Side,
  type StepName,
  type WriteCostMeasured,
} from './bench-workload.ts';

export { ENGINES, SIDES, STEPS, type Engine, type Side, type StepName };

export interface BenchOptions {
  ns: number[];
  engines: Engine[];
  /** Where the JSON goes; undefined: not written. */
  out?: string;
  /** A running PostgreSQL server to create the databases on, instead of starting one. */
  postgresUrl?: string;
  /** N of an unreported warm-up pass before each measured run, in the same processes; 0 skips it. */
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

/** Peak RSS (process.resourceUsage().maxRSS) of each process of one run, in bytes. */
export interface PeakRss {
  /** The process running createPresence({ prisma }): warm-up and measured run. */
  ours: number;
  /** The process running createPresence({ databaseUrl }): warm-up and measured run. */
  oursUrl: number;
  /** The process running the hand-written SQL. */
  raw: number;
  /** The process that migrated the run's template database (Prisma's schema engine). */
  migration: number;
  /** This coordinating process, since it started (it holds no presence data). */
  coordinator: number;
}

export interface RunResult {
  engine: Engine;
  n: number;
  rooms: number;
  /** Wall time of the whole run for this engine and N, setup, warm-up and checks included. */
  durationMs: number;
  /** Peak RSS of the library's processes: the larger of peakRss.ours and peakRss.oursUrl, in bytes. */
  peakRssBytes: number;
  peakRss: PeakRss;
  steps: StepResult[];
  writeCost: WriteCost;
}

/**
 * Writes per connection per interval while one tracker with liveness holds the N
 * connections and each sends one heartbeat per interval (measured on the ours side).
 */
export interface WriteCost extends WriteCostMeasured {
  /** livenessStatements per connection per intervalSeconds of the window as it lasted. */
  livenessPerConnectionInterval: number;
  /** heartbeatStatements / (connections x intervals): per heartbeat, i.e. per connection per interval of heartbeats. */
  heartbeatPerConnectionInterval: number;
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

// ---------------------------------------------------------------------------------------
// Child processes: bench-migrate.ts and bench-side.ts, answering over the IPC channel.

const script = (name: string) => fileURLToPath(new URL(name, import.meta.url));

/** The child scripts, bundled with src/ into plain JavaScript files. */
interface ChildScripts {
  side: string;
  migrate: string;
  remove(): void;
}

/**
 * Bundles the child scripts with src/ once, when the run starts: every process of the run
 * then runs the same version of the library, however src/ changes meanwhile, and none
 * carries tsx's module-loader thread (about 37 MB of RSS), which an application running
 * the built package does not have either. The files live under node_modules/.cache so
 * that their package imports resolve.
 */
async function bundleChildScripts(): Promise<ChildScripts> {
  const { build, stop } = await import('esbuild');
  const outdir = mkdtempSync(join(fileURLToPath(new URL('../node_modules/.cache/', import.meta.url)), 'prisma-presence-bench-'));
  try {
    await build({
      entryPoints: { side: script('bench-side.ts'), migrate: script('bench-migrate.ts') },
      outdir,
      outExtension: { '.js': '.mjs' },
      bundle: true,
      packages: 'external',
      platform: 'node',
      format: 'esm',
      target: 'node20',
      logLevel: 'warning',
      // src/ finds the shipped migrations (and package.json) relative to its own files.
      define: { 'import.meta.url': JSON.stringify(new URL('../src/migrations/bundled.ts', import.meta.url).href) },
    });
  } finally {
    await stop();
  }
  return { side: join(outdir, 'side.mjs'), migrate: join(outdir, 'migrate.mjs'), remove: () => rmSync(outdir, { recursive: true, force: true }) };
}

/** A forked benchmark script that replies to one request at a time. */
class Child {
  private waiting: { resolve(reply: Reply): void; reject(error: Error): void } | undefined;
  private gone: Error | undefined;

  private constructor(
    private readonly child: ChildProcess,
    private readonly label: string,
  ) {
    child.on('message', (reply: Reply) => this.settle(reply));
    child.on('exit', (code, signal) => {
      this.gone = new Error(`the ${label} process exited (${signal ?? `code ${code}`})`);
      this.waiting?.reject(this.gone);
      this.waiting = undefined;
    });
  }

  /** Runs a JavaScript file with plain node, with the coordinator's stdout and stderr. */
  static fork(path: string, args: string[], label: string): Child {
    return new Child(fork(path, args, { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }), label);
  }

  request(request: Request): Promise<Reply> {
    const reply = this.reply();
    this.child.send(request);
    return reply;
  }

  /** The next message; a `failed` reply rejects. */
  reply(): Promise<Reply> {
    if (this.gone) return Promise.reject(this.gone);
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  /** Ends the process: it exits once its IPC channel closes. */
  stop(): void {
    if (this.child.connected) this.child.disconnect();
  }

  private settle(reply: Reply): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    if (reply.kind === 'failed') waiting?.reject(new Error(`in the ${this.label} process: ${reply.error}`));
    else waiting?.resolve(reply);
  }
}

function closedRss(reply: Reply): number {
  if (reply.kind !== 'closed') throw new Error(`expected the process's peak RSS, got ${JSON.stringify(reply)}`);
  return reply.peakRssBytes;
}

// ---------------------------------------------------------------------------------------
// Databases: one template per run, migrated in its own process, copied for each side.

interface Databases {
  /** A fresh copy of the migrated template; `label` names it. */
  copy(label: string): Promise<string>;
  /** Removes what this run made, the template included. */
  cleanup(): Promise<void>;
}

/** Migrates the template in a child process; returns that process's peak RSS. */
async function migrateTemplate(scripts: ChildScripts, url: string): Promise<number> {
  const child = Child.fork(scripts.migrate, [url], 'migration');
  try {
    return closedRss(await child.reply());
  } finally {
    child.stop();
  }
}

function sqliteDatabases(): { databases: Databases; template: string } {
  const dir = mkdtempSync(join(os.tmpdir(), 'presence-bench-'));
  const template = join(dir, 'template.db');
  const databases: Databases = {
    async copy(label) {
      const path = join(dir, `${label}.db`);
      // The migration closed its connection: the file (and any WAL beside it) is at rest.
      for (const suffix of ['', '-wal']) {
        if (existsSync(template + suffix)) copyFileSync(template + suffix, path + suffix);
      }
      return `file:${path}`;
    },
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
  return { databases, template: `file:${template}` };
}

async function postgresDatabases(serverUrl: string): Promise<{ databases: Databases; template: string }> {
  const prefix = `bench_${randomBytes(4).toString('hex')}`;
  const templateName = `${prefix}_template`;
  const names = [templateName];
  const template = await createDatabase(serverUrl, templateName);
  const databases: Databases = {
    async copy(label) {
      const name = `${prefix}_${label.toLowerCase()}`;
      names.push(name);
      await onServer(serverUrl, `CREATE DATABASE "${name}" TEMPLATE "${templateName}"`);
      const url = new URL(serverUrl);
      url.pathname = `/${name}`;
      return url.toString();
    },
    async cleanup() {
      for (const name of names.splice(0)) await dropDatabase(serverUrl, name);
    },
  };
  return { databases, template };
}

async function onServer(serverUrl: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------------------
// One engine, one N.

interface Sides {
  children: Record<Side, Child>;
  /** Runs one request on every side in turn (ours, oursUrl, raw). */
  each(request: (side: Side) => Request): Promise<Record<Side, Reply>>;
}

function startSides(scripts: ChildScripts): Sides {
  const children = Object.fromEntries(SIDES.map((side) => [side, Child.fork(scripts.side, [side], side)])) as Record<Side, Child>;
  return {
    children,
    async each(request) {
      const replies = {} as Record<Side, Reply>;
      for (const side of SIDES) replies[side] = await children[side].request(request(side));
      return replies;
    },
  };
}

/** How many operations each step counts, in its unit. */
function stepSizes(n: number, warmingUp: boolean): Record<StepName, { unit: StepResult['unit']; ops: number }> {
  const rooms = roomCount(n);
  let stale = 0;
  for (let i = 0; i < n; i++) if (isStale(i)) stale++;
  const calls = (ops: number) => ({ unit: 'calls' as const, ops });
  return {
    add: calls(n),
    touch: calls(n),
    roomQueries: calls(2 * rooms * roomQueryRounds(rooms, warmingUp)),
    prunePresences: { unit: 'rows', ops: stale },
    leaveAll: calls(n - stale),
    pruneRooms: { unit: 'rooms', ops: rooms },
    heartbeat: calls(n * HEARTBEAT_ROUNDS),
    heartbeatUnbuffered: calls(n * HEARTBEAT_ROUNDS),
  };
}

/** The whole workload at N on fresh copies; every side finishes a phase before the next. */
async function runWorkload(engine: Engine, n: number, sides: Sides, databases: Databases, warmingUp: boolean): Promise<{ steps: StepResult[]; writeCost: WriteCost }> {
  const urls = {} as Record<Side, string>;
  for (const side of SIDES) urls[side] = await databases.copy(`${warmingUp ? 'warmup_' : ''}${side}`);
  await sides.each((side) => ({ kind: 'open', engine, url: urls[side], n, warmingUp }));
  const sizes = stepSizes(n, warmingUp);
  const steps: StepResult[] = [];
  const phase = (step: StepName, phase: Phase) => sides.each(() => ({ kind: 'phase', step, phase }));
  for (const step of STEPS) {
    await phase(step, 'prepare');
    const replies = await phase(step, 'run');
    await phase(step, 'check');
    steps.push(stepResult(step, sizes[step], replies));
  }
  return { steps, writeCost: writeCostResult(await sides.children.ours.request({ kind: 'writeCost' })) };
}

function writeCostResult(reply: Reply): WriteCost {
  if (reply.kind !== 'writeCost') throw new Error(`expected the write cost, got ${JSON.stringify(reply)}`);
  const { cost } = reply;
  const perConnection = (statements: number, intervals: number) => round(statements / (cost.connections * intervals), 6);
  return {
    ...cost,
    livenessPerConnectionInterval: perConnection(cost.livenessStatements, cost.seconds / cost.intervalSeconds),
    heartbeatPerConnectionInterval: perConnection(cost.heartbeatStatements, cost.intervals),
  };
}

function stepResult(step: StepName, { unit, ops }: { unit: StepResult['unit']; ops: number }, replies: Record<Side, Reply>): StepResult {
  const measured = {} as Record<Side, SideResult>;
  for (const side of SIDES) {
    const reply = replies[side];
    if (reply.kind !== 'done' || !reply.measured) throw new Error(`${side} sent no measurement for ${step}`);
    measured[side] = sideResult(ops, reply.measured);
  }
  const ratio = (of: SideResult) => round(of.opsPerSec / measured.raw.opsPerSec, 4);
  return { step, unit, ops, ...measured, ratio: ratio(measured.ours), ratioUrl: ratio(measured.oursUrl) };
}

function sideResult(ops: number, measured: Measured): SideResult {
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

interface RunSettings {
  /** The PostgreSQL server to create the databases on (postgresql only). */
  serverUrl?: string;
  warmup: number;
  scripts: ChildScripts;
}

async function runOne(engine: Engine, n: number, { serverUrl, warmup, scripts }: RunSettings): Promise<RunResult> {
  const started = performance.now();
  const { databases, template } = engine === 'postgresql' ? await postgresDatabases(serverUrl!) : sqliteDatabases();
  let sides: Sides | undefined;
  try {
    const migration = await migrateTemplate(scripts, template);
    sides = startSides(scripts);
    if (warmup > 0) {
      await runWorkload(engine, warmup, sides, databases, true);
      await sides.each(() => ({ kind: 'close' }));
    }
    const { steps, writeCost } = await runWorkload(engine, n, sides, databases, false);
    const closed = await sides.each(() => ({ kind: 'close' }));
    const peakRss: PeakRss = {
      ours: closedRss(closed.ours),
      oursUrl: closedRss(closed.oursUrl),
      raw: closedRss(closed.raw),
      migration,
      coordinator: peakRssBytes(),
    };
    const peakOfLibrary = Math.max(...LIBRARY_SIDES.map((side) => peakRss[side]));
    return { engine, n, rooms: roomCount(n), durationMs: round(performance.now() - started, 1), peakRssBytes: peakOfLibrary, peakRss, steps, writeCost };
  } finally {
    for (const side of SIDES) sides?.children[side].stop();
    await databases.cleanup();
  }
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
  const scripts = await bundleChildScripts();
  try {
    for (const engine of options.engines) {
      let serverUrl: string | undefined;
      if (engine === 'postgresql' && !(serverUrl = options.postgresUrl)) {
        log('starting a throwaway PostgreSQL server');
        server = await startPostgresServer();
        serverUrl = server.url;
      }
      const engineRuns: RunResult[] = [];
      for (const n of options.ns) {
        log(`${engine}: N=${n}${warmup > 0 ? ` (after an unreported warm-up at N=${warmup} in the same processes)` : ''} ...`);
        const run = await runOne(engine, n, { serverUrl, warmup, scripts });
        log(`${engine}: N=${n} done in ${(run.durationMs / 1000).toFixed(1)} s`);
        engineRuns.push(run);
      }
      runs.push(...engineRuns);
      log(`\n${formatTable(engine, engineRuns)}\n`);
    }
  } finally {
    scripts.remove();
    await server?.stop();
  }
  const meta = { startedAt: startedAt.toISOString(), durationMs: round(performance.now() - started, 1), ...environment() };
  const report: BenchReport = { meta: { ...meta, ns: options.ns, engines: options.engines, warmup, notes: NOTES }, runs };
  if (options.out) {
    mkdirSync(dirname(resolve(options.out)), { recursive: true });
    writeFileSync(options.out, `${JSON.stringify(report, null, 2)}\n`);
    log(`wrote ${options.out}`);
  }
  return report;
}

function environment() {
  return {
    node: process.version,
    platform: `${process.platform} ${os.release()} ${process.arch}`,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cpus: os.cpus().length,
  };
}

const NOTES = [
  'ours: prisma-presence through createPresence({ prisma }) with a PrismaClient built by the benchmark (query events on, used to count statements)',
  'oursUrl: prisma-presence through createPresence({ databaseUrl }), its own connection; statements not observable (null), same SQL as ours',
  'raw: hand-written SQL on better-sqlite3 prepared statements / pg.Pool named statements, one statement per logical step (add: upsert room + upsert presence)',
  'ratio = ours ops/s / raw ops/s; ratioUrl = oursUrl ops/s / raw ops/s',
  'processes: per engine and N, ours, oursUrl and raw each run in a fresh process of their own; one more process migrates a template database that each side gets a copy of; the coordinator holds no presence data',
  'the child processes run plain JavaScript bundled from scripts/ and src/ when the run starts (no tsx loader in them)',
  'peakRss: process.resourceUsage().maxRSS of each process; peakRssBytes is the larger of ours and oursUrl (the library sides)',
  'SQLite: WAL, synchronous=NORMAL, busy_timeout 5000, foreign_keys on, on both sides; before each timed step the WAL is checkpointed and emptied (untimed), so no side pays inside a step for the automatic checkpoint that earlier steps brought due',
  'PostgreSQL: throwaway local server with fsync=off, synchronous_commit=off, full_page_writes=off (unless --postgres-url)',
  'prunePresences counts rows removed by its one call, pruneRooms rooms removed by its one call',
  'heartbeat: the N channels are added again (untimed) after pruneRooms, so each heartbeat updates one row',
  'heartbeat: default touchInterval (touches buffered, one UPDATE ... IN (...) per flush), timed up to a final presences.flush(); heartbeatUnbuffered: touchInterval 0; raw: one UPDATE per heartbeat in both',
  'no changed listeners registered',
  'writeCost: after the steps, ours only (statements counted by kind from query events): a tracker with liveness { interval: 1 } and touchInterval 900 adds the N channels untimed, then each channel sends one heartbeat per interval for 3 intervals, starting half an interval after a liveness write; liveness UPSERTs and heartbeat flushes per connection per interval',
  `before each measured run, an unreported warm-up pass in the same processes runs the workload at N=warmup, its room-queries step repeated to ${WARMUP_ROOM_QUERY_CALLS} calls`,
];

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
    rows.push([`N=${run.n} took ${(run.durationMs / 1000).toFixed(1)} s; ${peakRssLine(run)}`]);
    rows.push([writeCostLine(run.writeCost)]);
  }
  const widths = header.map((title, column) => Math.max(title.length, ...rows.filter((row) => row.length > 1).map((row) => row[column]!.length)));
  const line = (cells: string[]) => cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ');
  return [`== ${engine}`, line(header), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map((row) => (row.length > 1 ? line(row) : `  ${row[0]}`))].join('\n');
}

const megabytes = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

function peakRssLine({ peakRss, peakRssBytes: library }: RunResult): string {
  return (
    `peak RSS per process: ours ${megabytes(peakRss.ours)}, oursUrl ${megabytes(peakRss.oursUrl)} (library max ${megabytes(library)}), ` +
    `raw ${megabytes(peakRss.raw)}, migration ${megabytes(peakRss.migration)}, coordinator ${megabytes(peakRss.coordinator)}`
  );
}

function writeCostLine(cost: WriteCost): string {
  const span = `${cost.intervals} x ${cost.intervalSeconds} s, lasted ${cost.seconds.toFixed(1)} s`;
  return (
    `write cost per connection per interval (${cost.connections} connections, one heartbeat each per interval, ${span}): ` +
    `liveness ${cost.livenessPerConnectionInterval} (${cost.livenessStatements} writes), ` +
    `coalesced heartbeats ${cost.heartbeatPerConnectionInterval} (${cost.heartbeatStatements} writes), unbuffered heartbeats 1`
  );
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
