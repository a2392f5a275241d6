// Throughput of prisma-presence against the raw-driver ceiling, on SQLite and PostgreSQL.
//
//   npm run bench -- [--n 10000] [--engines sqlite,postgresql] [--out bench-results/bench.json]
//                    [--postgres-url <server url>]   (default: a throwaway local server)
//
// Two sides, each in a fresh process of its own (scripts/bench-side.ts) on a freshly
// migrated database of its own, one after the other: `library` is createPresence({
// databaseUrl }) with its own connection; `raw` is the same logical steps as hand-written
// SQL on better-sqlite3 prepared statements / pg named statements on a pool. Each side
// first warms up (every operation a few hundred times, unreported), then runs the steps.
//
// N connections `chan.%07d` over R = max(1, N/100) rooms, user `user-${i/2}` for even i,
// anonymous for odd i. Steps, each timed with sequential awaits:
//   add             rooms.add for every connection                        N calls
//   touch           presences.touch for every connection                  N calls
//   roomQueries     getUsers + getAnonymousCount for every room           2R calls
//   prunePresences  two max ages later, after half the connections were touched
//                   again (untimed): one prunePresences call             N/2 rows removed
//   leaveAll        presences.leaveAll for the other half                 N/2 calls
//   pruneRooms      one pruneRooms call                                   R rooms removed
//   heartbeat       the N connections added again (untimed), then 10 `"heartbeat"`
//                   messages each through touchPresence (buffered), then flush   10N calls
// Each side counts the statements that reach its driver. Then, on the library side, the
// write cost of liveness: a tracker with liveness { interval: 1 } holds the N connections,
// each sending one heartbeat a second for 3 s; liveness writes and heartbeat writes are
// counted per connection per second. Each process reports its peak RSS.
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { migrate } from '../src/index.ts';
import { createDatabase, dropDatabase, startPostgresServer } from '../tests/support/postgresServer.ts';
import { STEPS, type Engine, type Measured, type Side, type SideReply, type SideRun, type StepName } from './bench-side.ts';

export const ENGINES: Engine[] = ['sqlite', 'postgresql'];
export const SIDES: Side[] = ['library', 'raw'];
export { STEPS };

export type SideResult = ReturnType<typeof sideResult>;
export type StepResult = RunResult['steps'][number];
export type RunResult = Awaited<ReturnType<typeof runOne>>;
export type BenchReport = Awaited<ReturnType<typeof runBench>>;

/** What a step's ops count: calls, or the rows / rooms its one call removed. */
const UNITS: Partial<Record<StepName, 'rows' | 'rooms'>> = { prunePresences: 'rows', pruneRooms: 'rooms' };

