import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPresence, PresenceError, type PresenceTracker } from '../src/index.ts';
import { emptyDatabase, inspect, migratedDatabase, roomNames, snapshot, testEngines, type Inspector } from './support/databases.ts';

const tooLong = 'x'.repeat(256);
const badNames: [string, unknown][] = [
  ['empty', ''],
  ['a number', 42],
  ['null', null],
  ['undefined', undefined],
  ['an object', { name: 'lobby' }],
  ['256 characters', tooLong],
  ['containing a NUL byte', 'lob\u0000by'],
];
const badUserIds: [string, unknown][] = [
  ['an object', { id: 1 }],
  ['a boolean', true],
  ['a fraction', 1.5],
  ['NaN', Number.NaN],
  ['an empty string', ''],
  ['256 characters', tooLong],
  ['a string containing a NUL byte', 'ali\u0000ce'],
];
const badMaxAges: [string, unknown][] = [
  ['zero', 0],
  ['negative', -5],
  ['infinite', Number.POSITIVE_INFINITY],
  ['NaN', Number.NaN],
  ['a string', '60'],
  ['too large to compute a date (1e300)', 1e300],
  ['past 100 years', 3_155_760_001],
];

describe.each(testEngines())('bad input on %s', (engine) => {
  let db: Inspector;
  let presence: PresenceTracker;

  beforeAll(async () => {
    const url = await migratedDatabase(engine);
    db = await inspect(url);
    presence = createPresence({ databaseUrl: url });
    await presence.rooms.add('lobby', 'chan.ok', 'alice');
  });
  afterAll(async () => {
    await presence.close();
    await db.close();
  });

  let before: string[];
  beforeEach(async () => {
    before = [...(await snapshot(db)), ...(await roomNames(db))];
  });
  afterEach(async () => {
    expect([...(await snapshot(db)), ...(await roomNames(db))], 'bad input must write nothing').toEqual(before);
  });

  const invalid = (what: RegExp) => expect.objectContaining({ name: 'PresenceError', code: 'INVALID_ARGUMENT', message: expect.stringMatching(what) });

  it.each(badNames)('add rejects a room name that is %s', async (_kind, name) => {
    await expect(presence.rooms.add(name as string, 'chan.1')).rejects.toEqual(invalid(/roomChannelName/));
  });

  it.each(badNames)('add rejects a channel name that is %s', async (_kind, name) => {
    await expect(presence.rooms.add('lobby', name as string)).rejects.toEqual(invalid(/userChannelName/));
  });

  it.each(badUserIds)('add rejects a user id that is %s', async (_kind, userId) => {
    await expect(presence.rooms.add('lobby', 'chan.1', userId as string)).rejects.toEqual(invalid(/userId/));
  });

  it('accepts names of exactly 255 characters', async () => {
    const name = 'y'.repeat(255);
    await presence.rooms.add(name, name, name);
    expect(await presence.rooms.getUsers(name)).toEqual([name]);
    await presence.presences.leaveAll(name);
    await presence.rooms.pruneRooms();
    before = [...(await snapshot(db)), ...(await roomNames(db))];
  });

  it.each(badNames)('remove, getUsers, getAnonymousCount, touch and leaveAll reject a name that is %s', async (_kind, name) => {
    const bad = name as string;
    await expect(presence.rooms.remove(bad, 'chan.ok')).rejects.toBeInstanceOf(PresenceError);
    await expect(presence.rooms.remove('lobby', bad)).rejects.toBeInstanceOf(PresenceError);
    await expect(presence.rooms.getUsers(bad)).rejects.toBeInstanceOf(PresenceError);
    await expect(presence.rooms.getAnonymousCount(bad)).rejects.toBeInstanceOf(PresenceError);
    await expect(presence.presences.touch(bad)).rejects.toBeInstanceOf(PresenceError);
    await expect(presence.presences.leaveAll(bad)).rejects.toBeInstanceOf(PresenceError);
  });

  it.each(badMaxAges)('prunePresences rejects a max age that is %s', async (_kind, maxAge) => {
    await expect(presence.rooms.prunePresences(maxAge as number)).rejects.toEqual(invalid(/^maxAge must be/));
  });

  it.each(badMaxAges)('stats rejects a max age that is %s', async (_kind, maxAge) => {
    await expect(presence.rooms.stats(undefined, maxAge as number)).rejects.toEqual(invalid(/^maxAge must be/));
  });

  it('accepts a max age of 100 years', async () => {
    expect((await presence.rooms.stats(['lobby'], 3_155_760_000)).total.stale).toBe(0);
  });

  it.each([
    ['a string', 'lobby'],
    ['a Set', new Set(['lobby'])],
    ['an array with a NUL byte in a name', ['lob\u0000by']],
  ])('stats rejects room names given as %s', async (_kind, rooms) => {
    await expect(presence.rooms.stats(rooms as never)).rejects.toEqual(invalid(/room name/));
  });

  it.each(badMaxAges.filter(([kind]) => kind !== 'a string'))('createPresence rejects a max age that is %s', (_kind, maxAge) => {
    expect(() => createPresence({ databaseUrl: 'file:./unused.db', maxAge: maxAge as number })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('maxAge') }),
    );
  });
});

describe.each(testEngines())('a database without the presence tables on %s', (engine) => {
  it('fails with MIGRATION_REQUIRED and says to run presence-admin migrate', async () => {
    const url = await emptyDatabase(engine);
    if (engine === 'sqlite') {
      // An existing file without tables (a missing file is refused before connecting).
      const db = await inspect(url);
      await db.rows('CREATE TABLE unrelated (id INTEGER)');
      await db.close();
    }
    const presence = createPresence({ databaseUrl: url });
    await expect(presence.rooms.add('lobby', 'chan.1')).rejects.toMatchObject({
      code: 'MIGRATION_REQUIRED',
      message: expect.stringContaining('presence-admin migrate'),
    });
    await presence.close();
  });
});

describe('a SQLite file that does not exist', () => {
  it('is refused with MIGRATION_REQUIRED instead of being created empty', async () => {
    const url = await emptyDatabase('sqlite');
    expect(() => createPresence({ databaseUrl: url })).toThrow(expect.objectContaining({ code: 'MIGRATION_REQUIRED' }));
  });
});

describe('a closed tracker', () => {
  it('rejects every call with CLOSED, and closing twice is fine', async () => {
    const presence = createPresence({ databaseUrl: await migratedDatabase('sqlite') });
    await presence.close();
    await presence.close();
    await expect(presence.rooms.add('lobby', 'chan.1')).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(presence.presences.touch('chan.1')).rejects.toMatchObject({ code: 'CLOSED' });
  });
});
