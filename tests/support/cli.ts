// presence-admin in this process, with buffered output, and seeding helpers for its tests.
import { run } from '../../src/cli/program.ts';
import { createPresence } from '../../src/index.ts';

export interface CliResult {
  code: number;
  out: string;
  err: string;
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