/** bench-side.ts with src/ bundled into one plain JavaScript file: no tsx loader in the measured processes. */
async function bundleSide(): Promise<{ file: string; remove(): void }> {
  const { build, stop } = await import('esbuild');
  // Under node_modules so that the bundle's package imports resolve.
  const dir = mkdtempSync(join(fileURLToPath(new URL('../node_modules/.cache/', import.meta.url)), 'prisma-presence-bench-'));
  try {
    await build({
      entryPoints: [fileURLToPath(new URL('bench-side.ts', import.meta.url))],
      outfile: join(dir, 'side.mjs'),
      bundle: true,
      packages: 'external',
      platform: 'node',
      format: 'esm',
      target: 'node20',
      logLevel: 'warning',
      // src/ finds the shipped migrations relative to its own files.
      define: { 'import.meta.url': JSON.stringify(new URL('../src/migrations/bundled.ts', import.meta.url).href) },
    });
  } finally {
    await stop();
  }
  return { file: join(dir, 'side.mjs'), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs one side's workload in a fresh process of its own. */
function runSide(file: string, side: Side, engine: Engine, url: string, n: number): Promise<SideRun> {
  return new Promise((resolve, reject) => {
    const child = fork(file, [side, engine, url, String(n)], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('message', (reply: SideReply) => (reply.ok ? resolve(reply.run) : reject(new Error(`in the ${side} process: ${reply.error}`))));
    child.once('exit', (code, signal) => reject(new Error(`the ${side} process exited (${signal ?? `code ${code}`})`)));
  });
}

/** A freshly migrated database for one side; `drop` removes it. */
async function freshDatabase(engine: Engine, postgresUrl: string | undefined, dir: string, label: string) {
  if (engine === 'sqlite') {
    const url = `file:${join(dir, `${label}.db`)}`;
    await migrate({ databaseUrl: url });
    return { url, drop: async () => {} };
  }
  const name = `bench_${label}_${randomBytes(4).toString('hex')}`;
  const url = await createDatabase(postgresUrl!, name);
  await migrate({ databaseUrl: url });
  return { url, drop: () => dropDatabase(postgresUrl!, name) };
}

const round = (value: number, digits: number) => Number(value.toFixed(digits));

function sideResult({ ms, ops, statements }: Measured) {
  return { ms: round(ms, 3), opsPerSec: round((ops * 1000) / Math.max(ms, 0.001), 1), statements, statementsPerOp: round(statements / ops, 6) };
}

async function runOne(file: string, engine: Engine, n: number, postgresUrl: string | undefined) {
  const dir = mkdtempSync(join(os.tmpdir(), 'presence-bench-'));
  const measured = {} as Record<Side, SideRun>;
  try {
    for (const side of SIDES) {
      const database = await freshDatabase(engine, postgresUrl, dir, side);
      try {
        measured[side] = await runSide(file, side, engine, database.url, n);
      } finally {
        await database.drop();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const steps = STEPS.map((step) => {
    const [library, raw] = [sideResult(measured.library.steps[step]), sideResult(measured.raw.steps[step])];
    // ratio: library ops/s over raw ops/s, 1 is as fast as hand-written SQL.
    return { step, unit: UNITS[step] ?? 'calls', ops: measured.raw.steps[step].ops, library, raw, ratio: round(library.opsPerSec / raw.opsPerSec, 3) };
  });
  const cost = measured.library.writeCost!;
  const perConnectionSecond = (writes: number) => round(writes / (cost.connections * cost.seconds), 6);
  return {
    engine,
    n,
    rooms: Math.max(1, Math.floor(n / 100)),
    steps,
    // Writes per connection per second while a tracker with liveness holds the N connections.
    writeCost: {
      ...cost,
      seconds: round(cost.seconds, 3),
      livenessPerConnectionSecond: perConnectionSecond(cost.livenessWrites),
      heartbeatPerConnectionSecond: perConnectionSecond(cost.heartbeatWrites),
    },
    // maxRSS of each side's process, warm-up included, in bytes.
    peakRss: { library: measured.library.peakRssBytes, raw: measured.raw.peakRssBytes },
  };
}

export function formatTable(run: RunResult): string {
  const rate = (side: SideResult) => Math.round(side.opsPerSec).toLocaleString('en-US');
  const header = ['step', 'ops', 'library ops/s', 'raw ops/s', 'library/raw', 'stmts/op library', 'stmts/op raw'];
  const rows = run.steps.map((s) => [
    s.step,
    `${s.ops}${s.unit === 'calls' ? '' : ` ${s.unit}`}`,
    rate(s.library),
    rate(s.raw),
    s.ratio.toFixed(2),
    String(s.unit === 'calls' ? s.library.statementsPerOp : s.library.statements),
    String(s.unit === 'calls' ? s.raw.statementsPerOp : s.raw.statements),
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  const mb = (bytes: number) => `${Math.round(bytes / 1024 / 1024)} MB`;
  const cost = run.writeCost;
  return [
    `== ${run.engine}, N=${run.n}, ${run.rooms} rooms`,
    line(header),
    widths.map((width) => '-'.repeat(width)).join('  '),
    ...rows.map(line),
    `peak RSS: library ${mb(run.peakRss.library)}, raw ${mb(run.peakRss.raw)}`,
    `writes per connection per second (${cost.connections} connections, one heartbeat each per second, ${cost.seconds} s): ` +
      `liveness ${cost.livenessPerConnectionSecond} (${cost.livenessWrites} writes), heartbeats ${cost.heartbeatPerConnectionSecond} (${cost.heartbeatWrites} writes)`,
  ].join('\n');
}

export type BenchOptions = ReturnType<typeof parseBenchArgs>;

export function parseBenchArgs(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      n: { type: 'string', default: '10000' },
      engines: { type: 'string', default: ENGINES.join(',') },
      out: { type: 'string', default: 'bench-results/bench.json' },
      'postgres-url': { type: 'string' },
    },
  });
  const ns = values.n.split(',').map(Number);
  if (!ns.every((n) => Number.isInteger(n) && n > 0)) throw new Error(`--n takes positive integers, got ${values.n}`);
  const engines = values.engines.split(',') as Engine[];
  if (!engines.every((engine) => ENGINES.includes(engine))) throw new Error(`--engines takes ${ENGINES.join(',')}, got ${values.engines}`);
  return { ns, engines, out: values.out, postgresUrl: values['postgres-url'] };
}

export async function runBench(options: BenchOptions, command: string) {
  const startedAt = new Date().toISOString();
  const side = await bundleSide();
  const runs = [];
  let server: Awaited<ReturnType<typeof startPostgresServer>> | undefined;
  try {
    for (const engine of options.engines) {
      let postgresUrl = options.postgresUrl;
      if (engine === 'postgresql' && !postgresUrl) postgresUrl = (server = await startPostgresServer()).url;
      for (const n of options.ns) {
        const run = await runOne(side.file, engine, n, postgresUrl);
        console.log(`${formatTable(run)}\n`);
        runs.push(run);
      }
    }
  } finally {
    side.remove();
    await server?.stop();
  }
  const cpus = os.cpus();
  const meta = {
    startedAt,
    command,
    node: process.version,
    platform: `${process.platform} ${os.release()} ${process.arch}`,
    cpu: cpus[0]?.model ?? 'unknown',
    cpus: cpus.length,
    memoryGb: round(os.totalmem() / 1024 ** 3, 1),
    ns: options.ns,
    engines: options.engines,
  };
  const report = { meta, runs };
  mkdirSync(dirname(options.out), { recursive: true });
  writeFileSync(options.out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`wrote ${options.out}`);
  return report;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  runBench(parseBenchArgs(args), ['npm run bench --', ...args].join(' ')).catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
