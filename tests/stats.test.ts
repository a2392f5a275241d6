import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPresence, type PresenceTracker } from '../src/index.ts';
import { manualClock } from './support/clock.ts';
import { migratedDatabase, testEngines } from './support/databases.ts';

describe.each(testEngines())('rooms.stats on %s', (engine) => {
  let presence: PresenceTracker;
  const clock = manualClock();

  beforeAll(async () => {
    presence = createPresence({ databaseUrl: await migratedDatabase(engine), now: clock.now, maxAge: 60 });
    await presence.rooms.add('lobby', 'chan.1', 'alice');
    await presence.rooms.add('lobby', 'chan.2', 'alice');
    await presence.rooms.add('lobby', 'chan.3');
    await presence.rooms.add('kitchen', 'chan.4', 'bob');
    clock.advance(90);
    await presence.rooms.add('kitchen', 'chan.5', 'alice');
    await presence.rooms.add('kitchen', 'chan.6');
    await presence.rooms.add('attic', 'chan.7');
    await presence.rooms.remove('attic', 'chan.7');
  });
  afterAll(() => presence.close());

  it('counts per room and in total, with distinct users counted once overall', async () => {
    expect(await presence.rooms.stats()).toEqual({
      maxAge: 60,
      servers: [],
      log: { entries: 0, oldest: null },
      total: { rooms: 3, presences: 6, users: 2, anonymous: 2, stale: 4 },
      rooms: [
        { room: 'attic', rooms: 1, presences: 0, users: 0, anonymous: 0, stale: 0 },
        { room: 'kitchen', rooms: 1, presences: 3, users: 2, anonymous: 1, stale: 1 },
        { room: 'lobby', rooms: 1, presences: 3, users: 1, anonymous: 1, stale: 3 },
      ],
    });
  });

  it('narrows to the named rooms and leaves unknown names out', async () => {
    const stats = await presence.rooms.stats(['lobby', 'nowhere']);
    expect(stats.total).toEqual({ rooms: 1, presences: 3, users: 1, anonymous: 1, stale: 3 });
    expect(stats.rooms.map((room) => room.room)).toEqual(['lobby']);
    expect((await presence.rooms.stats([])).total).toEqual({ rooms: 0, presences: 0, users: 0, anonymous: 0, stale: 0 });
  });

  it('takes any number of room names (more than an engine binds as parameters)', async () => {
    const names = ['lobby', ...Array.from({ length: 70_000 }, (_, i) => `nowhere.${i}`)];
    expect((await presence.rooms.stats(names)).total).toEqual({ rooms: 1, presences: 3, users: 1, anonymous: 1, stale: 3 });
  });

  it('uses the max age it is given to decide what is stale', async () => {
    expect((await presence.rooms.stats(undefined, 120)).total.stale).toBe(0);
    await expect(presence.rooms.stats(undefined, -1)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(presence.rooms.stats([''])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
