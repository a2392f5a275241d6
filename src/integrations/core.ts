// The integration core every transport shares: authorize, join and leave (in the order a
// connection asked), groups following presence, members broadcasts, resync, disconnect and
// detach. A transport is an adapter that names its connections and reaches them by channel
// name (see Transport); prisma-presence/socket.io and prisma-presence/ws are two of them.
import { PresenceError } from '../errors.js';
import { follow, reporter } from '../groups.js';
import { assertChannelName } from '../validation.js';
import type { FollowOptions, PresenceGroups, PresenceMessage, PresenceTracker } from '../types.js';

export type { PresenceMessage };

/** Where a join request leads: the room, and who joins it (omit `userId` for anonymous). */
export interface JoinDecision {
  room: string;
  userId?: string | number | null;
}

/** What happens to a connection that a prune removed from a room while it is still attached. */
export type PrunedConnectionPolicy = 'notify' | 'disconnect' | 'leave';

/** Options both integrations share (with `followPresence`'s `resolveUsers` and `onError`). */
export interface IntegrationOptions<Connection, User> extends FollowOptions<User> {
  /**
   * Decides a client's join request: returns the room and user, or `null`/`false` to
   * refuse. Authorization is yours. Default: the request is the room name (or `{ room }`)
   * and the connection joins anonymously.
   */
  authorize?: (connection: Connection, request: unknown) => JoinDecision | null | false | Promise<JoinDecision | null | false>;
  /**
   * A connection that a prune removed while still attached leaves the room's group and:
   * `notify` (default) gets a `pruned` message so it can join again, `disconnect` is
   * closed, `leave` is told nothing.
   */
  onPruned?: PrunedConnectionPolicy;
}

/** How the core reaches a transport's connections: by channel name, and groups by room name. */
export interface Transport {
  /** Whether the connection is still open in this process. */
  isOpen(channelName: string): boolean;
  join(room: string, channelName: string): unknown;
  leave(room: string, channelName: string): unknown;
  /** Sends the room's members to its group. */
  broadcast(room: string, message: PresenceMessage<unknown>): unknown;
  /** Tells a connection still attached that a prune took it out of the room. */
  notifyPruned(room: string, channelName: string): unknown;
  /** Closes a connection (`onPruned: "disconnect"`). */
  close(channelName: string): unknown;
}

/** What `attachPresence` returns, whatever the transport. */
export interface AttachedPresence<Connection, User> {
  /** Joins a connection to a room as a user, decided by your server code (no `authorize`). */
  join(connection: Connection, room: string, userId?: string | number | null): Promise<void>;
  /** Takes a connection out of a room. */
  leave(connection: Connection, room: string): Promise<void>;
  /** The groups that follow presence. */
  readonly groups: PresenceGroups;
  /** The members message a room would broadcast now. */
  members(room: string): Promise<PresenceMessage<User>>;
  /** Resolves once every broadcast scheduled so far was sent. */
  idle(): Promise<void>;
  /** Stops handling new connections and presence changes (connections already open keep their handlers). */
  detach(): void;
}

/** The answer to a client's join or leave request. */
export type RequestReply = { ok: true; room: string } | { ok: false; error: string };

/** What a transport's adapter calls; `connection` is whatever its `authorize` receives. */
export interface IntegrationCore<Connection, User> {
  readonly groups: PresenceGroups;
  /** Every incoming message (the transport tells a heartbeat): touches the presence; false for a heartbeat, which goes no further. */
  received(channelName: string, heartbeat: boolean): boolean;
  /** A connection closed (`isOpen` says so already): it leaves every room, after the grace period if any. */
  closed(channelName: string): void;
  /** A client's join request, decided by `authorize`; applied after the connection's earlier requests. */
  requestJoin(connection: Connection, channelName: string, request: unknown): Promise<RequestReply>;
  /** A client's leave request; applied after the connection's earlier requests. */
  requestLeave(channelName: string, room: unknown): Promise<RequestReply>;
  /** Joins a connection to a room as a user, decided by server code. */
  join(channelName: string, room: string, userId?: string | number | null): Promise<void>;
  leave(channelName: string, room: string): Promise<void>;
  members(room: string): Promise<PresenceMessage<User>>;
  idle(): Promise<void>;
  /** Where errors with no caller to reject go (`onError`). */
  report(error: unknown): void;
  detach(): void;
}

