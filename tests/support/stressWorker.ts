// One OS process of the concurrency tests. Role "writer": a seeded random mix of add,
// remove, touch and leaveAll on its own channels over shared rooms, printing one JSON
// line per acknowledged operation (stdout to a pipe is synchronous, so a line printed
// is a line the parent gets, even if this process is killed right after). Role
// "pruner": until its stdin closes, plants stale "ghost" presences in the shared rooms
// and runs prunePresences and pruneRooms in a tight loop.
import Database from 'better-sqlite3';
import pg from 'pg';
import { createPresence, type PresenceChangedEvent } from '../../src/index.ts';

export interface WorkerConfig {
  role: 'writer' | 'pruner';
  url: string;
  id: number;
  seed: number;
  operations: number;
  rooms: number;
  channels: number;
  /** What the writer listens to beyond `changed`: per-user events, or shared events too. */
  listens?: 'changed' | 'users' | 'shared';
}

/** What a writer prints per acknowledged operation. */
export type AckedOperation =
  | { op: 'add'; room: string; channel: string; user: string | null }
  | { op: 'remove'; room: string; channel: string }
  | { op: 'touch'; channel: string }
  | { op: 'leaveAll'; channel: string };

const config = JSON.parse(process.env.STRESS_CONFIG ?? '{}') as WorkerConfig;
const LIVE_MAX_AGE = 600;

function random(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An independent reader, to check each add right after it is acknowledged. */
async function openReader(url: string) {
  const query = 'SELECT p."userId" AS "userId" FROM "Presence" p JOIN "Room" r ON r.id = p."roomId" WHERE r."channelName" = $1 AND p."channelName" = $2';
  if (url.startsWith('file:')) {
    const db = new Database(url.slice('file:'.length), { readonly: true, timeout: 5000 });
    const statement = db.prepare(query.replace(/\$\d/g, '?'));
    return {
      find: async (room: string, channel: string) => statement.all(room, channel) as { userId: string | null }[],
      close: async () => void db.close(),
    };
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return {
    find: async (room: string, channel: string) => (await client.query(query, [room, channel])).rows as { userId: string | null }[],
    close: () => client.end(),
  };
}

async function writer() {
  const next = random(config.seed);
  const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]!;
  const rooms = Array.from({ length: config.rooms }, (_, i) => `room.${i}`);
  const channels = Array.from({ length: config.channels }, (_, i) => `w${config.id}.c${i}`);
  const users = [null, `user.${config.id}.a`, `user.${config.id}.b`, 'user.shared'];
  const presence = createPresence({ databaseUrl: config.url, maxAge: LIVE_MAX_AGE, shareEvents: config.listens === 'shared' });
  const added: PresenceChangedEvent[] = [];
  presence.on('changed', (event) => void (event.added && !event.remote && added.push(event)));
  if (config.listens === 'users' || config.listens === 'shared') presence.on('userJoined', () => {});
  const reader = await openReader(config.url);
  const present = new Map<string, string | null>(); // room|channel this writer has acknowledged as present, with its user
  const failures: string[] = [];

  for (let i = 0; i < config.operations; i++) {
    const roll = next();
    const channel = pick(channels);
    let ack: AckedOperation;
    process.stdout.write(`${JSON.stringify({ begin: i })}\n`);
    if (roll < 0.5) {
      const room = pick(rooms);
      const user = pick(users);
      const key = `${room}|${channel}`;
      const eventsBefore = added.length;
      await presence.rooms.add(room, channel, user);
      const rows = await reader.find(room, channel);
      if (rows.length !== 1 || rows[0]!.userId !== user) failures.push(`add ${key} as ${user} not visible after ack: ${JSON.stringify(rows)}`);
      const expectedEvents = present.has(key) && present.get(key) === user ? 0 : 1;
      if (added.length - eventsBefore !== expectedEvents) failures.push(`add ${key} emitted ${added.length - eventsBefore} added events, expected ${expectedEvents}`);
      present.set(key, user);
      ack = { op: 'add', room, channel, user };
    } else if (roll < 0.7) {
      const room = pick(rooms);
      await presence.rooms.remove(room, channel);
      present.delete(`${room}|${channel}`);
      ack = { op: 'remove', room, channel };
    } else if (roll < 0.9) {
      await presence.presences.touch(channel);
      ack = { op: 'touch', channel };
    } else {
      await presence.presences.leaveAll(channel);
      for (const room of rooms) present.delete(`${room}|${channel}`);
      ack = { op: 'leaveAll', channel };
    }
    process.stdout.write(`${JSON.stringify({ ack })}\n`);
  }
  await reader.close();
  await presence.close();
  process.stdout.write(`${JSON.stringify({ done: true, failures, addedEvents: added.length })}\n`);
}

async function pruner() {
  const live = createPresence({ databaseUrl: config.url, maxAge: LIVE_MAX_AGE });
  const ghosts = createPresence({ databaseUrl: config.url, now: () => new Date(Date.now() - 3_600_000) });
  let stopping = false;
  process.stdin.on('data', () => {});
  process.stdin.on('end', () => (stopping = true));
  let loops = 0;
  let prunedPresences = 0;
  let prunedRooms = 0;
  while (!stopping) {
    const room = `room.${loops % config.rooms}`;
    await ghosts.rooms.add(room, `ghost.${loops}`);
    prunedPresences += await live.rooms.prunePresences();
    prunedRooms += await live.rooms.pruneRooms();
    loops++;
    // better-sqlite3 answers synchronously: yield so that stdin's end is noticed.
    await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all([live.close(), ghosts.close()]);
  process.stdout.write(`${JSON.stringify({ done: true, loops, prunedPresences, prunedRooms })}\n`);
}

try {
  await (config.role === 'pruner' ? pruner() : writer());
} catch (error) {
  process.stdout.write(`${JSON.stringify({ error: String((error as Error)?.stack ?? error) })}\n`);
  process.exitCode = 1;
}
