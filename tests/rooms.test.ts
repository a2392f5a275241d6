import { beforeEach, describe, expect, it } from 'vitest';
import { createPresence, type PresenceChangedEvent } from '../src/index.ts';
import { roomNames, snapshot, testEngines, useDatabase } from './support/databases.ts';
import { useTracker } from './support/tracker.ts';

describe.each(testEngines())('rooms on %s', (engine) => {
  let events: PresenceChangedEvent[];

  const database = useDatabase(engine);
  const tracked = useTracker(database, { maxAge: 60 });
  beforeEach(() => {
    events = [];
    tracked.presence.on('changed', (event) => void events.push(event));
  });

  describe('add', () => {
    it('creates the room and the presence, and returns the room', async () => {
      const room = await tracked.presence.rooms.add('lobby', 'chan.1', 'alice');
      const [stored] = await database.db.rows<{ id: number; channelName: string }>('SELECT id, "channelName" FROM "Room"');
      expect(room).toEqual({ id: Number(stored!.id), channelName: 'lobby' });
      expect(await snapshot(database.db)).toEqual(['lobby/chan.1=alice']);
    });

    it('stores numeric user ids as strings and missing users as null', async () => {
      await tracked.presence.rooms.add('lobby', 'chan.1', 42);
      await tracked.presence.rooms.add('lobby', 'chan.2');
      await tracked.presence.rooms.add('lobby', 'chan.3', null);
      expect(await snapshot(database.db)).toEqual(['lobby/chan.1=42', 'lobby/chan.2=-', 'lobby/chan.3=-']);
    });

    it('reuses an existing room', async () => {
      const first = await tracked.presence.rooms.add('lobby', 'chan.1');
      const second = await tracked.presence.rooms.add('lobby', 'chan.2');
      expect(second).toEqual(first);
      expect(await roomNames(database.db)).toEqual(['lobby']);
    });

    it('puts one channel in several rooms', async () => {
      await tracked.presence.rooms.add('lobby', 'chan.1', 'alice');
      await tracked.presence.rooms.add('kitchen', 'chan.1', 'alice');
      expect(await snapshot(database.db)).toEqual(['kitchen/chan.1=alice', 'lobby/chan.1=alice']);
    });

    it('is idempotent: a second add refreshes lastSeen and emits nothing', async () => {
      await tracked.presence.rooms.add('lobby', 'chan.1', 'alice');
      tracked.clock.advance(30);
      await tracked.presence.rooms.add('lobby', 'chan.1', 'alice');
      const rows = await database.db.rows<{ lastSeen: unknown }>('SELECT "lastSeen" FROM "Presence"');
      expect(rows).toHaveLength(1);
      expect(new Date(rows[0]!.lastSeen as string).toISOString()).toBe(tracked.clock.now().toISOString());
      expect(events.filter((event) => event.added)).toHaveLength(1);
    });

    it('updates the user when the same channel is added with another user', async () => {
      await tracked.presence.rooms.add('lobby', 'chan.1', 'alice');
      await tracked.presence.rooms.add('lobby', 'chan.1', 'bob');
      expect(await snapshot(database.db)).toEqual(['lobby/chan.1=bob']);
      expect(await tracked.presence.rooms.getUsers('lobby')).toEqual(['bob']);
    });

    it('re-creates a room that was pruned after this process last used it', async () => {
      await tracked.presence.rooms.add('lobby', 'chan.1');
      await database.db.rows('DELETE FROM "Presence"');
      await database.db.rows('DELETE FROM "Room"');
      const room = await tracked.presence.rooms.add('lobby', 'chan.2');
      expect(await snapshot(database.db)).toEqual(['lobby/chan.2=-']);
      expect(room.channelName).toBe('lobby');
    });
  });

  describe('remove', () => {
    it('removes only that channel from only that room', async () => {
      await tracked.presence.rooms.add('lobby', 'chan.1');
      await tracked.presence.rooms.add('lobby', 'chan.2');
      await tracked.presence.rooms.add('kitchen', 'chan.1');
      await tracked.presence.rooms.remove('lobby', 'chan.1');
      expect(await snapshot(database.db)).toEqual(['kitchen/chan.1=-', 'lobby/chan.2=-']);
    });

    it('is a no-op for an unknown room or channel', async () => {
      await tracked.presence.rooms.add('lobby', 'chan.1');
      await tracked.presence.rooms.remove('nowhere', 'chan.1');
      await tracked.presence.rooms.remove('lobby', 'chan.404');
      expect(await snapshot(database.db)).toEqual(['lobby/chan.1=-']);
      expect(events.filter((event) => event.removed)).toEqual([]);
    });

    it('keeps the room (pruneRooms removes it later)', async () => {
      await tracked.presence.rooms.add('lobby', 'chan.1');
      await tracked.presence.rooms.remove('lobby', 'chan.1');
      expect(await roomNames(database.db)).toEqual(['lobby']);
    });
  });

  describe('getUsers and getAnonymousCount', () => {
    it('lists distinct users, sorted, and counts anonymous connections', async () => {
      await tracked.presence.rooms.add('lobby', 'chan.1', 'bob');
      await tracked.presence.rooms.add('lobby', 'chan.2', 'alice');
      await tracked.presence.rooms.add('lobby', 'chan.3', 'bob');
      await tracked.presence.rooms.add('lobby', 'chan.4');
      await tracked.presence.rooms.add('lobby', 'chan.5');
      await tracked.presence.rooms.add('kitchen', 'chan.6', 'carol');
      await tracked.presence.rooms.add('kitchen', 'chan.7');
      expect(await tracked.presence.rooms.getUsers('lobby')).toEqual(['alice', 'bob']);
      expect(await tracked.presence.rooms.getAnonymousCount('lobby')).toBe(2);
      expect(await tracked.presence.rooms.getUsers('kitchen')).toEqual(['carol']);
      expect(await tracked.presence.rooms.getAnonymousCount('kitchen')).toBe(1);
    });

    it('answers [] and 0 for an unknown room', async () => {
      expect(await tracked.presence.rooms.getUsers('nowhere')).toEqual([]);
      expect(await tracked.presence.rooms.getAnonymousCount('nowhere')).toBe(0);
    });
  });

  describe('prunePresences', () => {
    it('removes presences older than the max age and keeps the rest', async () => {
      await tracked.presence.rooms.add('lobby', 'chan.old');
      await tracked.presence.rooms.add('kitchen', 'chan.old2', 'alice');
      tracked.clock.advance(45);
      await tracked.presence.rooms.add('lobby', 'chan.new', 'bob');
      tracked.clock.advance(30); // old ones are 75 s old, the new one 30 s
      expect(await tracked.presence.rooms.prunePresences()).toBe(2);
      expect(await snapshot(database.db)).toEqual(['lobby/chan.new=bob']);
    });

    it('keeps a presence exactly at the max age', async () => {
      await tracked.presence.rooms.add('lobby', 'chan.1');
      tracked.clock.advance(60);
      expect(await tracked.presence.rooms.prunePresences()).toBe(0);
      tracked.clock.advance(0.001);
      expect(await tracked.presence.rooms.prunePresences()).toBe(1);
    });

    it('takes a max age argument over the default', async () => {
      await tracked.presence.rooms.add('lobby', 'chan.1');
      tracked.clock.advance(20);
      expect(await tracked.presence.rooms.prunePresences(30)).toBe(0);
      expect(await tracked.presence.rooms.prunePresences(10)).toBe(1);
    });

    it('spares a presence that was touched recently', async () => {
      await tracked.presence.rooms.add('lobby', 'chan.1');
      tracked.clock.advance(50);
      await tracked.presence.presences.touch('chan.1');
      tracked.clock.advance(50);
      expect(await tracked.presence.rooms.prunePresences()).toBe(0);
    });

    it('counts removals the same whether or not anyone listens', async () => {
      const quiet = createPresence({ databaseUrl: database.url, now: tracked.clock.now });
      await quiet.rooms.add('lobby', 'chan.1');
      await quiet.rooms.add('lobby', 'chan.2');
      tracked.clock.advance(61);
      expect(await quiet.rooms.prunePresences()).toBe(2);
      await quiet.close();
    });
  });

  describe('pruneRooms', () => {
    it('removes only rooms without presences', async () => {
      await tracked.presence.rooms.add('lobby', 'chan.1');
      await tracked.presence.rooms.add('kitchen', 'chan.2');
      await tracked.presence.rooms.add('attic', 'chan.3');
      await tracked.presence.rooms.remove('kitchen', 'chan.2');
      await tracked.presence.presences.leaveAll('chan.3');
      expect(await tracked.presence.rooms.pruneRooms()).toBe(2);
      expect(await roomNames(database.db)).toEqual(['lobby']);
      expect(await tracked.presence.rooms.pruneRooms()).toBe(0);
    });

    it('lets a pruned room be joined again', async () => {
      await tracked.presence.rooms.add('lobby', 'chan.1');
      await tracked.presence.rooms.remove('lobby', 'chan.1');
      await tracked.presence.rooms.pruneRooms();
      await tracked.presence.rooms.add('lobby', 'chan.2');
      expect(await snapshot(database.db)).toEqual(['lobby/chan.2=-']);
    });
  });
});
