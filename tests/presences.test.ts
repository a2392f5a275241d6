import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPresence, type PresenceTracker } from '../src/index.ts';
import { manualClock } from './support/clock.ts';
import { snapshot, testEngines, useDatabase } from './support/databases.ts';

describe.each(testEngines())('presences on %s', (engine) => {
  let clock: ReturnType<typeof manualClock>;
  let presence: PresenceTracker;

  const database = useDatabase(engine);
  beforeEach(async () => {
    clock = manualClock();
    presence = createPresence({ databaseUrl: database.url, now: clock.now });
  });
  afterEach(() => presence.close());

  const lastSeen = async () => {
    const rows = await database.db.rows<{ room: string; channel: string; lastSeen: unknown }>(
      'SELECT r."channelName" AS room, p."channelName" AS channel, p."lastSeen" AS "lastSeen" FROM "Presence" p JOIN "Room" r ON r.id = p."roomId" ORDER BY 1, 2',
    );
    return rows.map((row) => `${row.room}/${row.channel}@${new Date(row.lastSeen as string).toISOString()}`);
  };

  it('touch sets lastSeen to now in every room of the channel, and only there', async () => {
    const start = clock.now().toISOString();
    await presence.rooms.add('lobby', 'chan.1');
    await presence.rooms.add('kitchen', 'chan.1');
    await presence.rooms.add('lobby', 'chan.2');
    clock.advance(10);
    await presence.presences.touch('chan.1');
    const later = clock.now().toISOString();
    expect(await lastSeen()).toEqual([`kitchen/chan.1@${later}`, `lobby/chan.1@${later}`, `lobby/chan.2@${start}`]);
  });

  it('touch of an unknown channel changes nothing', async () => {
    await presence.rooms.add('lobby', 'chan.1');
    const before = await lastSeen();
    clock.advance(10);
    await presence.presences.touch('chan.404');
    expect(await lastSeen()).toEqual(before);
  });

  it('leaveAll removes the channel from every room and leaves others alone', async () => {
    await presence.rooms.add('lobby', 'chan.1', 'alice');
    await presence.rooms.add('kitchen', 'chan.1', 'alice');
    await presence.rooms.add('lobby', 'chan.2', 'bob');
    await presence.presences.leaveAll('chan.1');
    expect(await snapshot(database.db)).toEqual(['lobby/chan.2=bob']);
  });

  it('leaveAll of an unknown channel is a no-op', async () => {
    await presence.rooms.add('lobby', 'chan.1');
    await presence.presences.leaveAll('chan.404');
    expect(await snapshot(database.db)).toEqual(['lobby/chan.1=-']);
  });
});
