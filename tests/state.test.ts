// Presence state: metadata, dead-server reaping and the reconnect grace period.
import { beforeEach, describe, expect, it } from 'vitest';
import {
  createPresence,
  migrate,
  PresenceError,
  type PresenceChangedEvent,
  type PresenceTracker,
  type PresenceUpdatedEvent,
} from '../src/index.ts';
import { hostname } from 'node:os';
import { cli } from './support/cli.ts';
import { manualClock } from './support/clock.ts';
import { emptyDatabase, inspect, snapshot, testEngines, useDatabase } from './support/databases.ts';
import { eventually } from './support/realtime.ts';
import { untilListening, useProcesses } from './support/workers.ts';

describe.each(testEngines())('presence state on %s', (engine) => {
  const database = useDatabase(engine);
  const { tracker, track, worker } = useProcesses(database);

  beforeEach(() => database.db.rows('DELETE FROM "PresenceServer"'));

  describe('metadata', () => {
    it('round-trips through add and getPresences; a re-add without metadata keeps it, with metadata replaces it', async () => {
      const presence = tracker();
      const updates: PresenceUpdatedEvent[] = [];
      presence.on('updated', (event) => void updates.push(event));
      await presence.rooms.add('lobby', 'chan.1', 'alice', { metadata: { status: 'typing', cursor: { x: 1, y: 2 }, tags: ['a'] } });
      await presence.rooms.add('lobby', 'chan.2');
      const listed = await presence.rooms.getPresences('lobby');
      expect(listed.map(({ channelName, userId, metadata }) => ({ channelName, userId, metadata }))).toEqual([
        { channelName: 'chan.1', userId: 'alice', metadata: { status: 'typing', cursor: { x: 1, y: 2 }, tags: ['a'] } },
        { channelName: 'chan.2', userId: null, metadata: null },
      ]);
      await presence.rooms.add('lobby', 'chan.1', 'alice');
      expect((await presence.rooms.getPresences('lobby'))[0]!.metadata).toEqual({ status: 'typing', cursor: { x: 1, y: 2 }, tags: ['a'] });
      expect(updates).toEqual([]);
      await presence.rooms.add('lobby', 'chan.1', 'alice', { metadata: { status: 'away' } });
      expect((await presence.rooms.getPresences('lobby'))[0]!.metadata).toEqual({ status: 'away' });
      expect(updates.map((event) => [event.room.channelName, event.presence.metadata, event.remote])).toEqual([['lobby', { status: 'away' }, false]]);
      expect(await presence.rooms.getPresences('nowhere')).toEqual([]);
    });

    it('update merges by default, replaces on request, in every room or one, with one updated event per presence', async () => {
      const presence = tracker();
      const updates: PresenceUpdatedEvent[] = [];
      presence.on('updated', (event) => void updates.push(event));
      await presence.rooms.add('lobby', 'chan.1', 'alice', { metadata: { status: 'here', page: '/home' } });
      await presence.rooms.add('kitchen', 'chan.1', 'alice', { metadata: { status: 'here' } });
      expect(await presence.presences.update('chan.1', { status: 'typing' })).toBe(2);
      const state = async () =>
        Object.fromEntries(
          await Promise.all(['lobby', 'kitchen'].map(async (room) => [room, (await presence.rooms.getPresences(room))[0]!.metadata])),
        );
      expect(await state()).toEqual({ lobby: { status: 'typing', page: '/home' }, kitchen: { status: 'typing' } });
      expect(updates.map((event) => [event.room.channelName, event.presence.metadata]).sort()).toEqual([
        ['kitchen', { status: 'typing' }],
        ['lobby', { status: 'typing', page: '/home' }],
      ]);
      expect(await presence.presences.update('chan.1', { page: '/about' }, { room: 'lobby', replace: true })).toBe(1);
      expect(await state()).toEqual({ lobby: { page: '/about' }, kitchen: { status: 'typing' } });
      expect(await presence.presences.update('chan.unknown', { a: 1 })).toBe(0);
    });

    it('refuses metadata over the size cap, or that is not a plain JSON object, writing nothing', async () => {
      const presence = tracker({ maxMetadataBytes: 64 });
      await presence.rooms.add('lobby', 'chan.1', null, { metadata: { note: 'x'.repeat(40) } });
      await presence.rooms.add('kitchen', 'chan.1', null, { metadata: { note: 'short' } });
      const before = await database.db.rows('SELECT "roomId", "metadata" FROM "Presence" ORDER BY "id"');
      const tooBig = { note: 'x'.repeat(100) };
      await expect(presence.rooms.add('attic', 'chan.2', null, { metadata: tooBig })).rejects.toThrow(
        new PresenceError('INVALID_ARGUMENT', 'metadata must be at most 64 bytes of JSON, got 111'),
      );
      // Merged into the lobby's 40 characters, this one no longer fits: neither room changes.
      await expect(presence.presences.update('chan.1', { more: 'y'.repeat(20) })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      expect(await database.db.rows('SELECT "roomId", "metadata" FROM "Presence" ORDER BY "id"')).toEqual(before);
      const circular: Record<string, unknown> = {};
      circular.self = circular;
      for (const [bad, message] of [
        [['a'], 'metadata must be a plain object, got an array'],
        ['text', 'metadata must be a plain object, got "text"'],
        [new Date(0), 'metadata must be a plain object, got a object'],
        [circular, 'metadata must be serializable as JSON'],
      ] as const) {
        await expect(presence.rooms.add('lobby', 'chan.3', null, { metadata: bad as never })).rejects.toThrow(message);
      }
      expect(() => createPresence({ databaseUrl: database.url, maxMetadataBytes: 0 })).toThrow(PresenceError);
    });

    it('updated events reach another process', async () => {
      const other = await worker();
      const writer = tracker({ shareEvents: true });
      await untilListening(writer, (channel) => other.inbox.next((report) => report.added === channel, 1000));
      await writer.rooms.add('lobby', 'chan.1', 'alice', { metadata: { status: 'here' } });
      await writer.presences.update('chan.1', { status: 'typing' });
      const heard = await other.inbox.next((report) => report.event === 'updated');
      expect(heard).toEqual({ event: 'updated', room: 'lobby', channel: 'chan.1', metadata: { status: 'typing' }, remote: true });
    });

    it('the migration adds the columns over a database that already holds presences', async () => {
      const url = await emptyDatabase(engine);
      await migrate({ databaseUrl: url });
      const before = await inspect(url);
      try {
        // Back to the schema before the state migration, with rows in it.
        await before.rows('DROP TABLE "PresenceServer"');
        await before.rows('DROP INDEX "Presence_serverId_idx"');
        await before.rows('ALTER TABLE "Presence" DROP COLUMN "metadata"');
        await before.rows('ALTER TABLE "Presence" DROP COLUMN "serverId"');
        await before.rows(`DELETE FROM "_prisma_migrations" WHERE migration_name LIKE '%_presence_state'`);
        await before.rows(`INSERT INTO "Room" ("channelName") VALUES ('lobby')`);
        await before.rows(`INSERT INTO "Presence" ("roomId", "channelName", "userId", "lastSeen") SELECT "id", 'chan.old', 'olga', ? FROM "Room"`, new Date().toISOString());
      } finally {
        await before.close();
      }
      expect(await migrate({ databaseUrl: url })).toEqual([expect.stringMatching(/_presence_state$/)]);
      const after = await inspect(url);
      try {
        expect(await snapshot(after)).toEqual(['lobby/chan.old=olga']);
      } finally {
        await after.close();
      }
      const presence = track(createPresence({ databaseUrl: url }));
      expect(await presence.rooms.getPresences('lobby')).toEqual([expect.objectContaining({ channelName: 'chan.old', metadata: null, serverId: null })]);
    });
  });

  describe('dead-server reaping', () => {
    it('a registered server keeps one liveness row fresh, its presences carry its id, and stats show it', async () => {
      const server = tracker({ liveness: { interval: 0.1, timeout: 0.3 } });
      await server.rooms.add('lobby', 'chan.1');
      await server.rooms.add('kitchen', 'chan.2');
      const [row] = await database.db.rows<{ id: string; lastSeen: string }>('SELECT "id", "lastSeen" FROM "PresenceServer"');
      expect((await server.rooms.getPresences('lobby'))[0]!.serverId).toBe(row!.id);
      const first = new Date(row!.lastSeen).getTime();
      await eventually(async () => {
        const [now] = await database.db.rows<{ lastSeen: string }>('SELECT "lastSeen" FROM "PresenceServer"');
        return new Date(now!.lastSeen).getTime() > first;
      }, 3000, 'a liveness refresh');
      expect(await database.db.rows('SELECT * FROM "PresenceServer"')).toHaveLength(1);
      const stats = await server.rooms.stats();
      expect(stats.servers).toEqual([expect.objectContaining({ id: row!.id, pid: process.pid, alive: true, presences: 2 })]);
      const shown = await cli('stats', '--database-url', database.url);
      expect(shown.out).toContain(`server ${hostname()}:${process.pid} ${row!.id} alive 2 presences\n`);
    });

    it('a server killed with SIGKILL has all its presences reaped by the next prune after its liveness expires', async () => {
      const doomed = await worker({ SHARING_LIVENESS: '1' });
      for (let i = 0; i < 5; i++) await doomed.run('rooms.add', i % 2 ? 'lobby' : 'kitchen', `chan.${i}`, `user-${i}`);
      const survivor = tracker({ maxAge: 3600 });
      await survivor.rooms.add('lobby', 'chan.survivor', 'sam');
      const events: PresenceChangedEvent[] = [];
      survivor.on('changed', (event) => void events.push(event));
      await doomed.kill();
      expect(await survivor.rooms.prunePresences()).toBe(0); // its liveness has not expired yet
      await eventually(async () => (await survivor.rooms.stats()).servers[0]!.alive === false, 5000, 'the liveness to expire');
      expect((await survivor.rooms.stats()).servers).toEqual([expect.objectContaining({ alive: false, presences: 5 })]);
      expect(await survivor.rooms.prunePresences()).toBe(5);
      expect(await snapshot(database.db)).toEqual(['lobby/chan.survivor=sam']);
      expect(events.map((event) => [event.room.channelName, event.pruned.length]).sort()).toEqual([
        ['kitchen', 3],
        ['lobby', 2],
      ]);
      expect(await database.db.rows('SELECT * FROM "PresenceServer"')).toEqual([]);
    });

    it('a clean shutdown removes its own presences, with events, and its row', async () => {
      const server = tracker({ liveness: true });
      const other = tracker();
      await server.rooms.add('lobby', 'chan.1', 'alice');
      await other.rooms.add('lobby', 'chan.2', 'bob');
      const removed: string[] = [];
      server.on('changed', (event) => void removed.push(event.removed?.channelName ?? ''));
      await server.close();
      expect(removed).toEqual(['chan.1']);
      expect(await snapshot(database.db)).toEqual(['lobby/chan.2=bob']);
      expect(await database.db.rows('SELECT * FROM "PresenceServer"')).toEqual([]);
    });

    it('rejects a liveness timeout under two intervals', () => {
      expect(() => createPresence({ databaseUrl: database.url, liveness: { interval: 5, timeout: 6 } })).toThrow(
        new PresenceError('INVALID_ARGUMENT', 'liveness.timeout must be at least two intervals (10 s), got 6'),
      );
    });
  });

  describe('reconnect grace period', () => {
    const userEvents = (presence: PresenceTracker) => {
      const seen: string[] = [];
      presence.on('userJoined', ({ userId }) => void seen.push(`joined ${userId}`));
      presence.on('userLeft', ({ userId }) => void seen.push(`left ${userId}`));
      return seen;
    };

    it('a reconnect within the grace period emits no leave and no join', async () => {
      const presence = tracker({ leaveGrace: 0.3 });
      const seen = userEvents(presence);
      await presence.rooms.add('lobby', 'chan.old', 'alice');
      await presence.presences.disconnect('chan.old');
      expect(await presence.rooms.getUsers('lobby')).toEqual(['alice']); // still here during the grace period
      await presence.rooms.add('lobby', 'chan.new', 'alice');
      await eventually(async () => (await snapshot(database.db)).length === 1, 3000, 'the old connection to go');
      expect(await snapshot(database.db)).toEqual(['lobby/chan.new=alice']);
      expect(seen).toEqual(['joined alice']);
    });

    it('a slow reconnect leaves, then joins again', async () => {
      const presence = tracker({ leaveGrace: 0.2 });
      const seen = userEvents(presence);
      await presence.rooms.add('lobby', 'chan.old', 'alice');
      await presence.presences.disconnect('chan.old');
      await eventually(() => seen.length === 2, 3000, 'the leave');
      await presence.rooms.add('lobby', 'chan.new', 'alice');
      expect(seen).toEqual(['joined alice', 'left alice', 'joined alice']);
    });

    it('the same channel coming back cancels its departure; close() carries out the pending ones', async () => {
      const presence = tracker({ leaveGrace: 30 });
      await presence.rooms.add('lobby', 'chan.1', 'alice');
      await presence.rooms.add('lobby', 'chan.2', 'bob');
      await presence.presences.disconnect('chan.1');
      await presence.rooms.add('lobby', 'chan.1', 'alice');
      await presence.presences.disconnect('chan.2');
      await presence.close();
      expect(await snapshot(database.db)).toEqual(['lobby/chan.1=alice']);
    });

    it('prunes still remove a connection whose departure is pending once it is stale', async () => {
      const clock = manualClock();
      const presence = tracker({ leaveGrace: 30, now: clock.now, maxAge: 60 });
      await presence.rooms.add('lobby', 'chan.1', 'alice');
      await presence.presences.disconnect('chan.1');
      clock.advance(61);
      expect(await presence.rooms.prunePresences()).toBe(1);
    });
  });
});
