import { Server, type Socket } from 'socket.io';
import { io as connect, type Socket as ClientSocket } from 'socket.io-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { attachPresence, type PresenceMessage, type SocketIoPresenceOptions } from '../src/integrations/socketio.ts';
import { snapshot, testEngines, useDatabase } from './support/databases.ts';
import { eventually, gate, listen, Mailbox } from './support/realtime.ts';
import { useTracker } from './support/tracker.ts';

interface Client {
  socket: ClientSocket;
  presence: Mailbox<PresenceMessage<unknown>>;
  pruned: Mailbox<{ room: string }>;
  join(request: unknown): Promise<{ ok: boolean; room?: string; error?: string }>;
}

describe.each(testEngines())('Socket.IO integration on %s', (engine) => {
  const database = useDatabase(engine);
  const tracked = useTracker(database, { maxAge: 60 });
  let io: Server;
  let http: Awaited<ReturnType<typeof listen>>;
  let clients: ClientSocket[];
  let serverSockets: Map<string, Socket>;
  let appMessages: { channel: string; event: string; args: unknown[] }[];

  async function start<User = string>(options: SocketIoPresenceOptions<User> = {}) {
    http = await listen();
    io = new Server(http.server);
    io.on('connection', (socket) => {
      serverSockets.set(socket.id, socket);
      for (const event of ['heartbeat', 'message', 'chat']) {
        socket.on(event, (...args: unknown[]) => appMessages.push({ channel: socket.id, event, args }));
      }
    });
    return attachPresence(io, tracked.presence, options);
  }

  async function client(): Promise<Client> {
    const socket = connect(`http://127.0.0.1:${http.port}`, { transports: ['websocket'], reconnection: false });
    clients.push(socket);
    const received = new Mailbox<PresenceMessage<unknown>>();
    const pruned = new Mailbox<{ room: string }>();
    socket.on('presence', (message: PresenceMessage<unknown>) => received.push(message));
    socket.on('presence:pruned', (message: { room: string }) => pruned.push(message));
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    return {
      socket,
      presence: received,
      pruned,
      join: (request) => socket.timeout(5000).emitWithAck('presence:join', request),
    };
  }

  const roomState = (room: string, members: unknown[], anonymous: number) => (message: PresenceMessage<unknown>) =>
    message.room === room && JSON.stringify(message.members) === JSON.stringify(members) && message.anonymous === anonymous;
  /** `gone` is out of the lobby's group: a newcomer's join reaches `member` (the only one left), not `gone`. */
  async function expectOutOfLobbyGroup(gone: Client, member: Client) {
    const countBefore = gone.presence.received.length;
    await (await client()).join('lobby');
    await member.presence.wait(roomState('lobby', [], 2));
    expect(gone.presence.received).toHaveLength(countBefore);
  }

  beforeEach(() => {
    clients = [];
    serverSockets = new Map();
    appMessages = [];
  });
  afterEach(async () => {
    for (const socket of clients) socket.disconnect();
    io?.close();
    await http?.close();
  });

  it('a client joins with presence:join; every member of the room gets the members list', async () => {
    await start({ authorize: (_socket, request) => request as { room: string; userId: string } });
    const alice = await client();
    const bob = await client();
    await expect(alice.join({ room: 'lobby', userId: 'alice' })).resolves.toEqual({ ok: true, room: 'lobby' });
    await alice.presence.next(roomState('lobby', ['alice'], 0));
    await bob.join({ room: 'lobby', userId: 'bob' });
    await alice.presence.next(roomState('lobby', ['alice', 'bob'], 0));
    await bob.presence.next(roomState('lobby', ['alice', 'bob'], 0));
    expect(await snapshot(database.db)).toEqual([`lobby/${alice.socket.id}=alice`, `lobby/${bob.socket.id}=bob`].sort());
  });

  it('by default a join request is a room name and the connection is anonymous', async () => {
    await start();
    const guest = await client();
    await expect(guest.join('lobby')).resolves.toEqual({ ok: true, room: 'lobby' });
    await guest.presence.next(roomState('lobby', [], 1));
    await expect(guest.join({ room: '' })).resolves.toEqual({ ok: false, error: 'room must not be empty' });
    await expect(guest.join(42)).resolves.toMatchObject({ ok: false, error: 'room must be a string, got 42' });
  });

  it('authorize refuses with null or false: nothing is written, the ack says refused', async () => {
    await start({ authorize: (_socket, request) => (request === 'vip' ? false : null) });
    const guest = await client();
    await expect(guest.join('vip')).resolves.toEqual({ ok: false, error: 'join refused' });
    await expect(guest.join('lobby')).resolves.toEqual({ ok: false, error: 'join refused' });
    expect(await snapshot(database.db)).toEqual([]);
  });

  it('an authorize that throws refuses without leaking its error to the client', async () => {
    await start({
      authorize: () => {
        throw new Error('database password is hunter2');
      },
    });
    const guest = await client();
    await expect(guest.join('lobby')).resolves.toEqual({ ok: false, error: 'join failed' });
  });

  it('broadcasts reach exactly the present connections', async () => {
    await start();
    const [a, b, outsider] = [await client(), await client(), await client()];
    await a.join('lobby');
    await b.join('kitchen');
    await a.presence.next(roomState('lobby', [], 1));
    await b.presence.next(roomState('kitchen', [], 1));
    const c = await client();
    await c.join('lobby');
    await a.presence.next(roomState('lobby', [], 2));
    await c.presence.next(roomState('lobby', [], 2));
    expect(b.presence.received.every((message) => message.room === 'kitchen')).toBe(true);
    expect(outsider.presence.received).toEqual([]);
  });

  it('every event touches the presence; a heartbeat touches and reaches no handler', async () => {
    await start();
    const guest = await client();
    await guest.join('lobby');
    const id = guest.socket.id!;
    tracked.clock.advance(30);
    guest.socket.emit('heartbeat');
    guest.socket.send('heartbeat');
    await eventually(async () => {
      await tracked.presence.presences.flush();
      const [row] = await database.db.rows<{ lastSeen: string }>('SELECT "lastSeen" FROM "Presence" WHERE "channelName" = ?', id);
      return new Date(row!.lastSeen).getTime() === tracked.clock.now().getTime();
    }, 5000, 'the heartbeat touch');
    guest.socket.emit('chat', 'hello');
    await eventually(() => appMessages.some((message) => message.event === 'chat'), 5000, 'the chat event');
    guest.socket.send('not a heartbeat');
    await eventually(() => appMessages.some((message) => message.event === 'message'), 5000, 'the message event');
    expect(appMessages.map(({ event, args }) => [event, ...args])).toEqual([
      ['chat', 'hello'],
      ['message', 'not a heartbeat'],
    ]);
  });

  it('a disconnect leaves every room and the others hear of it', async () => {
    await start({ authorize: (_socket, request) => request as { room: string; userId: string } });
    const alice = await client();
    const bob = await client();
    await alice.join({ room: 'lobby', userId: 'alice' });
    await alice.join({ room: 'kitchen', userId: 'alice' });
    await bob.join({ room: 'lobby', userId: 'bob' });
    await alice.presence.next(roomState('lobby', ['alice', 'bob'], 0));
    bob.socket.disconnect();
    await alice.presence.wait(roomState('lobby', ['alice'], 0));
    expect(await snapshot(database.db)).toEqual([`kitchen/${alice.socket.id}=alice`, `lobby/${alice.socket.id}=alice`]);
  });

  it('presence:leave takes the connection out of the room and its group', async () => {
    await start();
    const [a, b] = [await client(), await client()];
    await a.join('lobby');
    await b.join('lobby');
    await a.presence.next(roomState('lobby', [], 2));
    await expect(b.socket.timeout(5000).emitWithAck('presence:leave', 'lobby')).resolves.toEqual({ ok: true, room: 'lobby' });
    await a.presence.wait(roomState('lobby', [], 1));
    await expectOutOfLobbyGroup(b, a);
  });

  it('join and leave requests from one socket are applied in the order sent', async () => {
    // The join is still being authorized when the leave arrives.
    const leaveSeen = gate();
    await start({
      authorize: async (_socket, request) => {
        await leaveSeen.opened;
        return { room: String(request) };
      },
    });
    io.on('connection', (socket) => socket.on('presence:leave', () => leaveSeen.open()));
    const guest = await client();
    const joined = guest.join('lobby');
    const left = guest.socket.timeout(5000).emitWithAck('presence:leave', 'lobby');
    await expect(joined).resolves.toEqual({ ok: true, room: 'lobby' });
    await expect(left).resolves.toEqual({ ok: true, room: 'lobby' });
    expect(await snapshot(database.db)).toEqual([]);
  });

  it('a pruned connection that is still attached leaves the group and is told', async () => {
    await start();
    const [stale, live] = [await client(), await client()];
    await stale.join('lobby');
    tracked.clock.advance(50);
    await live.join('lobby');
    await live.presence.next(roomState('lobby', [], 2));
    tracked.clock.advance(20);
    expect(await tracked.presence.rooms.prunePresences()).toBe(1);
    await expect(stale.pruned.next((message) => message.room === 'lobby')).resolves.toEqual({ room: 'lobby' });
    await live.presence.wait(roomState('lobby', [], 1));
    await expectOutOfLobbyGroup(stale, live);
    expect(stale.socket.connected).toBe(true);
    // Told it was pruned, it can simply join again.
    await stale.join('lobby');
    await live.presence.wait(roomState('lobby', [], 3));
  });

  it('onPruned "disconnect" closes a pruned connection', async () => {
    await start({ onPruned: 'disconnect' });
    const stale = await client();
    await stale.join('lobby');
    const disconnected = new Promise<string>((resolve) => stale.socket.once('disconnect', resolve));
    tracked.clock.advance(70);
    await tracked.presence.rooms.prunePresences();
    await expect(disconnected).resolves.toBe('io server disconnect');
  });

  it('the server decides with join(); resolveUsers turns ids into users in one call per broadcast', async () => {
    const calls: string[][] = [];
    const integration = await start({
      resolveUsers: async (ids) => {
        calls.push(ids);
        return ids.map((id) => ({ id, name: id.toUpperCase() }));
      },
    });
    const [a, b] = [await client(), await client()];
    await Promise.all([
      integration.join(serverSockets.get(a.socket.id!)!, 'lobby', 'ann'),
      integration.join(serverSockets.get(b.socket.id!)!, 'lobby', 'ben'),
    ]);
    await a.presence.next(
      roomState(
        'lobby',
        [
          { id: 'ann', name: 'ANN' },
          { id: 'ben', name: 'BEN' },
        ],
        0,
      ),
    );
    await integration.idle();
    expect(calls.at(-1)).toEqual(['ann', 'ben']);
    expect(calls.length).toBeLessThanOrEqual(2);
    await expect(integration.members('lobby')).resolves.toEqual({
      room: 'lobby',
      members: [
        { id: 'ann', name: 'ANN' },
        { id: 'ben', name: 'BEN' },
      ],
      anonymous: 0,
    });
  });

  it('a change of user on re-join is broadcast even though no presence was added', async () => {
    const integration = await start();
    const a = await client();
    const socket = serverSockets.get(a.socket.id!)!;
    await integration.join(socket, 'lobby');
    await a.presence.next(roomState('lobby', [], 1));
    await integration.join(socket, 'lobby', 'named');
    await a.presence.next(roomState('lobby', ['named'], 0));
  });

  it('detach stops handling new connections and changes', async () => {
    const integration = await start();
    integration.detach();
    const a = await client();
    await expect(a.socket.timeout(300).emitWithAck('presence:join', 'lobby')).rejects.toThrow();
    await tracked.presence.rooms.add('lobby', 'chan.other');
    expect(a.presence.received).toEqual([]);
  });
});
