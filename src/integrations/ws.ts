import { randomUUID } from 'node:crypto';
import type { RawData, WebSocket, WebSocketServer } from 'ws';
import type { PresenceTracker } from '../createPresence.js';
import { followPresence, type PresenceGroups } from '../groups.js';
import {
  decideJoin,
  defaultAuthorize,
  joinErrorMessage,
  reportTo,
  RoomBroadcaster,
  type IntegrationOptions,
  type JoinDecision,
  type PresenceMessage,
  type PrunedConnectionPolicy,
} from './shared.js';

export type { JoinDecision, PresenceMessage, PrunedConnectionPolicy };

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

/** What `attachPresence` returns. */
export interface WsPresence<User = string> {
  /** The channel name of a connected socket (`ws.<uuid>`), or undefined for an unknown one. */
  channelName(socket: WebSocket): string | undefined;
  /** Joins a socket to a room as a user, decided by your server code (no `authorize`). */
  join(socket: WebSocket, room: string, userId?: string | number | null): Promise<void>;
  /** Takes a socket out of a room. */
  leave(socket: WebSocket, room: string): Promise<void>;
  /** Sends a JSON message to every connection of this process in the room's group. */
  broadcast(room: string, message: unknown): void;
  /** The groups that follow presence: an in-process registry of this server's sockets. */
  readonly groups: PresenceGroups;
  /** The members message a room would broadcast now. */
  members(room: string): Promise<PresenceMessage<User>>;
  /** Resolves once every broadcast scheduled so far was sent. */
  idle(): Promise<void>;
  /** Stops handling new connections and presence changes. */
  detach(): void;
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
  const report = reportTo(options.onError);
  const authorize = options.authorize ?? defaultAuthorize;
  const registry = new SocketRegistry();
  const groups = registryGroups(registry, options.onPruned ?? 'notify');
  const broadcaster = new RoomBroadcaster<User>(presence, (room, message) => groups.broadcast(room, message), options.resolveUsers, report);
  const stopFollowing = followPresence(presence, groups);
  presence.on('changed', broadcaster.onChanged);
  presence.on('resync', broadcaster.onResync);

  const onTraffic = presence.touchPresence((_channel: string, data: RawData, socket: WebSocket, isBinary: boolean) =>
    route(data, socket, isBinary),
  );

  async function route(data: RawData, socket: WebSocket, isBinary: boolean): Promise<unknown> {
    const request = isBinary ? undefined : controlRequest(data);
    if (request?.type === 'join') return handleJoin(socket, request);
    if (request?.type === 'leave') return handleLeave(socket, request.room);
    return options.onMessage?.(socket, data, isBinary);
  }

  async function handleJoin(socket: WebSocket, request: Record<string, unknown>): Promise<void> {
    try {
      const decision = await decideJoin(authorize, socket, request);
      if (!decision) return send(socket, { type: 'error', request: 'join', error: 'join refused' });
      await join(socket, decision.room, decision.userId);
      send(socket, { type: 'joined', room: decision.room });
    } catch (error) {
      send(socket, { type: 'error', request: 'join', error: joinErrorMessage(error) });
    }
  }

  async function handleLeave(socket: WebSocket, room: unknown): Promise<void> {
    try {
      await leave(socket, room as string);
      send(socket, { type: 'left', room: room as string });
    } catch (error) {
      send(socket, { type: 'error', request: 'leave', error: joinErrorMessage(error) });
    }
  }

  async function join(socket: WebSocket, room: string, userId?: string | number | null): Promise<void> {
    const channel = registry.channelOf(socket);
    if (!channel) return; // closed already
    await presence.rooms.add(room, channel, userId);
    // It may have closed while the add ran, after its close left every room.
    if (!registry.channelOf(socket)) return presence.presences.leaveAll(channel);
    registry.join(room, channel);
    broadcaster.schedule(room); // a re-join may change the user without a `changed` event
  }

  async function leave(socket: WebSocket, room: string): Promise<void> {
    const channel = registry.channelOf(socket);
    if (!channel) return;
    await presence.rooms.remove(room, channel);
    registry.leave(room, channel);
  }

  function onConnection(socket: WebSocket): void {
    const channel = registry.add(socket);
    socket.on('message', (data, isBinary) => {
      onTraffic(channel, data, socket, isBinary).catch(report);
    });
    socket.on('close', () => {
      registry.remove(channel);
      presence.presences.disconnect(channel).catch(report);
    });
  }

  wss.on('connection', onConnection);
  return {
    channelName: (socket) => registry.channelOf(socket),
    join,
    leave,
    broadcast: (room, message) => registry.sendToRoom(room, JSON.stringify(message)),
    groups,
    members: (room) => broadcaster.membersOf(room),
    idle: () => broadcaster.idle(),
    detach() {
      wss.off('connection', onConnection);
      stopFollowing();
      presence.off('changed', broadcaster.onChanged);
      presence.off('resync', broadcaster.onResync);
    },
  };
}

/** This process's sockets by channel name, and the channels in each room's group. */
class SocketRegistry {
  private readonly sockets = new Map<string, WebSocket>();
  private readonly channels = new WeakMap<WebSocket, string>();
  private readonly rooms = new Map<string, Set<string>>();

  add(socket: WebSocket): string {
    const channel = `ws.${randomUUID()}`;
    this.sockets.set(channel, socket);
    this.channels.set(socket, channel);
    return channel;
  }

  remove(channel: string): void {
    const socket = this.sockets.get(channel);
    if (socket) this.channels.delete(socket);
    this.sockets.delete(channel);
    for (const [room, members] of this.rooms) {
      members.delete(channel);
      if (members.size === 0) this.rooms.delete(room);
    }
  }

  channelOf(socket: WebSocket): string | undefined {
    return this.channels.get(socket);
  }

  socket(channel: string): WebSocket | undefined {
    return this.sockets.get(channel);
  }

  join(room: string, channel: string): void {
    if (!this.sockets.has(channel)) return; // another process's connection
    let members = this.rooms.get(room);
    if (!members) this.rooms.set(room, (members = new Set()));
    members.add(channel);
  }

  leave(room: string, channel: string): void {
    const members = this.rooms.get(room);
    members?.delete(channel);
    if (members?.size === 0) this.rooms.delete(room);
  }

  sendToRoom(room: string, text: string): void {
    for (const channel of this.rooms.get(room) ?? []) {
      const socket = this.sockets.get(channel);
      if (socket) sendText(socket, text);
    }
  }
}

function registryGroups(registry: SocketRegistry, onPruned: PrunedConnectionPolicy): PresenceGroups {
  return {
    join: (room, channelName) => registry.join(room, channelName),
    leave(room, channelName, reason) {
      registry.leave(room, channelName);
      const socket = registry.socket(channelName);
      if (reason !== 'pruned' || !socket) return;
      if (onPruned === 'notify') send(socket, { type: 'pruned', room });
      if (onPruned === 'disconnect') socket.close(PRUNED_CLOSE_CODE, 'presence pruned');
    },
    broadcast: (room, message) => registry.sendToRoom(room, JSON.stringify({ type: 'presence', ...(message as PresenceMessage<unknown>) })),
  };
}

/** A `join` or `leave` request, or undefined for any other message. */
function controlRequest(data: RawData): ({ type: 'join' | 'leave' } & Record<string, unknown>) | undefined {
  const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
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

function sendText(socket: WebSocket, text: string): void {
  if (socket.readyState === 1 /* OPEN */) socket.send(text);
}
