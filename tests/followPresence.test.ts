import { beforeEach, describe, expect, it } from 'vitest';
import { followPresence, type PresenceGroups, type PresenceMessage } from '../src/index.ts';
import { testEngines, useDatabase } from './support/databases.ts';
import { Mailbox } from './support/realtime.ts';
import { useTracker } from './support/tracker.ts';

type Call = ['join' | 'leave', string, string, string?] | ['broadcast', PresenceMessage<unknown>];

/** Groups of a transport of your own: records every call. */
function recordingGroups(calls: Mailbox<Call>): PresenceGroups {
  return {
    join: (room, channel) => calls.push(['join', room, channel]),
    leave: (room, channel, reason) => calls.push(['leave', room, channel, reason]),
    broadcast: (room, message) => calls.push(['broadcast', message]),
  };
}

const broadcastOf = (room: string, members: unknown[], anonymous: number) => (call: Call) =>
  call[0] === 'broadcast' && JSON.stringify(call[1]) === JSON.stringify({ room, members, anonymous });

describe.each(testEngines())('followPresence on %s', (engine) => {
  const database = useDatabase(engine);
  const tracked = useTracker(database, { maxAge: 60 });
  let calls: Mailbox<Call>;

  beforeEach(() => {
    calls = new Mailbox();
  });

  it('joins and leaves groups with presence, and broadcasts the members of each changed room', async () => {
    followPresence(tracked.presence, recordingGroups(calls));
    await tracked.presence.rooms.add('lobby', 'chan.1', 'alice');
    await tracked.presence.rooms.add('lobby', 'chan.2');
    await calls.next(broadcastOf('lobby', ['alice'], 1));
    await tracked.presence.rooms.remove('lobby', 'chan.1');
    await calls.next(broadcastOf('lobby', [], 1));
    tracked.clock.advance(120);
    await tracked.presence.rooms.prunePresences();
    await calls.next(broadcastOf('lobby', [], 0));
    expect(calls.received.filter((call) => call[0] !== 'broadcast')).toEqual([
      ['join', 'lobby', 'chan.1'],
      ['join', 'lobby', 'chan.2'],
      ['leave', 'lobby', 'chan.1', 'removed'],
      ['leave', 'lobby', 'chan.2', 'pruned'],
    ]);
  });

  it('a channel that changes user stays in its group, and the room is broadcast with the new user', async () => {
    followPresence(tracked.presence, recordingGroups(calls));
    await tracked.presence.rooms.add('lobby', 'chan.1', 'alice');
    await calls.next(broadcastOf('lobby', ['alice'], 0));
    await tracked.presence.rooms.add('lobby', 'chan.1', 'bob');
    await calls.next(broadcastOf('lobby', ['bob'], 0));
    expect(calls.received.filter((call) => call[0] !== 'broadcast')).toEqual([['join', 'lobby', 'chan.1']]);
  });

  it('resolveUsers makes the members of a broadcast; the returned function stops following', async () => {
    const stop = followPresence(tracked.presence, recordingGroups(calls), { resolveUsers: (ids) => ids.map((id) => ({ id })) });
    await tracked.presence.rooms.add('lobby', 'chan.1', 'alice');
    await calls.next(broadcastOf('lobby', [{ id: 'alice' }], 0));
    stop();
    calls.clear();
    // The changed event is emitted before add resolves: a group still followed would have joined.
    await tracked.presence.rooms.add('lobby', 'chan.2', 'bob');
    expect(calls.received).toEqual([]);
  });
});
