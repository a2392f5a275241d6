// Fault run: a busy loop of add/remove/touch against a private PostgreSQL server while
// it has every connection terminated (pg_terminate_backend) and is then restarted.
// Prints the calls made and failed (by error code; anything not a PresenceError is
// counted apart), how long calls took to succeed again after each fault, and the
// events the writer emitted against those another tracker received through shareEvents.
//
//   npm run faults -- [--seconds 30] [--workers 4] [--down 2]
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createPresence, migrate, PresenceError, type PresenceChangedEvent } from '../src/index.ts';
import { createDatabase, startPostgresServer } from '../tests/support/postgresServer.ts';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '30' }, workers: { type: 'string', default: '4' }, down: { type: 'string', default: '2' } },
});
const seconds = Number(values.seconds);
const workers = Number(values.workers);
const downSeconds = Number(values.down);

interface Fault {
  name: string;
  /** When it was injected; the failures after it, until the next one, are counted against it. */
  at: number;
  failures: Map<string, number>;
  /** When calls could succeed again: at once after a terminate, once the server is back after a restart. */
  readyAt: number;
  /** First call started after readyAt that succeeded, when it finished. */
  recoveredAt?: number;
}

const server = await startPostgresServer();
try {
  const url = await createDatabase(server.url, 'faults');
  await migrate({ databaseUrl: url });
  const writer = createPresence({ databaseUrl: url, shareEvents: true, pool: { connectTimeout: 2000 } });
  const reader = createPresence({ databaseUrl: url, shareEvents: true, pool: { connectTimeout: 2000 } });
  const key = (event: PresenceChangedEvent) => `${event.room.channelName}:${event.added?.channelName ?? '-'}:${event.removed?.channelName ?? '-'}`;
  const emitted = new Map<string, number>();
  const delivered = new Map<string, number>();
  const count = (map: Map<string, number>, name: string) => map.set(name, (map.get(name) ?? 0) + 1);
  writer.on('changed', (event) => void (event.remote || count(emitted, key(event))));
  reader.on('changed', (event) => void (event.remote && count(delivered, key(event))));
  let resyncs = 0;
  reader.on('resync', () => void resyncs++);
  const background = new Map<string, number>();
  for (const tracker of [writer, reader]) tracker.on('error', (error) => void count(background, describe(error)));

  const calls = { made: 0, ok: 0 };
  const faults: Fault[] = [];
  const beforeFaults = new Map<string, number>();
  const strays: string[] = [];
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;

  /** One presence operation, timed and classified. */
  async function call(work: () => Promise<unknown>): Promise<void> {
    const begun = performance.now();
    calls.made++;
    try {
      await work();
      calls.ok++;
      for (const fault of faults) if (fault.recoveredAt === undefined && begun >= fault.readyAt) fault.recoveredAt = performance.now();
    } catch (error) {
      count(faults.at(-1)?.failures ?? beforeFaults, describe(error));
      if (!(error instanceof PresenceError)) strays.push(String((error as Error)?.stack ?? error));
      await sleep(10);
    }
  }

  async function worker(id: number): Promise<void> {
    for (let i = 0; elapsed() < seconds; i++) {
      const room = `room.${i % 7}`;
      const channel = `w${id}.chan.${i % 23}`;
      const step = i % 3;
      if (step === 0) await call(() => writer.rooms.add(room, channel, `user.${i % 11}`));
      else if (step === 1) await call(() => writer.presences.touch(channel));
      else await call(() => writer.rooms.remove(room, `w${id}.chan.${(i + 11) % 23}`));
    }
  }

  async function injectFaults(): Promise<void> {
    await sleep(seconds * 300);
    const admin = new pg.Client({ connectionString: server.url });
    admin.on('error', () => {});
    await admin.connect();
    const terminate: Fault = { name: 'pg_terminate_backend', at: performance.now(), failures: new Map(), readyAt: performance.now() };
    faults.push(terminate);
    const terminated = await admin.query(`SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = 'faults'`);
    terminate.name += ` of ${terminated.rows[0].n} connections`;
    await admin.end();
    await sleep(seconds * 300);
    const restart: Fault = { name: 'restart', at: performance.now(), failures: new Map(), readyAt: Number.POSITIVE_INFINITY };
    faults.push(restart);
    await server.halt('fast');
    await sleep(downSeconds * 1000);
    await server.resume();
    restart.readyAt = performance.now();
    restart.name += ` (fast shutdown, down ${((restart.readyAt - restart.at) / 1000).toFixed(1)} s)`;
  }

  await Promise.all([injectFaults(), ...Array.from({ length: workers }, (_, id) => worker(id))]);
  // Let the reader's feed catch up before comparing events.
  for (let quiet = 0, last = -1; quiet < 10; await sleep(200)) {
    const now = total(delivered);
    quiet = now === last ? quiet + 1 : 0;
    last = now;
  }
  await writer.close();
  await reader.close();

  const missing = difference(emitted, delivered);
  const unexpected = difference(delivered, emitted);
  const rows: [string, string][] = [
    ['duration, workers', `${seconds} s, ${workers} concurrent loops of add / touch / remove`],
    ['calls made', String(calls.made)],
    ['calls succeeded', String(calls.ok)],
    ...[...beforeFaults].map(([code, n]): [string, string] => [`calls failed before any fault: ${code}`, String(n)]),
    ...faults.flatMap((fault): [string, string][] => [
      ...[...fault.failures].map(([code, n]): [string, string] => [`calls failed after ${fault.name}: ${code}`, String(n)]),
      [`time to recover after ${fault.name}`, fault.recoveredAt === undefined ? 'never' : `${Math.round(fault.recoveredAt - fault.readyAt)} ms`],
    ]),
    ['failures not a PresenceError', String(strays.length)],
    ['changed events emitted by the writer', String(total(emitted))],
    ['delivered to the other tracker', String(total(delivered) - unexpected)],
    ['lost (emitted, never delivered)', String(missing)],
    ['delivered without an acknowledged write', String(unexpected)],
    ['resync events', String(resyncs)],
    ...[...background].map(([code, n]): [string, string] => [`background errors: ${code}`, String(n)]),
  ];
  console.log(rows.map(([name, value]) => `| ${name} | ${value} |`).join('\n'));
  for (const stray of strays.slice(0, 5)) console.error(`\nNot a PresenceError:\n${stray}`);
  process.exitCode = strays.length > 0 ? 1 : 0;
} finally {
  await server.stop();
}

function describe(error: unknown): string {
  if (error instanceof PresenceError) return error.code;
  return `${(error as Error)?.name ?? typeof error} (not a PresenceError)`;
}

function total(map: Map<string, number>): number {
  return [...map.values()].reduce((sum, n) => sum + n, 0);
}

/** How many of `a`'s entries `b` lacks, counting repeats. */
function difference(a: Map<string, number>, b: Map<string, number>): number {
  return [...a].reduce((sum, [key, n]) => sum + Math.max(0, n - (b.get(key) ?? 0)), 0);
}
