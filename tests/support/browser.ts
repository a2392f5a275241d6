// The live demo (examples/demo) under test: its server as a real child process, headless
// Chromium to drive its page, and a way to wait for what a page shows.
import { spawn, type ChildProcess } from 'node:child_process';
import { chromium, type Browser } from 'playwright-core';
import { findChromium } from './binaries.ts';

export const root = new URL('../..', import.meta.url).pathname;

export interface DemoProcess {
  /** The address the server printed, like http://127.0.0.1:41234. */
  url: string;
  /** Everything it printed so far, stdout and stderr. */
  output(): string;
  /**
   * Sends `signal` (to its whole process group with `group`) and resolves once the process
   * exited; if it is still running after `timeoutMs`, kills the group and rejects.
   */
  stop(signal?: NodeJS.Signals, options?: { group?: boolean; timeoutMs?: number }): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Whether any process of its group is still running. */
  groupAlive(): boolean;
  /** SIGKILLs whatever is left of its process group (cleanup after a failed test). */
  kill(): void;
}

/**
 * Starts `command` in its own process group and waits for the demo's
 * `prisma-presence demo on http://...` line. Fails with the output if it exits first.
 */
export async function startDemo(command: string, args: string[], env: Record<string, string>, timeoutMs = 30_000): Promise<DemoProcess> {
  const child = spawn(command, args, { cwd: root, env: { ...process.env, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => fail(`did not start within ${timeoutMs} ms`), timeoutMs);
    const check = () => {
      const match = /prisma-presence demo on (http:\/\/\S+)/.exec(output);
      if (match) done(() => resolve(match[1]!));
    };
    const fail = (why: string) => done(() => reject(new Error(`${command} ${args.join(' ')} ${why}; output:\n${output}`)));
    const done = (settle: () => void) => {
      clearTimeout(timer);
      child.stdout!.off('data', check);
      settle(); // a later exit or timeout finds the promise settled and changes nothing
    };
    child.stdout!.on('data', check);
    void exited.then(({ code, signal }) => fail(`exited (${signal ?? code}) before listening`));
  }).catch((error: unknown) => {
    killGroup(child);
    throw error;
  });
  return {
    url,
    output: () => output,
    async stop(signal = 'SIGTERM', { group = false, timeoutMs = 15_000 } = {}) {
      if (group) process.kill(-child.pid!, signal);
      else child.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      const overdue = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          killGroup(child);
          reject(new Error(`still running ${timeoutMs} ms after ${signal}; output:\n${output}`));
        }, timeoutMs);
      });
      return Promise.race([exited, overdue]).finally(() => clearTimeout(timer));
    },
    groupAlive: () => groupAlive(child),
    kill: () => killGroup(child),
  };
}

function groupAlive(child: ChildProcess): boolean {
  try {
    process.kill(-child.pid!, 0);
    return true;
  } catch {
    return false;
  }
}

function killGroup(child: ChildProcess): void {
  if (groupAlive(child)) process.kill(-child.pid!, 'SIGKILL');
}

/** Headless Chromium, the one support/binaries.ts finds; none fails with where it looked. */
export async function launchChromium(): Promise<Browser> {
  const browser = findChromium();
  if (!browser) {
    throw new Error(
      'The browser tests need Chromium: set PRESENCE_TEST_CHROMIUM, install it (`apt-get install -y --no-install-recommends chromium`), ' +
        'or on Linux x64 run `npm ci`, which installs @sparticuz/chromium.',
    );
  }
  return chromium.launch(await browser.launchOptions());
}

/**
 * Reads `read` every 50 ms until it equals `expected` (compared as JSON); on timeout fails
 * with the last value read, so a failure shows what the page showed instead.
 */
export async function until<T>(read: () => Promise<T>, expected: T, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await read();
    if (JSON.stringify(last) === JSON.stringify(expected)) return;
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}: expected ${JSON.stringify(expected)}, last saw ${JSON.stringify(last)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
