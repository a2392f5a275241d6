import { beforeEach, describe, expect, it } from 'vitest';
import type { PresenceChangedEvent } from '../src/index.ts';
import { testEngines, useDatabase } from './support/databases.ts';
import { useTracker } from './support/tracker.ts';

describe.each(testEngines())('changed events on %s', (engine) => {
  let events: PresenceChangedEvent[];
  const listener = (event: PresenceChangedEvent) => void events.push(event);

  const database = useDatabase(engine);
  const tracked = useTracker(database, { maxAge: 60 });
  beforeEach(() => {
    events = [];
    tracked.presence.on('changed', listener);
  });

  const presenceId = async (room: string, channel: string) => {
    const [row] = await database.db.rows<{ id: number }>(
      'SELECT p.id FROM "Presence" p JOIN "Room" r ON r.id = p."roomId" WHERE r."channelName" = ? AND p."channelName" = ?',
      room,
      channel,
    );
    return Number(row!.id);
  };

  it('add emits one event whose payload is the new presence and its room', async () => {
    const room = await tracked.presence.rooms.add('lobby', 'chan.1', 7);
    expect(events).toEqual([
      {
        room,
        added: { id: await presenceId('lobby', 'chan.1'), roomId: room.id, channelName: 'chan.1', userId: '7', lastSeen: tracked.clock.now(), metadata: null, serverId: null },
        removed: null,
        bulkChange: false,
        pruned: [],
        remote: false,
      },
    ]);
  });

  it('re-adding a present channel with its user emits nothing; with another user, one change: the new presence added, the old removed', async () => {
    await tracked.presence.rooms.add('lobby', 'chan.1', 'alice');
    await tracked.presence.rooms.add('lobby', 'chan.1', 'alice');
    expect(events).toHaveLength(1);
    await tracked.presence.rooms.add('lobby', 'chan.1', 'bob');
    expect(events).toHaveLength(2);
    expect(events[1]).toMatchObject({ added: { channelName: 'chan.1', userId: 'bob' }, removed: { channelName: 'chan.1', userId: 'alice' }, bulkChange: false });
    expect(events[1]!.added!.id).toBe(events[1]!.removed!.id);
  });

  it('remove emits one event with the removed presence', async () => {
    const room = await tracked.presence.rooms.add('lobby', 'chan.1', 'alice');
    const id = await presenceId('lobby', 'chan.1');
    events = [];
    await tracked.presence.rooms.remove('lobby', 'chan.1');
    expect(events).toEqual([
      {
        room,
        added: null,
        removed: { id, roomId: room.id, channelName: 'chan.1', userId: 'alice', lastSeen: tracked.clock.now(), metadata: null, serverId: null },
        bulkChange: false,
        pruned: [],
        remote: false,
      },
    ]);
    await tracked.presence.rooms.remove('lobby', 'chan.1');
    expect(events).toHaveLength(1);
  });

  it('leaveAll emits one removal per room the channel was in', async () => {
    const lobby = await tracked.presence.rooms.add('lobby', 'chan.1');
    const kitchen = await tracked.presence.rooms.add('kitchen', 'chan.1');
    await tracked.presence.rooms.add('kitchen', 'chan.2');
    events = [];
    await tracked.presence.presences.leaveAll('chan.1');
    const rooms = events.map((event) => event.room).sort((a, b) => a.id - b.id);
    expect(rooms).toEqual([lobby, kitchen].sort((a, b) => a.id - b.id));
    expect(events.every((event) => event.removed?.channelName === 'chan.1' && !event.added && !event.bulkChange)).toBe(true);
  });

  it('prunePresences emits one bulk change per affected room, listing who it removed, and none for untouched rooms', async () => {
    const lobby = await tracked.presence.rooms.add('lobby', 'chan.1', 'alice');
    await tracked.presence.rooms.add('lobby', 'chan.2');
    const kitchen = await tracked.presence.rooms.add('kitchen', 'chan.3', 'bob');
    const stale = tracked.clock.now();
    tracked.clock.advance(90);
    await tracked.presence.rooms.add('attic', 'chan.4');
    events = [];
    expect(await tracked.presence.rooms.prunePresences()).toBe(3);
    const sorted = [...events].sort((a, b) => a.room.id - b.room.id);
    const gone = (room: { id: number }, channelName: string, userId: string | null) =>
      expect.objectContaining({ roomId: room.id, channelName, userId, lastSeen: stale });
    expect(sorted).toEqual([
      { room: lobby, added: null, removed: null, bulkChange: true, pruned: expect.any(Array), remote: false },
      { room: kitchen, added: null, removed: null, bulkChange: true, pruned: [gone(kitchen, 'chan.3', 'bob')], remote: false },
    ]);
    const lobbyPruned = [...sorted[0]!.pruned].sort((a, b) => a.channelName.localeCompare(b.channelName));
    expect(lobbyPruned).toEqual([gone(lobby, 'chan.1', 'alice'), gone(lobby, 'chan.2', null)]);
  });

  it('nothing pruned, nothing emitted', async () => {
    await tracked.presence.rooms.add('lobby', 'chan.1');
    events = [];
    await tracked.presence.rooms.prunePresences();
    await tracked.presence.rooms.pruneRooms();
    expect(events).toEqual([]);
  });

  it('off stops delivery', async () => {
    tracked.presence.off('changed', listener);
    await tracked.presence.rooms.add('lobby', 'chan.1');
    expect(events).toEqual([]);
  });

  it('a throwing listener does not fail the operation; its error goes to error listeners', async () => {
    const errors: Error[] = [];
    tracked.presence.on('changed', () => {
      throw new Error('listener broke');
    });
    tracked.presence.on('error', (error) => void errors.push(error));
    await expect(tracked.presence.rooms.add('lobby', 'chan.1')).resolves.toMatchObject({ channelName: 'lobby' });
    expect(errors.map((error) => error.message)).toEqual(['listener broke']);
    expect(events).toHaveLength(1);
  });

  it('a rejecting async listener is reported to error listeners', async () => {
    const errors: Error[] = [];
    tracked.presence.on('changed', async () => {
      throw new Error('async listener broke');
    });
    tracked.presence.on('error', (error) => void errors.push(error));
    await tracked.presence.rooms.add('lobby', 'chan.1');
    await new Promise((resolve) => setImmediate(resolve));
    expect(errors.map((error) => error.message)).toEqual(['async listener broke']);
  });
});
