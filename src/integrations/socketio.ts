import type { Server, Socket } from 'socket.io';
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

/** Options of the Socket.IO `attachPresence`. */
export type SocketIoPresenceOptions<User = string> = IntegrationOptions<Socket, User>;

/** Events the integration adds to the Socket.IO protocol. */
export const SOCKET_IO_EVENTS = {
  /** Client to server: `(request, ack?)`; the ack gets `{ ok: true, room }` or `{ ok: false, error }`. */
  join: 'presence:join',
  /** Client to server: `(room, ack?)`. */
  leave: 'presence:leave',
  /** Server to a room: a PresenceMessage whenever its presence changes. */
  presence: 'presence',
  /** Server to a connection pruned while attached: `{ room }`. */
  pruned: 'presence:pruned',
  /** Client to server: touches only, reaches no handler. `socket.send("heartbeat")` works too. */
  heartbeat: 'heartbeat',
} as const;

/** What `attachPresence` returns. */
export interface SocketIoPresence<User = string> {
  /** Joins a socket to a room as a user, decided by your server code (no `authorize`). */
  join(socket: Socket, room: string, userId?: string | number | null): Promise<void>;
  /** Takes a socket out of a room. */
  leave(socket: Socket, room: string): Promise<void>;
  /** The groups that follow presence: Socket.IO rooms named like the presence rooms. */
  readonly groups: PresenceGroups;
  /** The members message a room would broadcast now. */
  members(room: string): Promise<PresenceMessage<User>>;
  /** Resolves once every broadcast scheduled so far was sent. */
  idle(): Promise<void>;
  /** Stops handling new sockets and presence changes (sockets already connected keep their handlers). */
  detach(): void;
}

/**
 * Wires presence into a Socket.IO server. Each socket is a channel named by `socket.id`:
 * it joins rooms with `presence:join` (decided by `authorize`) or your `join()`; every
 * incoming event touches its presence and a heartbeat stops there; a disconnect leaves
 * every room; each change broadcasts the room's members as a `presence` event. Groups are
 * Socket.IO rooms, so with a cluster adapter joins, leaves and broadcasts span the cluster.
 */
export function attachPresence<User = string>(
  io: Server,
  presence: PresenceTracker,
  options: SocketIoPresenceOptions<User> = {},
): SocketIoPresence<User> {
  const report = reportTo(options.onError);
  const authorize = options.authorize ?? defaultAuthorize;
  const groups = socketIoGroups(io, options.onPruned ?? 'notify', presence.sharesEvents);
  const broadcaster = new RoomBroadcaster<User>(presence, (room, message) => groups.broadcast(room, message), options.resolveUsers, report);
  const stopFollowing = followPresence(presence, groups);
  presence.on('changed', broadcaster.onChanged);
  presence.on('resync', broadcaster.onResync);

  // Every packet touches; a heartbeat is not passed on to the app's handlers.
  const touch = presence.touchPresence((_channel: string, _packet: unknown, next: () => void) => next());

  async function join(socket: Socket, room: string, userId?: string | number | null): Promise<void> {
    await presence.rooms.add(room, socket.id, userId);
    // It may have disconnected while the add ran, after its disconnect left every room.
    if (socket.disconnected) return presence.presences.leaveAll(socket.id);
    await socket.join(room);
    broadcaster.schedule(room); // a re-join may change the user without a `changed` event
  }

  async function leave(socket: Socket, room: string): Promise<void> {
    await presence.rooms.remove(room, socket.id);
    await socket.leave(room);
  }

  function onConnection(socket: Socket): void {
    socket.use((packet, next) => {
      touch(socket.id, isHeartbeatPacket(packet) ? '"heartbeat"' : packet, next).catch((error: unknown) => {
        report(error);
        next();
      });
    });
    socket.on(SOCKET_IO_EVENTS.join, async (request: unknown, ack?: unknown) => {
      const reply = typeof ack === 'function' ? (ack as (result: unknown) => void) : () => {};
      try {
        const decision = await decideJoin(authorize, socket, request);
        if (!decision) return reply({ ok: false, error: 'join refused' });
        await join(socket, decision.room, decision.userId);
        reply({ ok: true, room: decision.room });
      } catch (error) {
        reply({ ok: false, error: joinErrorMessage(error) });
      }
    });
    socket.on(SOCKET_IO_EVENTS.leave, async (room: unknown, ack?: unknown) => {
      const reply = typeof ack === 'function' ? (ack as (result: unknown) => void) : () => {};
      try {
        await leave(socket, room as string);
        reply({ ok: true, room });
      } catch (error) {
        reply({ ok: false, error: joinErrorMessage(error) });
      }
    });
    socket.on('disconnect', () => {
      presence.presences.disconnect(socket.id).catch(report);
    });
  }

  io.on('connection', onConnection);
  return {
    join,
    leave,
    groups,
    members: (room) => broadcaster.membersOf(room),
    idle: () => broadcaster.idle(),
    detach() {
      io.off('connection', onConnection);
      stopFollowing();
      presence.off('changed', broadcaster.onChanged);
      presence.off('resync', broadcaster.onResync);
    },
  };
}

/**
 * With event sharing every process hears every change and acts on its own sockets
 * (`io.local`); without it, the process that made the change acts through the adapter
 * on the whole cluster.
 */
function socketIoGroups(io: Server, onPruned: PrunedConnectionPolicy, sharesEvents: boolean): PresenceGroups {
  const scope = () => (sharesEvents ? io.local : io);
  return {
    join: (room, channelName) => scope().in(channelName).socketsJoin(room),
    leave(room, channelName, reason) {
      scope().in(channelName).socketsLeave(room);
      if (reason !== 'pruned') return;
      if (onPruned === 'notify') scope().to(channelName).emit(SOCKET_IO_EVENTS.pruned, { room });
      if (onPruned === 'disconnect') scope().in(channelName).disconnectSockets(true);
    },
    broadcast: (room, message) => scope().to(room).emit(SOCKET_IO_EVENTS.presence, message),
  };
}

function isHeartbeatPacket([event, ...args]: unknown[]): boolean {
  return event === SOCKET_IO_EVENTS.heartbeat || (event === 'message' && args.length === 1 && args[0] === 'heartbeat');
}
