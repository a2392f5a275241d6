import type { Server, Socket } from 'socket.io';
import { attachedPresence, integrationCore, type AttachedPresence, type IntegrationOptions, type Transport } from './core.js';
import type { PresenceTracker } from '../types.js';

export type { JoinDecision, PresenceMessage, PrunedConnectionPolicy } from './core.js';

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

/** What `attachPresence` returns. Its groups are Socket.IO rooms named like the presence rooms. */
export type SocketIoPresence<User = string> = AttachedPresence<Socket, User>;

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
  const core = integrationCore<Socket, User>(presence, socketIoTransport(io, presence.shareEvents), options);

  function onConnection(socket: Socket): void {
    // Passed on at once, so that Socket.IO dispatches this socket's events in arrival order.
    socket.use((packet, next) => {
      if (core.received(socket.id, isHeartbeatPacket(packet))) next();
    });
    socket.on(SOCKET_IO_EVENTS.join, async (request: unknown, ack?: unknown) => {
      const reply = await core.requestJoin(socket, socket.id, request);
      if (typeof ack === 'function') ack(reply);
    });
    socket.on(SOCKET_IO_EVENTS.leave, async (room: unknown, ack?: unknown) => {
      const reply = await core.requestLeave(socket.id, room);
      if (typeof ack === 'function') ack(reply);
    });
    socket.on('disconnect', () => core.closed(socket.id));
  }

  io.on('connection', onConnection);
  return attachedPresence(core, (socket) => socket.id, () => io.off('connection', onConnection));
}

/**
 * With event sharing every process hears every change and acts on its own sockets
 * (`io.local`); without it, the process that made the change acts through the adapter
 * on the whole cluster.
 */
function socketIoTransport(io: Server, shareEvents: boolean): Transport {
  const scope = () => (shareEvents ? io.local : io);
  return {
    isOpen: (channel) => io.sockets.sockets.get(channel)?.connected === true,
    join: (room, channel) => scope().in(channel).socketsJoin(room),
    leave: (room, channel) => scope().in(channel).socketsLeave(room),
    broadcast: (room, message) => scope().to(room).emit(SOCKET_IO_EVENTS.presence, message),
    notifyPruned: (room, channel) => scope().to(channel).emit(SOCKET_IO_EVENTS.pruned, { room }),
    close: (channel) => scope().in(channel).disconnectSockets(true),
  };
}

function isHeartbeatPacket([event, ...args]: unknown[]): boolean {
  return event === SOCKET_IO_EVENTS.heartbeat || (event === 'message' && args.length === 1 && args[0] === 'heartbeat');
}
