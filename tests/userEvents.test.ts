// Per-user events stay exact: a consumer that keeps each room's users from userJoined
// and userLeft alone always agrees with getUsers, including when a connection changes
// user, leaves, or is pruned.
import { beforeEach, describe, expect, it } from 'vitest';
import { testEngines, useDatabase } from './support/databases.ts';
import { useTracker } from './support/tracker.ts';

describe.each(testEngines())('per-user events on %s', (engine) => {
  const database = useDatabase(engine);
  const tracked = useTracker(database, { maxAge: 60 });
  let log: string[];
  /** Room -> users, kept from the events only. */
  let users: Map<string, Set<string>>;
  beforeEach(() => {
    [log, users] = [[], new Map()];
    tracked.presence.on('userJoined', ({ room, userId }) => {
      log.push(`+${userId}@${room.channelName}`);
      if (!users.has(room.channelName)) users.set(room.channelName, new Set());
      users.get(room.channelName)!.add(userId);
    });
    tracked.presence.on('userLeft', ({ room, userId }) => {
      log.push(`-${userId}@${room.channelName}`);
      users.get(room.channelName)?.delete(userId);
    });
  });

  it('a connection re-added as another user: the old user leaves, the new one joins, and leaveAll takes the new one out', async () => {
    await tracked.presence.rooms.add('lobby', 'chan.1', 'alice');
    await tracked.presence.rooms.add('lobby', 'chan.1', 'bob');
    await tracked.presence.presences.leaveAll('chan.1');
    expect(log).toEqual(['+alice@lobby', '-alice@lobby', '+bob@lobby', '-bob@lobby']);
  });

  it('a user with a second connection does not leave when one of them changes user', async () => {
    await tracked.presence.rooms.add('lobby', 'chan.1', 'alice');
    await tracked.presence.rooms.add('lobby', 'chan.2', 'alice');
    await tracked.presence.rooms.add('lobby', 'chan.1', 'bob');
    await tracked.presence.rooms.add('lobby', 'chan.1', null);
    expect(log).toEqual(['+alice@lobby', '+bob@lobby', '-bob@lobby']);
  });

  it('a consumer counting from the events matches getUsers after every one of 300 random operations', async () => {
    let seed = 7;
    const next = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const pick = <T>(items: T[]) => items[Math.floor(next() * items.length)]!;
    const rooms = ['a', 'b'];
    const channels = ['c1', 'c2', 'c3', 'c4'];
    const people = ['ann', 'ben', null];
    for (let i = 0; i < 300; i++) {
      const roll = next();
      if (roll < 0.55) await tracked.presence.rooms.add(pick(rooms), pick(channels), pick(people));
      else if (roll < 0.75) await tracked.presence.rooms.remove(pick(rooms), pick(channels));
      else if (roll < 0.85) await tracked.presence.presences.leaveAll(pick(channels));
      else if (roll < 0.95) await tracked.presence.presences.touch(pick(channels));
      else {
        tracked.clock.advance(30);
        await tracked.presence.rooms.prunePresences();
      }
      for (const room of rooms) {
        expect([...(users.get(room) ?? [])].sort(), `room ${room} after operation ${i}`).toEqual(await tracked.presence.rooms.getUsers(room));
      }
    }
  });
});
