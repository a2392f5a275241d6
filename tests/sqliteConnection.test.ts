// prisma-presence on SQLite: one connection (its own handle, or an application's
// PrismaClient) shared by every caller of a tracker, and another process holding the
// file's write lock.
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { createPresence, type PresenceOptions, type PresenceTracker } from '../src/index.ts';
import { PrismaClient } from '../src/generated/sqlite/client.ts';
import { snapshot, useDatabase } from './support/databases.ts';

describe('SQLite: one connection, many callers', () => {
  const database = useDatabase('sqlite');
  let presence: PresenceTracker | undefined;
  let client: PrismaClient | undefined;
  afterEach(async () => {
    await presence?.close();
    await client?.$disconnect();
    [presence, client] = [undefined, undefined];
  });

  /** The two ways a tracker reaches the file: the library's own connection, or the application's PrismaClient. */
  const connections: Record<string, (url: string) => PresenceOptions> = {
    'its own connection': (url) => ({ databaseUrl: url }),
    "an application's PrismaClient": (url) => {
      client = new PrismaClient({ adapter: new PrismaBetterSqlite3({ url }) });
      return { prisma: client, provider: 'sqlite' };
    },
  };

  it.each(Object.keys(connections))('keeps every acknowledged add and touch when updates roll back while they run, through %s', async (via) => {
    presence = createPresence({ ...connections[via]!(database.url), maxMetadataBytes: 64, touchInterval: 0 });
    // chan.big is in 20 rooms; only in the last does the merged metadata exceed the limit,
    // so each update writes 19 rows, then rolls back.
    const present: string[] = [];
    for (let i = 0; i < 20; i++) {
      await presence.rooms.add(`big.${i}`, 'chan.big', 'u', { metadata: { note: i === 19 ? 'x'.repeat(30) : '' } });
      present.push(`big.${i}/chan.big=u`);
    }
    const acknowledged: string[] = [...present];
    for (let round = 0; round < 10; round++) {
      const updates = Array.from({ length: 3 }, () =>
        expect(presence!.presences.update('chan.big', { more: 'y'.repeat(20) })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' }),
      );
      const adds = Array.from({ length: 10 }, (_, i) => {
        const [room, channel] = [`room.${i % 3}`, `chan.${round}.${i}`];
        return presence!.rooms.add(room, channel).then(() => void acknowledged.push(`${room}/${channel}=-`));
      });
      await Promise.all([...updates, ...adds, presence.touchPresence(() => undefined)('chan.big', 'hello')]);
    }
    expect(acknowledged).toHaveLength(120);
    expect(await snapshot(database.db)).toEqual(acknowledged.sort());
  });
});

describe('SQLite: another process holds the write lock', () => {
  const database = useDatabase('sqlite');
  let presence: PresenceTracker | undefined;
  let holder: Database.Database | undefined;
  afterEach(async () => {
    if (holder?.inTransaction) holder.exec('ROLLBACK');
    holder?.close();
    await presence?.close();
  });

  /** Another connection (as another process would) takes the write lock and keeps it. */
  function holdWriteLock(): Database.Database {
    holder = new Database(database.url.slice('file:'.length));
    holder.exec('BEGIN IMMEDIATE');
    holder.prepare('INSERT INTO "Room" ("channelName") VALUES (?)').run('held');
    return holder;
  }

  it('keeps the event loop running while a write waits for the lock, then writes', async () => {
    presence = createPresence({ databaseUrl: database.url });
    await presence.rooms.getUsers('lobby'); // opened
    const lock = holdWriteLock();
    const stalls = watchEventLoop();
    const adding = presence.rooms.add('lobby', 'chan.1', 'alice');
    setTimeout(() => lock.exec('COMMIT'), 3000);
    await adding;
    expect(stalls.stop()).toBeLessThan(100);
    expect(await snapshot(database.db)).toEqual(['lobby/chan.1=alice']);
  });

  it('gives up with DATABASE_UNAVAILABLE after 5 s, and works again once the lock is released', async () => {
    presence = createPresence({ databaseUrl: database.url });
    const lock = holdWriteLock();
    const started = Date.now();
    await expect(presence.rooms.add('lobby', 'chan.1')).rejects.toMatchObject({ name: 'PresenceError', code: 'DATABASE_UNAVAILABLE' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(5000);
    lock.exec('COMMIT');
    await presence.rooms.add('lobby', 'chan.1');
    expect(await snapshot(database.db)).toEqual(['lobby/chan.1=-']);
    await expect(presence.close()).resolves.toBeUndefined();
    presence = undefined;
  }, 20_000);
});

/** Ticks every 5 ms; `stop()` returns the longest gap between two ticks, in ms. */
function watchEventLoop(): { stop(): number } {
  let last = performance.now();
  let longest = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 5);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(longest, performance.now() - last);
    },
  };
}
