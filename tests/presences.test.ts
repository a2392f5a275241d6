import { describe, expect, it } from 'vitest';
import { snapshot, testEngines, useDatabase } from './support/databases.ts';
import { useTracker } from './support/tracker.ts';

describe.each(testEngines())('presences on %s', (engine) => {
  const database = useDatabase(engine);
  const tracked = useTracker(database);

  const lastSeen = async () => {
    const rows = await database.db.rows<{ room: string; channel: string; lastSeen: unknown }>(
      'SELECT r."channelName" AS room, p."channelName" AS channel, p."lastSeen" AS "lastSeen" FROM "Presence" p JOIN "Room" r ON r.id = p."roomId" ORDER BY 1, 2',
    );
    return rows.map((row) => `${row.room}/${row.channel}@${new Date(row.lastSeen as string).toISOString()}`);
  };

  it('touch sets lastSeen to now in every room of the channel, and only there', async () => {
    const start = tracked.clock.now().toISOString();
    await tracked.presence.rooms.add('lobby', 'chan.1');
    await tracked.presence.rooms.add('kitchen', 'chan.1');
    await tracked.presence.rooms.add('lobby', 'chan.2');
    tracked.clock.advance(10);
    await tracked.presence.presences.touch('chan.1');
    const later = tracked.clock.now().toISOString();
    expect(await lastSeen()).toEqual([`kitchen/chan.1@${later}`, `lobby/chan.1@${later}`, `lobby/chan.2@${start}`]);
  });

  it('touch of an unknown channel changes nothing', async () => {
    await tracked.presence.rooms.add('lobby', 'chan.1');
    const before = await lastSeen();
    tracked.clock.advance(10);
    await tracked.presence.presences.touch('chan.404');
    expect(await lastSeen()).toEqual(before);
  });

  it('leaveAll removes the channel from every room and leaves others alone', async () => {
    await tracked.presence.rooms.add('lobby', 'chan.1', 'alice');
    await tracked.presence.rooms.add('kitchen', 'chan.1', 'alice');
    await tracked.presence.rooms.add('lobby', 'chan.2', 'bob');
    await tracked.presence.presences.leaveAll('chan.1');
    expect(await snapshot(database.db)).toEqual(['lobby/chan.2=bob']);
  });

  it('leaveAll of an unknown channel is a no-op', async () => {
    await tracked.presence.rooms.add('lobby', 'chan.1');
    await tracked.presence.presences.leaveAll('chan.404');
    expect(await snapshot(database.db)).toEqual(['lobby/chan.1=-']);
  });
});
