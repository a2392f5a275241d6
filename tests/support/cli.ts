// presence-admin in this process (cli) or as the real bin (presenceAdmin), and seeding helpers for its tests.
import { execFile } from 'node:child_process';
import { run } from '../../src/cli/program.ts';
import { createPresence } from '../../src/index.ts';

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

const ROOT = new URL('../..', import.meta.url).pathname;

export interface BinResult {
  /** The exit code, or null when a signal ended it. */
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the real bin (`node bin/presence-admin.js`, which runs dist/) the way cron would:
 * in `cwd` (this package by default) with nothing in its environment but PATH and `env`.
 */
export function presenceAdmin(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<BinResult> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [`${ROOT}bin/presence-admin.js`, ...args],
      { cwd: options.cwd ?? ROOT, env: { PATH: process.env.PATH ?? '', ...options.env }, timeout: 20_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        done({ code, stdout, stderr });
      },
    );
  });
}

/** Runs presence-admin in this process and collects what it writes. */
export async function cli(...argv: string[]): Promise<CliResult> {
  let out = '';
  let err = '';
  const code = await run(argv, { out: (text) => void (out += text), err: (text) => void (err += text) });
  return { code, out, err };
}

/** Adds presences whose lastSeen is `ageSeconds` in the past; entries are `room/channel`. */
export async function seedPresences(url: string, ageSeconds: number, ...entries: string[]): Promise<void> {
  const presence = createPresence({ databaseUrl: url, now: () => new Date(Date.now() - ageSeconds * 1000) });
  try {
    for (const entry of entries) {
      const [room, channel] = entry.split('/') as [string, string];
      await presence.rooms.add(room, channel);
    }
  } finally {
    await presence.close();
  }
}

/** Creates rooms without presences (a presence added, then removed). */
export async function seedEmptyRooms(url: string, ...rooms: string[]): Promise<void> {
  const presence = createPresence({ databaseUrl: url });
  try {
    for (const room of rooms) {
      await presence.rooms.add(room, 'chan.tmp');
      await presence.rooms.remove(room, 'chan.tmp');
    }
  } finally {
    await presence.close();
  }
}

