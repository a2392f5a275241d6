// The two realtime integrations behind one test interface, for the tests that hold for
// both: each starts a real server on a free loopback port with presence attached, and
// connects real clients to it. A client's replies keep its protocol's own form
// (Transport.replies says which); what the server pushes arrives in one form, ws's.
import { Server, type Socket } from 'socket.io';
import { io as connectSocketIo, type Socket as ClientSocket } from 'socket.io-client';
import { WebSocket, WebSocketServer } from 'ws';
import { afterEach } from 'vitest';
import type { PresenceTracker } from '../../src/index.ts';
import type { AttachedPresence, IntegrationOptions } from '../../src/integrations/core.ts';
import { attachPresence as attachSocketIo, type PresenceMessage, type SocketIoPresence, type SocketIoPresenceOptions } from '../../src/integrations/socketio.ts';
import { attachPresence as attachWs, PRUNED_CLOSE_CODE, type WsPresence, type WsPresenceOptions, type WsServerMessage } from '../../src/integrations/ws.ts';
import { listen, Mailbox } from './realtime.ts';

/** What the server pushed to a client, in ws's form for both transports. */
export type Received = WsServerMessage<unknown>;
type MembersMessage = Extract<Received, { type: 'presence' }>;

export interface TestClient {
  readonly transport: Transport;
  /** The channel its presences are stored under (undefined where presence is not attached). */
  readonly channel: string | undefined;
  /** The server's side of the connection, for the integration's own join() and leave(). */
  readonly connection: unknown;
  /** What the server pushed to it: for ws every message, for Socket.IO its presence and pruned events. */
  readonly inbox: Mailbox<Received>;
  /** Sends a join request; resolves with the server's reply. */
  join(request: Record<string, unknown>): Promise<unknown>;
  /** Sends a leave request; resolves with the server's reply. */
  leave(room: string): Promise<unknown>;
  connected(): boolean;
  /** Resolves once the connection closes, with what the client was told: a reason (Socket.IO) or a close code (ws). */
  closed(): Promise<unknown>;
  close(): void;
}

export interface TestServer<Client extends TestClient = TestClient, Integration = AttachedPresence<unknown, unknown>> {
  readonly integration: Integration;
  connect(): Promise<Client>;
  /** Calls `listener` whenever a client's leave request reaches the server. */
  onLeaveRequest(listener: () => void): void;
  /** Closes every client it connected, then the server. */
  close(): Promise<void>;
}

export interface Transport {
  readonly name: string;
  start(presence: PresenceTracker, options?: IntegrationOptions<unknown, unknown>): Promise<TestServer>;
  /** The replies to join and leave requests, in this protocol's form. */
  readonly replies: {
    joined(room: string): unknown;
    left(room: string): unknown;
    error(request: 'join' | 'leave', error: string): unknown;
  };
  /** What `closed()` resolves with when `onPruned: "disconnect"` closes a connection. */
  readonly prunedClose: unknown;
}

/**
 * Gives each test a `start(options)` that starts a server on the test's tracker (see
 * useTracker) with `startServer`, closed after the test.
 */
export function useServer<Options, Server extends { close(): Promise<void> }>(
  tracked: { readonly presence: PresenceTracker },
  startServer: (presence: PresenceTracker, options?: Options) => Promise<Server>,
): (options?: Options) => Promise<Server> {
  let running: Server | undefined;
  afterEach(async () => {
    await running?.close();
    running = undefined;
  });
  return async (options) => (running = await startServer(tracked.presence, options));
}

/** Matches the members message of `room` with exactly `members` and `anonymous` anonymous connections. */
export const roomState = (room: string, members: unknown[], anonymous: number) => (message: Received) =>
  message.type === 'presence' && message.room === room && JSON.stringify(message.members) === JSON.stringify(members) && message.anonymous === anonymous;

export const presenceMessages = (inbox: Mailbox<Received>): MembersMessage[] =>
  inbox.received.filter((message): message is MembersMessage => message.type === 'presence');

// ---- Socket.IO ----

export interface SocketIoTestClient extends TestClient {
  readonly socket: ClientSocket;
  readonly connection: Socket;
  /** Socket.IO passes any request on as it is, a bare room name too. */
  join(request: unknown): Promise<unknown>;
}

export interface SocketIoTestServer extends TestServer<SocketIoTestClient, SocketIoPresence<unknown>> {
  readonly io: Server;
}

export async function startSocketIoServer(presence: PresenceTracker, options: SocketIoPresenceOptions<unknown> = {}): Promise<SocketIoTestServer> {
  const http = await listen();
  const io = new Server(http.server);
  const connections = new Map<string, Socket>();
  io.on('connection', (socket) => connections.set(socket.id, socket));
  const clients: SocketIoTestClient[] = [];
  return {
    io,
    integration: attachSocketIo(io, presence, options),
    async connect() {
      const inbox = new Mailbox<Received>();
      const socket = await openSocketIoClient(`http://127.0.0.1:${http.port}`, inbox);
      const client = socketIoClient(socket, inbox, connections.get(socket.id!)!);
      clients.push(client);
      return client;
    },
    onLeaveRequest: (listener) => io.on('connection', (socket) => socket.on('presence:leave', listener)),
    async close() {
      for (const client of clients) client.close();
      await Promise.all([io.close(), http.close()]);
    },
  };
}

