// The behaviour every realtime integration shares, run over Socket.IO and ws alike with
// real servers and clients (support/transports.ts). What only one protocol has is tested
// in socketio.test.ts and ws.test.ts.
import { describe, expect, it } from 'vitest';
import type { JoinDecision } from '../src/integrations/core.ts';
import { snapshot, testEngines, useDatabase } from './support/databases.ts';
import { gate } from './support/realtime.ts';
import { useTracker } from './support/tracker.ts';
import { presenceMessages, roomState, transports, useServer, type TestClient, type TestServer } from './support/transports.ts';

const cases = transports.flatMap((transport) => testEngines().map((engine) => [transport.name, engine, transport] as const));

/** Joins as the request says: `{ room, userId }`. */
const asRequested = (_connection: unknown, request: unknown) => request as JoinDecision;

describe.each(cases)('%s integration on %s', (_name, engine, transport) => {
  const database = useDatabase(engine);
  const tracked = useTracker(database, { maxAge: 60 });
  const { replies } = transport;
  const start = useServer(tracked, transport.start);

  /** `gone` is out of the lobby's group: a newcomer's join reaches `member` (the only one left), not `gone`. */
  async function expectOutOfLobbyGroup(server: TestServer, gone: TestClient, member: TestClient) {
    const countBefore = presenceMessages(gone.inbox).length;
    await (await server.connect()).join({ room: 'lobby' });
    await member.inbox.wait(roomState('lobby', [], 2));
    expect(presenceMessages(gone.inbox)).toHaveLength(countBefore);
  }

  it('a join request, decided by authorize, joins the room; every member gets the members list', async () => {
    const server = await start({ authorize: asRequested });
    const alice = await server.connect();
    const bob = await server.connect();
    await expect(alice.join({ room: 'lobby', userId: 'alice' })).resolves.toEqual(replies.joined('lobby'));
    await alice.inbox.next(roomState('lobby', ['alice'], 0));
    await bob.join({ room: 'lobby', userId: 'bob' });
    await alice.inbox.next(roomState('lobby', ['alice', 'bob'], 0));
    await bob.inbox.next(roomState('lobby', ['alice', 'bob'], 0));
    expect(await snapshot(database.db)).toEqual([`lobby/${alice.channel}=alice`, `lobby/${bob.channel}=bob`].sort());
  });

  it('by default the join request names the room and the connection is anonymous; bad requests get an error', async () => {
    const guest = await (await start()).connect();
    await expect(guest.join({ room: 'lobby' })).resolves.toEqual(replies.joined('lobby'));
    await guest.inbox.next(roomState('lobby', [], 1));
    await expect(guest.join({ room: '' })).resolves.toEqual(replies.error('join', 'room must not be empty'));
    await expect(guest.join({})).resolves.toEqual(replies.error('join', 'room must be a string, got undefined'));
  });

  it('authorize refuses with null or false, and its own errors stay on the server', async () => {
    const server = await start({
      authorize: (_connection, request) => {
        const { room } = request as { room: string };
        if (room === 'boom') throw new Error('database password is hunter2');
        return room === 'vip' ? false : null;
      },
    });
    const guest = await server.connect();
    await expect(guest.join({ room: 'vip' })).resolves.toEqual(replies.error('join', 'join refused'));
    await expect(guest.join({ room: 'lobby' })).resolves.toEqual(replies.error('join', 'join refused'));
    await expect(guest.join({ room: 'boom' })).resolves.toEqual(replies.error('join', 'join failed'));
    expect(await snapshot(database.db)).toEqual([]);
  });

  it('broadcasts reach exactly the present connections', async () => {
    const server = await start();
    const [a, b, outsider] = [await server.connect(), await server.connect(), await server.connect()];
    await a.join({ room: 'lobby' });
    await b.join({ room: 'kitchen' });
    await a.inbox.next(roomState('lobby', [], 1));
    await b.inbox.next(roomState('kitchen', [], 1));
    const c = await server.connect();
    await c.join({ room: 'lobby' });
    await a.inbox.next(roomState('lobby', [], 2));
    await c.inbox.next(roomState('lobby', [], 2));
    expect(presenceMessages(b.inbox).every((message) => message.room === 'kitchen')).toBe(true);
    expect(outsider.inbox.received).toEqual([]);
  });

  it('closing a connection leaves every room and the others hear of it', async () => {
    const server = await start({ authorize: asRequested });
    const [alice, bob] = [await server.connect(), await server.connect()];
    await alice.join({ room: 'lobby', userId: 'alice' });
    await alice.join({ room: 'kitchen', userId: 'alice' });
    await bob.join({ room: 'lobby', userId: 'bob' });
    await alice.inbox.next(roomState('lobby', ['alice', 'bob'], 0));
    bob.close();
    await alice.inbox.wait(roomState('lobby', ['alice'], 0));
    expect(await snapshot(database.db)).toEqual([`kitchen/${alice.channel}=alice`, `lobby/${alice.channel}=alice`]);
  });

  it('a leave request takes the connection out of the room and its group', async () => {
    const server = await start();
    const [a, b] = [await server.connect(), await server.connect()];
    await a.join({ room: 'lobby' });
    await b.join({ room: 'lobby' });
    await a.inbox.next(roomState('lobby', [], 2));
    await expect(b.leave('lobby')).resolves.toEqual(replies.left('lobby'));
    await a.inbox.wait(roomState('lobby', [], 1));
    await expectOutOfLobbyGroup(server, b, a);
  });

  it('join and leave requests from one connection are applied in the order sent', async () => {
    // The join is still being authorized when the leave arrives.
    const leaveSeen = gate();
    const server = await start({
      authorize: async (_connection, request) => {
        await leaveSeen.opened;
        return { room: String((request as { room: string }).room) };
      },
    });
    server.onLeaveRequest(() => leaveSeen.open());
    const guest = await server.connect();
    const joined = guest.join({ room: 'lobby' });
    const left = guest.leave('lobby');
    await expect(joined).resolves.toEqual(replies.joined('lobby'));
    await expect(left).resolves.toEqual(replies.left('lobby'));
    expect(await snapshot(database.db)).toEqual([]);
  });

  it('a pruned connection that is still attached leaves the group and is told, and can join again', async () => {
    const server = await start();
    const [stale, live] = [await server.connect(), await server.connect()];
    await stale.join({ room: 'lobby' });
    tracked.clock.advance(50);
    await live.join({ room: 'lobby' });
    await live.inbox.next(roomState('lobby', [], 2));
    tracked.clock.advance(20);
    expect(await tracked.presence.rooms.prunePresences()).toBe(1);
    await expect(stale.inbox.next((message) => message.type === 'pruned')).resolves.toEqual({ type: 'pruned', room: 'lobby' });
    await live.inbox.wait(roomState('lobby', [], 1));
    await expectOutOfLobbyGroup(server, stale, live);
    expect(stale.connected()).toBe(true);
    await stale.join({ room: 'lobby' });
    await live.inbox.wait(roomState('lobby', [], 3));
  });

  it('onPruned "disconnect" closes a pruned connection from the server', async () => {
    const server = await start({ onPruned: 'disconnect' });
    const stale = await server.connect();
    await stale.join({ room: 'lobby' });
    const closed = stale.closed();
    tracked.clock.advance(70);
    await tracked.presence.rooms.prunePresences();
    await expect(closed).resolves.toBe(transport.prunedClose);
  });

  it('the server decides with join() and leave(); resolveUsers turns ids into users in one call per broadcast', async () => {
    const calls: string[][] = [];
    const server = await start({
      resolveUsers: async (ids) => {
        calls.push(ids);
        return ids.map((id) => ({ id, name: id.toUpperCase() }));
      },
    });
    const { integration } = server;
    const [a, b] = [await server.connect(), await server.connect()];
    await Promise.all([integration.join(a.connection, 'lobby', 'ann'), integration.join(b.connection, 'lobby', 'ben')]);
    const ann = { id: 'ann', name: 'ANN' };
    const both = [ann, { id: 'ben', name: 'BEN' }];
    await a.inbox.next(roomState('lobby', both, 0));
    await b.inbox.next(roomState('lobby', both, 0));
    await integration.idle();
    expect(calls.at(-1)).toEqual(['ann', 'ben']);
    expect(calls.length).toBeLessThanOrEqual(2);
    await expect(integration.members('lobby')).resolves.toEqual({ room: 'lobby', members: both, anonymous: 0 });
    await integration.leave(b.connection, 'lobby');
    await a.inbox.wait(roomState('lobby', [ann], 0));
  });

  it('a change of user on re-join is broadcast even though no presence was added', async () => {
    const server = await start();
    const a = await server.connect();
    await server.integration.join(a.connection, 'lobby');
    await a.inbox.next(roomState('lobby', [], 1));
    await server.integration.join(a.connection, 'lobby', 'named');
    await a.inbox.next(roomState('lobby', ['named'], 0));
  });
});
