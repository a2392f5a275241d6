// Real OS processes for the multi-process tests: sharing workers
// (tests/support/sharingWorker.ts) driven over stdin, and the real presence-admin bin.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach } from 'vitest';
import { createPresence, type PresenceOptions, type PresenceTracker } from '../../src/index.ts';
import { Mailbox } from './realtime.ts';
import { scratchDir } from './scratch.ts';

const ROOT = new URL('../..', import.meta.url).pathname;

export type Report = Record<string, unknown> & { event?: string; at?: number };

export class Worker {
  readonly inbox = new Mailbox<Report>();
  private constructor(private readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => this.inbox.push(JSON.parse(line) as Report));
  }

  static async start(url: string, env: Record<string, string> = {}): Promise<Worker> {
    // node itself (not the tsx CLI, which runs node as a child): a kill must reach the worker.
    const child = spawn(process.execPath, ['--import', 'tsx', 'tests/support/sharingWorker.ts'], {
      cwd: ROOT,
      env: { ...process.env, ...env, SHARING_DATABASE_URL: url },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const worker = new Worker(child);
    await worker.inbox.next((report) => report.ready === true, 20_000, 'the worker to start');
    return worker;
  }

  async run(op: string, ...args: unknown[]): Promise<void> {
    const done = this.inbox.wait((report) => report.done === op || report.op === op, 60_000, `${op} to finish`);
    this.child.stdin!.write(`${JSON.stringify({ op, args })}\n`);
    const report = await done;
    if (report.error) throw new Error(String(report.error));
  }

  /** Blocks its event loop once the commands before have run: for `ms`, or until `release()`. */
  block(ms?: number): { blocking: Promise<Report>; release(): void } {
    const until = ms === undefined ? join(scratchDir('unblock'), 'released') : undefined;
    const blocking = this.inbox.wait((report) => report.blocking === true, 60_000, 'the worker to block');
    this.child.stdin!.write(`${JSON.stringify({ op: 'block', ms, until })}\n`);
    return { blocking, release: () => until && writeFileSync(until, '') };
  }

  /** Creates `path` once the commands before have run. */
  touch(path: string): void {
    this.child.stdin!.write(`${JSON.stringify({ op: 'touch', path })}\n`);
  }

  events(name: string): Report[] {
    return this.inbox.received.filter((report) => report.event === name);
  }

  /** Dies at once, without closing anything: a crashed server. */
  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited();
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.stdin!.end();
    await this.exited();
  }

  private exited(): Promise<unknown> {
    return new Promise((resolve) => (this.child.exitCode !== null || this.child.signalCode !== null ? resolve(null) : this.child.once('exit', resolve)));
  }
}

/**
 * A process starts reading shared events after the last one it finds, so a change made
 * just before is not news to it. Adds (and removes) sentinel presences until `hears`
 * says the listener got one: from then on it misses nothing.
 */
export async function untilListening(writer: PresenceTracker, hears: (channel: string) => Promise<unknown>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const channel = `chan.sentinel.${Math.random().toString(36).slice(2)}`;
    await writer.rooms.add('sentinel', channel);
    const heard = await hears(channel).then(
      () => true,
      () => false,
    );
    await writer.rooms.remove('sentinel', channel);
    if (heard) return;
    if (attempt === 10) throw new Error('a listener never heard the sentinel');
  }
}

/**
 * The trackers and worker processes a test starts, stopped after it (workers first).
 * `tracker(options)` creates one on `database` with `defaults`; `track` adopts one made otherwise.
 */
export function useProcesses(database: { readonly url: string }, defaults: PresenceOptions = {}) {
  let trackers: PresenceTracker[] = [];
  let workers: Worker[] = [];
  afterEach(async () => {
    const [stopping, closing] = [workers, trackers];
    [workers, trackers] = [[], []];
    await Promise.all(stopping.map((worker) => worker.stop()));
    await Promise.all(closing.map((tracker) => tracker.close()));
  });
  const track = (created: PresenceTracker) => {
    trackers.push(created);
    return created;
  };
  return {
    track,
    tracker: (options: PresenceOptions = {}) => track(createPresence({ databaseUrl: database.url, ...defaults, ...options })),
    async worker(env: Record<string, string> = {}): Promise<Worker> {
      const started = await Worker.start(database.url, env);
      workers.push(started);
      return started;
    },
  };
}
