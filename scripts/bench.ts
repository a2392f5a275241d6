// Throughput of prisma-presence against the raw-driver ceiling, on SQLite and PostgreSQL
// (the workload: docs/performance.md and scripts/bench-side.ts).
//
//   npm run bench -- [--n 10000] [--engines sqlite,postgresql] [--out bench-results/bench.json]
//                    [--postgres-url <server url>]   (default: a throwaway local server)
//
// Each side (library, raw) runs in a fresh process on a freshly migrated database of its
// own, one after the other. Prints one Markdown table and writes the figures as JSON.
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { migrate } from '../src/index.ts';
import { createDatabase, dropDatabase, startPostgresServer } from '../tests/support/postgresServer.ts';
import { roomCount, STEPS, type Engine, type Measured, type Side, type SideReply, type SideRun, type StepName } from './bench-side.ts';

const ENGINES: Engine[] = ['sqlite', 'postgresql'];
export const SIDES: Side[] = ['library', 'raw'];
export { STEPS };

export type BenchOptions = ReturnType<typeof parseBenchArgs>;
export type RunResult = Awaited<ReturnType<typeof runEngine>>;
export type BenchReport = Awaited<ReturnType<typeof runBench>>;

/** bench-side.ts with src/ bundled into one plain JavaScript file: no tsx loader in the measured processes' RSS. */
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

function runSide(file: string, side: Side, engine: Engine, url: string, n: number): Promise<SideRun> {
  return new Promise((resolve, reject) => {
    const child = fork(file, [side, engine, url, String(n)], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('message', (reply: SideReply) => (reply.ok ? resolve(reply.run) : reject(new Error(`in the ${side} process: ${reply.error}`))));
    child.once('exit', (code, signal) => reject(new Error(`the ${side} process exited (${signal ?? `code ${code}`})`)));
  });
}

/** A freshly migrated database; `drop` removes it. */
async function freshDatabase(engine: Engine, postgresUrl: string | undefined, dir: string, side: Side) {
  if (engine === 'sqlite') {
    const url = `file:${join(dir, `${side}.db`)}`;
    await migrate({ databaseUrl: url });
    return { url, drop: async () => {} };
  }
  const name = `bench_${side}_${randomBytes(4).toString('hex')}`;
  const url = await createDatabase(postgresUrl!, name);
  await migrate({ databaseUrl: url });
  return { url, drop: () => dropDatabase(postgresUrl!, name) };
}

const round = (value: number, digits: number) => Number(value.toFixed(digits));
const rate = ({ ms, ops, statements }: Measured) => ({ ms: round(ms, 3), opsPerSec: round((ops * 1000) / Math.max(ms, 0.001), 1), statements });

async function runEngine(file: string, engine: Engine, n: number, postgresUrl: string | undefined) {
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
  const compare = (step: StepName) => {
    const [library, raw] = [rate(measured.library.steps[step]), rate(measured.raw.steps[step])];
    return { ops: measured.raw.steps[step].ops, library, raw, ratio: round(library.opsPerSec / raw.opsPerSec, 3) };
  };
  const steps = Object.fromEntries(STEPS.map((step) => [step, compare(step)])) as Record<StepName, ReturnType<typeof compare>>;
  return {
    engine,
    steps,
    writeCost: measured.library.writeCost!,
    // maxRSS of each side's process, warm-up included, in bytes.
    peakRss: { library: measured.library.peakRssBytes, raw: measured.raw.peakRssBytes },
  };
}

const ENGINE_NAMES: Record<Engine, string> = { sqlite: 'SQLite', postgresql: 'PostgreSQL' };
const STEP_LABELS: Record<StepName, string> = {
  add: '`rooms.add`',
  touch: '`presences.touch`',
  roomQueries: '`getUsers` + `getAnonymousCount` (calls)',
  prunePresences: '`prunePresences` (rows, one call)',
  leaveAll: '`presences.leaveAll`',
  pruneRooms: '`pruneRooms` (rooms, one call)',
  heartbeat: 'heartbeats through `touchPresence` (buffered)',
};

/** The command and machine, then a row per figure with a column pair per engine: the library's ops/s, its ratio to raw. */
function formatTable({ meta, runs }: BenchReport): string {
  const whole = (value: number) => Math.round(value).toLocaleString('en-US');
  const mb = (bytes: number) => `${Math.round(bytes / 2 ** 20)} MB`;
  const row = (label: string, cells: (run: RunResult) => string[]) => `| ${[label, ...runs.flatMap(cells)].join(' | ')} |`;
  const figure = (label: string, cell: (run: RunResult) => string) => row(label, (run) => [cell(run), '']);
  const writes = (perSecond: number, count: number, seconds: number) => `${Number(perSecond.toPrecision(2))} (${count} in ${Math.round(seconds)} s)`;
  return [
    `\`${meta.command}\` on ${meta.cpu} (${meta.cpus} vCPUs, ${meta.memoryGb} GB), Node ${meta.node}, ${meta.platform}; ` +
      `N = ${whole(meta.n)} connections over ${whole(meta.rooms)} rooms:`,
    '',
    row('step', (run) => [`${ENGINE_NAMES[run.engine]} ops/s`, 'vs raw']),
    row('---', () => ['---:', '---:']),
    ...STEPS.map((step) => row(STEP_LABELS[step], ({ steps }) => [whole(steps[step].library.opsPerSec), steps[step].ratio.toFixed(2)])),
    figure('statements for the buffered heartbeats (raw: one per heartbeat)', ({ steps: { heartbeat } }) =>
      `${whole(heartbeat.library.statements)} per ${whole(heartbeat.ops)}`,
    ),
    figure('liveness writes per connection per second', ({ writeCost: c }) => writes(c.livenessPerConnectionSecond, c.livenessWrites, c.seconds)),
    figure('heartbeat writes per connection per second (one heartbeat a second each)', ({ writeCost: c }) =>
      writes(c.heartbeatPerConnectionSecond, c.heartbeatWrites, c.seconds),
    ),
    figure('peak RSS of the process: library (raw)', ({ peakRss }) => `${mb(peakRss.library)} (${mb(peakRss.raw)})`),
  ].join('\n');
}

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
  const n = Number(values.n);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--n takes a positive integer, got ${values.n}`);
  const engines = values.engines.split(',') as Engine[];
  if (!engines.every((engine) => ENGINES.includes(engine))) throw new Error(`--engines takes ${ENGINES.join(',')}, got ${values.engines}`);
  return { n, engines, out: values.out, postgresUrl: values['postgres-url'] };
}

export async function runBench(options: BenchOptions, command: string) {
  const side = await bundleSide();
  const runs = [];
  let server: Awaited<ReturnType<typeof startPostgresServer>> | undefined;
  try {
    for (const engine of options.engines) {
      if (engine === 'postgresql' && !options.postgresUrl) server ??= await startPostgresServer();
      runs.push(await runEngine(side.file, engine, options.n, options.postgresUrl ?? server?.url));
    }
  } finally {
    side.remove();
    await server?.stop();
  }
  const meta = {
    command,
    node: process.version,
    platform: `${process.platform} ${os.release()} ${process.arch}`,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cpus: os.cpus().length,
    memoryGb: round(os.totalmem() / 1024 ** 3, 1),
    n: options.n,
    rooms: roomCount(options.n),
    engines: options.engines,
  };
  const report = { meta, runs };
  console.log(formatTable(report));
  mkdirSync(dirname(options.out), { recursive: true });
  writeFileSync(options.out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nwrote ${options.out}`);
  return report;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  runBench(parseBenchArgs(args), ['npm run bench --', ...args].join(' ')).catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
