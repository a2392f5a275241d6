import { WebSocket, WebSocketServer } from 'ws';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SocketRegistry } from '../src/integrations/registry.ts';
import { attachPresence, PRUNED_CLOSE_CODE, type WsPresenceOptions, type WsServerMessage } from '../src/integrations/ws.ts';
import { snapshot, testEngines, useDatabase } from './support/databases.ts';
import { eventually, gate, listen, Mailbox } from './support/realtime.ts';
import { useTracker } from './support/tracker.ts';

type Message = WsServerMessage<unknown>;

interface Client {
  socket: WebSocket;
  inbox: Mailbox<Message>;
  send(message: unknown): void;
  join(request: Record<string, unknown>): Promise<Message>;
}

describe.each(testEngines())('ws integration on %s', (engine) => {
  const database = useDatabase(engine);
  const tracked = useTracker(database, { maxAge: 60 });
  let wss: WebSocketServer;
  let http: Awaited<ReturnType<typeof listen>>;
  let clients: WebSocket[];
  let serverSockets: WebSocket[];
  let appMessages: string[];

  async function start<User = string>(options: WsPresenceOptions<User> = {}) {
    http = await listen();
    wss = new WebSocketServer({ server: http.server });
    wss.on('connection', (socket) => serverSockets.push(socket));
    return attachPresence(wss, tracked.presence, {
      onMessage: (_socket, data) => void appMessages.push(data.toString()),
      ...options,
    });
  }

  async function client(): Promise<Client> {
    const socket = new WebSocket(`ws://127.0.0.1:${http.port}`);
    clients.push(socket);
    const inbox = new Mailbox<Message>();
    socket.on('message', (data) => inbox.push(JSON.parse(data.toString()) as Message));
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    const send = (message: unknown) => socket.send(typeof message === 'string' ? message : JSON.stringify(message));
    return {
      socket,
      inbox,
      send,
      join(request) {
        const reply = inbox.wait((message) => message.type === 'joined' || (message.type === 'error' && message.request === 'join'));
        send({ type: 'join', ...request });
        return reply;
      },
    };
  }

  const roomState = (room: string, members: unknown[], anonymous: number) => (message: Message) =>
    message.type === 'presence' &&
    message.room === room &&
    JSON.stringify(message.members) === JSON.stringify(members) &&
    message.anonymous === anonymous;
  const presenceMessages = (inbox: Mailbox<Message>) => inbox.received.filter((message) => message.type === 'presence');
  /** `gone` is out of the lobby's group: a newcomer's join reaches `member` (the only one left), not `gone`. */
  async function expectOutOfLobbyGroup(gone: Client, member: Client) {
    const countBefore = presenceMessages(gone.inbox).length;
    await (await client()).join({ room: 'lobby' });
    await member.inbox.wait(roomState('lobby', [], 2));
    expect(presenceMessages(gone.inbox)).toHaveLength(countBefore);
  }

  beforeEach(() => {
    clients = [];
    serverSockets = [];
    appMessages = [];
  });
  afterEach(async () => {
    for (const socket of clients) socket.terminate();
    wss?.close();
    await http?.close();
  });

  it('a join message, decided by authorize, joins the room; every member gets the members list', async () => {
    const integration = await start({ authorize: (_socket, request) => request as { room: string; userId: string } });
    const alice = await client();
    const bob = await client();
    await expect(alice.join({ room: 'lobby', userId: 'alice' })).resolves.toEqual({ type: 'joined', room: 'lobby' });
    await alice.inbox.next(roomState('lobby', ['alice'], 0));
    await bob.join({ room: 'lobby', userId: 'bob' });
    await alice.inbox.next(roomState('lobby', ['alice', 'bob'], 0));
    await bob.inbox.next(roomState('lobby', ['alice', 'bob'], 0));
    const channels = serverSockets.map((socket) => integration.channelName(socket));
    expect(channels.every((channel) => /^ws\.[0-9a-f-]{36}$/.test(channel!))).toBe(true);
    expect(await snapshot(database.db)).toEqual([`lobby/${channels[0]}=alice`, `lobby/${channels[1]}=bob`].sort());
  });

  it('by default the join request names the room and the connection is anonymous; bad requests get an error', async () => {
    await start();
    const guest = await client();
    await expect(guest.join({ room: 'lobby' })).resolves.toEqual({ type: 'joined', room: 'lobby' });
    await guest.inbox.next(roomState('lobby', [], 1));
    await expect(guest.join({ room: '' })).resolves.toEqual({ type: 'error', request: 'join', error: 'room must not be empty' });
    await expect(guest.join({})).resolves.toEqual({ type: 'error', request: 'join', error: 'room must be a string, got undefined' });
  });

  it('authorize refuses with null or false, and its own errors stay on the server', async () => {
    await start({
      authorize: (_socket, request) => {
        if ((request as { room: string }).room === 'boom') throw new Error('secret detail');
        return null;
      },
    });
    const guest = await client();
    await expect(guest.join({ room: 'lobby' })).resolves.toEqual({ type: 'error', request: 'join', error: 'join refused' });
    await expect(guest.join({ room: 'boom' })).resolves.toEqual({ type: 'error', request: 'join', error: 'join failed' });
    expect(await snapshot(database.db)).toEqual([]);
  });

  it('broadcasts reach exactly the present connections', async () => {
    await start();
    const [a, b, outsider] = [await client(), await client(), await client()];
    await a.join({ room: 'lobby' });
    await b.join({ room: 'kitchen' });
    const c = await client();
    await c.join({ room: 'lobby' });
    await a.inbox.next(roomState('lobby', [], 2));
    await c.inbox.next(roomState('lobby', [], 2));
    await b.inbox.next(roomState('kitchen', [], 1));
    expect(presenceMessages(b.inbox).every((message) => message.type === 'presence' && message.room === 'kitchen')).toBe(true);
    expect(outsider.inbox.received).toEqual([]);
  });

  it('every message touches; exactly "heartbeat" (text or binary) reaches no handler, other messages reach onMessage', async () => {
    const integration = await start();
    const guest = await client();
    await guest.join({ room: 'lobby' });
    const channel = integration.channelName(serverSockets[0]!)!;
    tracked.clock.advance(30);
    guest.send('"heartbeat"');
    guest.socket.send(Buffer.from('"heartbeat"'));
    guest.send('hello');
    guest.send(' "heartbeat"');
    guest.send({ type: 'chat', text: 'hi' });
    await eventually(() => appMessages.length === 3, 5000, 'three app messages');
    await tracked.presence.presences.flush();
    const [row] = await database.db.rows<{ lastSeen: string }>('SELECT "lastSeen" FROM "Presence" WHERE "channelName" = ?', channel);
    expect(new Date(row!.lastSeen).toISOString()).toBe(tracked.clock.now().toISOString());
    // Only the exact JSON string is a heartbeat: with a space around it, it is the app's.
    expect(appMessages).toEqual(['hello', ' "heartbeat"', JSON.stringify({ type: 'chat', text: 'hi' })]);
  });

  it('closing a socket leaves every room and the others hear of it', async () => {
    await start({ authorize: (_socket, request) => request as { room: string; userId: string } });
    const [alice, bob] = [await client(), await client()];
    await alice.join({ room: 'lobby', userId: 'alice' });
    await alice.join({ room: 'kitchen', userId: 'alice' });
    await bob.join({ room: 'lobby', userId: 'bob' });
    await alice.inbox.next(roomState('lobby', ['alice', 'bob'], 0));
    bob.socket.close();
    await alice.inbox.wait(roomState('lobby', ['alice'], 0));
    expect((await snapshot(database.db)).map((entry) => entry.replace(/ws\.[^=]+/, 'ws.alice'))).toEqual([
      'kitchen/ws.alice=alice',
      'lobby/ws.alice=alice',
    ]);
  });

  it('a leave message takes the connection out of the room and its group', async () => {
    await start();
    const [a, b] = [await client(), await client()];
    await a.join({ room: 'lobby' });
    await b.join({ room: 'lobby' });
    await a.inbox.next(roomState('lobby', [], 2));
    const left = b.inbox.wait((message) => message.type === 'left');
    b.send({ type: 'leave', room: 'lobby' });
    await expect(left).resolves.toEqual({ type: 'left', room: 'lobby' });
    await a.inbox.wait(roomState('lobby', [], 1));
    await expectOutOfLobbyGroup(b, a);
  });

  it('join and leave requests from one socket are applied in the order sent', async () => {
    // The join is still being authorized when the leave arrives.
    const leaveSeen = gate();
    await start({
      authorize: async (_socket, request) => {
        await leaveSeen.opened;
        return { room: String((request as { room: string }).room) };
      },
    });
    wss.on('connection', (socket) => socket.on('message', (data) => String(data).includes('"leave"') && leaveSeen.open()));
    const guest = await client();
    const joined = guest.join({ room: 'lobby' });
    const left = guest.inbox.wait((message) => message.type === 'left');
    guest.send({ type: 'leave', room: 'lobby' });
    await expect(joined).resolves.toEqual({ type: 'joined', room: 'lobby' });
    await expect(left).resolves.toEqual({ type: 'left', room: 'lobby' });
    expect(await snapshot(database.db)).toEqual([]);
  });

  it('a pruned connection that is still attached leaves the group and is told', async () => {
    await start();
    const [stale, live] = [await client(), await client()];
    await stale.join({ room: 'lobby' });
    tracked.clock.advance(50);
    await live.join({ room: 'lobby' });
    await live.inbox.next(roomState('lobby', [], 2));
    tracked.clock.advance(20);
    expect(await tracked.presence.rooms.prunePresences()).toBe(1);
    await expect(stale.inbox.next((message) => message.type === 'pruned')).resolves.toEqual({ type: 'pruned', room: 'lobby' });
    await live.inbox.wait(roomState('lobby', [], 1));
    await expectOutOfLobbyGroup(stale, live);
  });

  it('onPruned "disconnect" closes a pruned connection with its own close code', async () => {
    await start({ onPruned: 'disconnect' });
    const stale = await client();
    await stale.join({ room: 'lobby' });
    const closed = new Promise<number>((resolve) => stale.socket.once('close', resolve));
    tracked.clock.advance(70);
    await tracked.presence.rooms.prunePresences();
    await expect(closed).resolves.toBe(PRUNED_CLOSE_CODE);
  });

  it('join() from server code; resolveUsers makes the members; broadcast() sends app messages to the group', async () => {
    const integration = await start({ resolveUsers: (ids) => ids.map((id) => ({ id, name: id.toUpperCase() })) });
    const [a, b] = [await client(), await client()];
    await Promise.all([integration.join(serverSockets[0]!, 'lobby', 'ann'), integration.join(serverSockets[1]!, 'lobby', 'ben')]);
    const both = [
      { id: 'ann', name: 'ANN' },
      { id: 'ben', name: 'BEN' },
    ];
    await a.inbox.next(roomState('lobby', both, 0));
    await b.inbox.next(roomState('lobby', both, 0));
    integration.broadcast('lobby', { type: 'chat', text: 'hi all' });
    await a.inbox.next((message) => (message as { type: string }).type === 'chat');
    await integration.leave(serverSockets[1]!, 'lobby');
    await a.inbox.wait(roomState('lobby', [{ id: 'ann', name: 'ANN' }], 0));
  });
});