export function integrationCore<Connection, User>(
  presence: PresenceTracker,
  transport: Transport,
  options: IntegrationOptions<Connection, User>,
): IntegrationCore<Connection, User> {
  const report = reporter(options.onError);
  const authorize = options.authorize ?? defaultAuthorize;
  const onPruned = options.onPruned ?? 'notify';
  const queues = new Map<string, Promise<void>>();
  const touch = presence.touchPresence(() => undefined);

  const groups: PresenceGroups = {
    join: (room, channel) => transport.join(room, channel),
    leave(room, channel, reason) {
      transport.leave(room, channel);
      if (reason !== 'pruned') return;
      if (onPruned === 'notify') transport.notifyPruned(room, channel);
      if (onPruned === 'disconnect') transport.close(channel);
    },
    broadcast: (room, message) => transport.broadcast(room, message),
  };
  const following = follow<User>(presence, groups, options);

  /** Runs a connection's requests one after another, in the order they came. */
  function inOrder<T>(channel: string, task: () => Promise<T>): Promise<T> {
    const result = (queues.get(channel) ?? Promise.resolve()).then(task);
    const done = result.then(
      () => undefined,
      () => undefined,
    );
    queues.set(channel, done);
    void done.then(() => queues.get(channel) === done && queues.delete(channel));
    return result;
  }

  async function join(channel: string, room: string, userId?: string | number | null): Promise<void> {
    if (!transport.isOpen(channel)) return;
    await presence.rooms.add(room, channel, userId);
    // It may have closed while the add ran, after its close left every room.
    if (!transport.isOpen(channel)) return presence.presences.leaveAll(channel);
  }

  // The group joins and leaves follow from the `changed` events of add and remove.
  const leave = (channel: string, room: string) => presence.rooms.remove(room, channel);

  const replyTo = async (room: () => Promise<string | null>): Promise<RequestReply> => {
    try {
      const joined = await room();
      return joined === null ? { ok: false, error: 'join refused' } : { ok: true, room: joined };
    } catch (error) {
      return { ok: false, error: clientMessage(error) };
    }
  };

  return {
    groups,
    received(channel, heartbeat) {
      touch(channel, undefined).catch(report);
      return !heartbeat;
    },
    closed: (channel) => void presence.presences.disconnect(channel).catch(report),
    requestJoin: (connection, channel, request) =>
      inOrder(channel, () =>
        replyTo(async () => {
          const decision = await decideJoin(authorize, connection, request);
          if (!decision) return null;
          await join(channel, decision.room, decision.userId);
          return decision.room;
        }),
      ),
    requestLeave: (channel, room) =>
      inOrder(channel, () =>
        replyTo(async () => {
          await leave(channel, room as string);
          return room as string;
        }),
      ),
    join: (channel, room, userId) => inOrder(channel, () => join(channel, room, userId)),
    leave: (channel, room) => inOrder(channel, () => leave(channel, room)),
    members: (room) => following.members(room),
    idle: () => following.idle(),
    report,
    detach: () => following.stop(),
  };
}

/**
 * The part of `attachPresence`'s result every transport shares. `channelOf` names a
 * connection (undefined once it closed: join and leave then do nothing); `stopListening`
 * takes the transport's connection handler off.
 */
export function attachedPresence<Connection, User>(
  core: IntegrationCore<Connection, User>,
  channelOf: (connection: Connection) => string | undefined,
  stopListening: () => void,
): AttachedPresence<Connection, User> {
  const withChannel = async (connection: Connection, work: (channel: string) => Promise<void>) => {
    const channel = channelOf(connection);
    if (channel !== undefined) await work(channel);
  };
  return {
    join: (connection, room, userId) => withChannel(connection, (channel) => core.join(channel, room, userId)),
    leave: (connection, room) => withChannel(connection, (channel) => core.leave(channel, room)),
    groups: core.groups,
    members: (room) => core.members(room),
    idle: () => core.idle(),
    detach() {
      stopListening();
      core.detach();
    },
  };
}

/** The default `authorize`: a room name, or an object with a `room` string; anonymous. */
function defaultAuthorize(_connection: unknown, request: unknown): JoinDecision {
  const room = typeof request === 'object' && request !== null ? (request as { room?: unknown }).room : request;
  assertChannelName(room, 'room');
  return { room };
}

/** Runs `authorize` and checks what it returned. Null: refused. */
async function decideJoin<Connection>(
  authorize: NonNullable<IntegrationOptions<Connection, unknown>['authorize']>,
  connection: Connection,
  request: unknown,
): Promise<JoinDecision | null> {
  const decision = await authorize(connection, request);
  if (decision === null || decision === false) return null;
  if (typeof decision !== 'object') {
    throw new PresenceError('INVALID_ARGUMENT', 'authorize must return { room, userId? }, null or false');
  }
  assertChannelName(decision.room, 'room');
  return decision;
}

/** A client-safe description of a refused or failed request: never the text of your own errors. */
function clientMessage(error: unknown): string {
  return error instanceof PresenceError && error.code === 'INVALID_ARGUMENT' ? error.message : 'join failed';
}
