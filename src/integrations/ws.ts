import type { RawData, WebSocket, WebSocketServer } from 'ws';
import { attachedPresence, integrationCore, type AttachedPresence, type IntegrationOptions, type RequestReply, type Transport } from './core.js';
import { sendText, SocketRegistry } from './registry.js';
import { isHeartbeat } from '../handlers.js';
import type { PresenceMessage, PresenceTracker } from '../types.js';

export type { JoinDecision, PresenceMessage, PrunedConnectionPolicy } from './core.js';

/** Options of the `ws` `attachPresence`. */
export interface WsPresenceOptions<User = string> extends IntegrationOptions<WebSocket, User> {
  /** Your handler for every message that is neither a heartbeat nor a `join`/`leave` request. */
  onMessage?: (socket: WebSocket, data: RawData, isBinary: boolean) => unknown;
}

/**
 * Messages of the `ws` protocol, all JSON text frames. Client to server: `{ type: "join", ... }`
 * (the whole object goes to `authorize`), `{ type: "leave", room }`, and `"heartbeat"`.
 * Server to client: `joined`, `left`, `error` replies, `presence` (a PresenceMessage with
 * `type`) and `pruned`.
 */
export type WsServerMessage<User = string> =
  | { type: 'joined'; room: string }
  | { type: 'left'; room: string }
  | { type: 'error'; request: 'join' | 'leave'; error: string }
  | ({ type: 'presence' } & PresenceMessage<User>)
  | { type: 'pruned'; room: string };

/** The close code a pruned connection gets with `onPruned: "disconnect"`. */
export const PRUNED_CLOSE_CODE = 4001;

/** What `attachPresence` returns. Its groups are an in-process registry of this server's sockets. */
export interface WsPresence<User = string> extends AttachedPresence<WebSocket, User> {
  /** The channel name of a connected socket (`ws.<uuid>`), or undefined for an unknown one. */
  channelName(socket: WebSocket): string | undefined;
  /** Sends a JSON message to every connection of this process in the room's group. */
  broadcast(room: string, message: unknown): void;
}

/**
 * Wires presence into a `ws` WebSocketServer. Each socket gets a channel name; it joins
 * rooms with a `join` message (decided by `authorize`) or your `join()`; every message
 * touches its presence and `"heartbeat"` stops there; `join`/`leave` requests are
 * answered; anything else goes to `onMessage`; a close leaves every room; each change
 * sends the room's members to its sockets as a `presence` message.
 */
export function attachPresence<User = string>(
  wss: WebSocketServer,
  presence: PresenceTracker,
  options: WsPresenceOptions<User> = {},
): WsPresence<User> {
  const registry = new SocketRegistry();
  const core = integrationCore<WebSocket, User>(presence, wsTransport(registry), options);

  function onConnection(socket: WebSocket): void {
    const channel = registry.add(socket);
    socket.on('message', (data, isBinary) => {
      if (!core.received(channel, isHeartbeat(data))) return;
      const request = isBinary ? undefined : controlRequest(data);
      if (request?.type === 'join') void core.requestJoin(socket, channel, request).then((reply) => answer(socket, 'join', reply));
      else if (request?.type === 'leave') void core.requestLeave(channel, request.room).then((reply) => answer(socket, 'leave', reply));
      else if (options.onMessage) new Promise((resolve) => resolve(options.onMessage!(socket, data, isBinary))).catch(core.report);
    });
    socket.on('close', () => {
      registry.remove(channel);
      core.closed(channel);
    });
  }

  wss.on('connection', onConnection);
  return {
    ...attachedPresence(core, (socket) => registry.channelOf(socket), () => wss.off('connection', onConnection)),
    channelName: (socket) => registry.channelOf(socket),
    broadcast: (room, message) => registry.sendToRoom(room, JSON.stringify(message)),
  };
}

function wsTransport(registry: SocketRegistry): Transport {
  return {
    isOpen: (channel) => registry.socket(channel) !== undefined,
    join: (room, channel) => registry.join(room, channel),
    leave: (room, channel) => registry.leave(room, channel),
    broadcast: (room, message) => registry.sendToRoom(room, JSON.stringify({ type: 'presence', ...message })),
    notifyPruned(room, channel) {
      const socket = registry.socket(channel);
      if (socket) send(socket, { type: 'pruned', room });
    },
    close: (channel) => registry.socket(channel)?.close(PRUNED_CLOSE_CODE, 'presence pruned'),
  };
}

function answer(socket: WebSocket, request: 'join' | 'leave', reply: RequestReply): void {
  if (!reply.ok) send(socket, { type: 'error', request, error: reply.error });
  else send(socket, { type: request === 'join' ? 'joined' : 'left', room: reply.room });
}

/** A `join` or `leave` request, or undefined for any other message. */
function controlRequest(data: RawData): ({ type: 'join' | 'leave' } & Record<string, unknown>) | undefined {
  const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
  const text = bytes.toString('utf8');
  if (!text.trimStart().startsWith('{')) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    const { type } = parsed as { type?: unknown };
    return type === 'join' || type === 'leave' ? (parsed as { type: 'join' | 'leave' } & Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function send(socket: WebSocket, message: WsServerMessage<unknown>): void {
  sendText(socket, JSON.stringify(message));
}