describe('the ws socket registry', () => {
  /** Counts the steps of every Map and Set iteration while `work` runs. */
  function iterationSteps(work: () => void): number {
    const prototypes = [new Map().entries(), new Set().values()].map((iterator) => Object.getPrototypeOf(iterator) as { next: () => unknown });
    const originals = prototypes.map((prototype) => prototype.next);
    let steps = 0;
    prototypes.forEach((prototype, i) => {
      prototype.next = function (this: unknown) {
        steps++;
        return originals[i]!.call(this);
      };
    });
    try {
      work();
    } finally {
      prototypes.forEach((prototype, i) => (prototype.next = originals[i]!));
    }
    return steps;
  }

  it("a disconnect visits only its connection's rooms, however many rooms the process holds", () => {
    const registry = new SocketRegistry();
    const socket = () => ({ readyState: 1, send() {} }) as unknown as WebSocket;
    const other = registry.add(socket());
    for (let room = 0; room < 10_000; room++) registry.join(`room-${room}`, other);
    const leaving = registry.add(socket());
    registry.join('room-1', leaving);
    registry.join('room-2', leaving);
    expect(iterationSteps(() => registry.remove(leaving))).toBeLessThan(10);
    // The other connection is still in every room; the one that left is in none.
    let reached = 0;
    const counting = { readyState: 1, send: () => reached++ } as unknown as WebSocket;
    const third = registry.add(counting);
    registry.join('room-1', third);
    registry.sendToRoom('room-1', 'hello');
    expect(reached).toBe(1);
  });
});