/** Connects a Socket.IO client whose presence and pruned events go to `inbox`, in ws's form. */
async function openSocketIoClient(url: string, inbox: Mailbox<Received>): Promise<ClientSocket> {
  const socket = connectSocketIo(url, { transports: ['websocket'], reconnection: false });
  socket.on('presence', (message: PresenceMessage<unknown>) => inbox.push({ type: 'presence', ...message }));
  socket.on('presence:pruned', (message: { room: string }) => inbox.push({ type: 'pruned', ...message }));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  return socket;
}

function socketIoClient(socket: ClientSocket, inbox: Mailbox<Received>, connection: Socket): SocketIoTestClient {
  const ask = (event: string, payload: unknown) => socket.timeout(5000).emitWithAck(event, payload);
  return {
    transport: socketIoTransport,
    channel: socket.id,
    connection,
    socket,
    inbox,
    join: (request) => ask('presence:join', request),
    leave: (room) => ask('presence:leave', room),
    connected: () => socket.connected,
    closed: () => new Promise((resolve) => socket.once('disconnect', resolve)),
    close: () => void socket.disconnect(),
  };
}

// ---- ws ----

export interface WsTestClient extends TestClient {
  readonly socket: WebSocket;
  readonly connection: WebSocket;
  /** Sends a string as it is, anything else as JSON. */
  send(message: unknown): void;
}

export type WsTestServer = TestServer<WsTestClient, WsPresence<unknown>>;

export async function startWsServer(presence: PresenceTracker, options: WsPresenceOptions<unknown> = {}): Promise<WsTestServer> {
  const http = await listen();
  const wss = new WebSocketServer({ server: http.server });
  // Each client connects on a path of its own, by which its server side is found.
  const connections = new Map<string, WebSocket>();
  wss.on('connection', (socket, request) => connections.set(request.url!, socket));
  const integration = attachWs(wss, presence, options);
  const clients: WsTestClient[] = [];
  let connects = 0;
  return {
    integration,
    async connect() {
      const path = `/client-${++connects}`;
      const inbox = new Mailbox<Received>();
      const socket = await openWebSocket(`ws://127.0.0.1:${http.port}${path}`, inbox);
      const connection = connections.get(path)!;
      const client = wsClient(socket, inbox, connection, integration.channelName(connection));
      clients.push(client);
      return client;
    },
    onLeaveRequest: (listener) =>
      wss.on('connection', (socket) => socket.on('message', (data) => String(data).includes('"type":"leave"') && listener())),
    async close() {
      for (const client of clients) client.close();
      wss.close();
      await http.close();
    },
  };
}

/** Opens a WebSocket whose every message goes to `inbox`, from the first one on. */
async function openWebSocket(url: string, inbox: Mailbox<Received>): Promise<WebSocket> {
  const socket = new WebSocket(url);
  socket.on('message', (data) => inbox.push(JSON.parse(data.toString()) as Received));
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return socket;
}

function wsClient(socket: WebSocket, inbox: Mailbox<Received>, connection: WebSocket, channel: string | undefined): WsTestClient {
  const send = (message: unknown) => socket.send(typeof message === 'string' ? message : JSON.stringify(message));
  /** Sends `message` and resolves with the first message from then on that `isReply` accepts. */
  const ask = (message: Record<string, unknown>, isReply: (received: Received) => boolean) => {
    const reply = inbox.wait(isReply, 5000, `the reply to ${JSON.stringify(message)}`);
    send(message);
    return reply;
  };
  const isError = (received: Received, request: 'join' | 'leave') => received.type === 'error' && received.request === request;
  return {
    transport: wsTransport,
    channel,
    connection,
    socket,
    inbox,
    send,
    join: (request) => ask({ type: 'join', ...request }, (reply) => reply.type === 'joined' || isError(reply, 'join')),
    leave: (room) => ask({ type: 'leave', room }, (reply) => reply.type === 'left' || isError(reply, 'leave')),
    connected: () => socket.readyState === WebSocket.OPEN,
    closed: () => new Promise((resolve) => socket.once('close', resolve)),
    close: () => socket.close(),
  };
}

// ---- the transports ----

export const socketIoTransport: Transport = {
  name: 'Socket.IO',
  start: startSocketIoServer,
  replies: {
    joined: (room) => ({ ok: true, room }),
    left: (room) => ({ ok: true, room }),
    error: (_request, error) => ({ ok: false, error }),
  },
  prunedClose: 'io server disconnect',
};

export const wsTransport: Transport = {
  name: 'ws',
  start: startWsServer,
  replies: {
    joined: (room) => ({ type: 'joined', room }),
    left: (room) => ({ type: 'left', room }),
    error: (request, error) => ({ type: 'error', request, error }),
  },
  prunedClose: PRUNED_CLOSE_CODE,
};

export const transports: Transport[] = [socketIoTransport, wsTransport];
