// Shared-event latency: one process commits changes (rooms.add, one every 10 ms), another
// process listens with shareEvents, and each change's delay from its commit (the add
// resolving in the writer) to its delivery (the listener's `changed`) is read on the
// machine's clock, which both processes share. Prints the median, 95th percentile and
// worst per engine. A measurement, not a test.
//   npm run latency -- [--engines sqlite,postgresql] [--changes 1000] [--postgres-url <server url>]
// PostgreSQL: a throwaway local server (tests/support/postgresServer.ts) unless --postgres-url.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createPresence, migrate } from '../src/index.ts';
import { createDatabase, startPostgresServer, type PostgresServer } from '../tests/support/postgresServer.ts';

const SPACING_MS = 10;
const now = () => performance.timeOrigin + performance.now();

const { values } = parseArgs({
  options: {
    engines: { type: 'string', default: 'sqlite,postgresql' },
    changes: { type: 'string', default: '1000' },
    'postgres-url': { type: 'string' },
    listen: { type: 'string' },
  },
});

if (values.listen) await listen(values.listen);
else await measureAll();

/** The listener process: prints `<channel> <time>` for every change it hears. */
async function listen(url: string): Promise<void> {
  const presence = createPresence({ databaseUrl: url, shareEvents: true });
  presence.on('changed', (event) => {
    if (event.added) process.stdout.write(`${event.added.channelName} ${now()}\n`);
  });
  process.stdin.resume().on('end', async () => {
    await presence.close();
    process.exit(0);
  });
}

async function measureAll(): Promise<void> {
  const changes = Number(values.changes);
  let server: PostgresServer | undefined;
  try {
    for (const engine of values.engines.split(',')) {
      let url: string;
      if (engine === 'postgresql') {
        let serverUrl = values['postgres-url'];
        if (!serverUrl) serverUrl = (server = await startPostgresServer()).url;
        url = await createDatabase(serverUrl, `latency_${randomBytes(4).toString('hex')}`);
      } else {
        url = `file:${join(mkdtempSync(join(tmpdir(), 'latency-')), 'presence.db')}`;
      }
      await migrate({ databaseUrl: url });
      const delays = await measure(url, changes);
      console.log(`${engine}: ${changes} changes, delivery after commit: ${summary(delays)}`);
      if (engine === 'sqlite') rmSync(url.slice('file:'.length).replace(/presence\.db$/, ''), { recursive: true, force: true });
    }
  } finally {
    await server?.stop();
  }
}

async function measure(url: string, changes: number): Promise<number[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--listen', url], { stdio: ['pipe', 'pipe', 'inherit'] });
  const heard = new Map<string, number>();
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const [channel, at] = line.split(' ');
    heard.set(channel!, Number(at));
  });
  const writer = createPresence({ databaseUrl: url, shareEvents: true });
  try {
    // The listener reads from where the log was when it started: wait until it hears a change.
    for (let i = 0; !heard.has(`warmup.${i - 1}`); i++) {
      await writer.rooms.add('warmup', `warmup.${i}`);
      await sleep(100);
    }
    const committed = new Map<string, number>();
    for (let i = 0; i < changes; i++) {
      await writer.rooms.add('lobby', `chan.${i}`);
      committed.set(`chan.${i}`, now());
      await sleep(SPACING_MS);
    }
    const deadline = Date.now() + 30_000;
    while ([...committed.keys()].some((channel) => !heard.has(channel))) {
      if (Date.now() > deadline) throw new Error(`the listener missed ${[...committed.keys()].filter((c) => !heard.has(c)).length} changes`);
      await sleep(50);
    }
    return [...committed].map(([channel, at]) => heard.get(channel)! - at);
  } finally {
    await writer.close();
    child.stdin!.end();
    await new Promise((resolve) => child.once('exit', resolve));
  }
}

function summary(delays: number[]): string {
  const sorted = [...delays].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return `median ${at(0.5).toFixed(1)} ms, p95 ${at(0.95).toFixed(1)} ms, worst ${sorted.at(-1)!.toFixed(1)} ms`;
}
