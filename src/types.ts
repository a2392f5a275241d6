// Every public type of prisma-presence, in one file; src/index.ts re-exports them.

// Data

/** A group of connections whose presence is tracked. */
export interface Room {
  id: number;
  channelName: string;
}

/** One connection present in one room. */
export interface Presence {
  id: number;
  roomId: number;
  channelName: string;
  /** The user behind the connection, or null when anonymous. */
  userId: string | null;
  lastSeen: Date;
  /** The connection's application state (set on `add`, changed by `presences.update`), or null. */
  metadata: PresenceMetadata | null;
  /** The registered server process holding the connection (the `liveness` option), or null. */
  serverId: string | null;
}

/** A connection's state: any JSON object, up to the `maxMetadataBytes` option once serialized. */
export type PresenceMetadata = { [key: string]: unknown };

// Events

/** Payload of `updated`: a presence's metadata changed. */
export interface PresenceUpdatedEvent {
  room: Room;
  /** The presence with its new metadata. */
  presence: Presence;
  /** True when another process made the change (event sharing). */
  remote: boolean;
}

/**
 * Payload of the `changed` event (Django's `presence_changed` signal): which room
 * changed and how. A prune emits one event per affected room with `bulkChange: true`,
 * neither `added` nor `removed`, and the presences it removed from that room in `pruned`.
 */
export interface PresenceChangedEvent {
  room: Room;
  /** The presence that joined, or null. */
  added: Presence | null;
  /** The presence that left (remove, leaveAll), or null. */
  removed: Presence | null;
  /** True for a prune, which may remove many presences at once. */
  bulkChange: boolean;
  /** The presences a prune removed from the room; empty for other changes. */
  pruned: Presence[];
  /** True when another process (or the CLI) made the change and event sharing delivered it here. */
  remote: boolean;
}

/**
 * Payload of `userJoined` (a user's first connection entered the room) and `userLeft`
 * (their last connection left it: remove, leaveAll or prune). Anonymous connections
 * produce none.
 */
export interface UserPresenceEvent {
  room: Room;
  userId: string;
  /** True when another process made the change (event sharing). */
  remote: boolean;
}

/** Payload of `resync`: shared events may have been missed, so state read earlier may be stale. */
export interface ResyncEvent {
  reason: string;
}

/** Events a presence instance emits, by name. */
export interface PresenceEventMap {
  /** A room gained or lost connections. */
  changed: PresenceChangedEvent;
  /** A presence's metadata changed (`presences.update`, or `add` with metadata for a present connection). */
  updated: PresenceUpdatedEvent;
  /** A user's first connection entered a room. */
  userJoined: UserPresenceEvent;
  /** A user's last connection left a room. */
  userLeft: UserPresenceEvent;
  /** With event sharing: this process may have missed events (it could not read them in time); re-read what you show. */
  resync: ResyncEvent;
  /** A `changed` listener threw or rejected (the operation itself succeeded), or buffered touches could not be written. */
  error: Error;
}

export type PresenceEventName = keyof PresenceEventMap;

export type PresenceListener<E extends PresenceEventName> = (payload: PresenceEventMap[E]) => unknown;

// The tracker

/** A presence tracker bound to one database. */
export interface PresenceTracker {
  /** Rooms and who is in them (Django's `Room.objects`). */
  readonly rooms: RoomsRepository;
  /** One connection across all its rooms (Django's `Presence.objects`). */
  readonly presences: PresencesRepository;
  /** The max age in seconds that `prunePresences()` uses by default. */
  readonly maxAge: number;
  /** Whether changes are shared with the other processes on the database (the `shareEvents` option). */
  readonly shareEvents: boolean;
  /**
   * Listens for an event: `changed` (a room gained or lost connections), `userJoined` /
   * `userLeft` (a user's first connection entered / last one left a room), `resync`
   * (shared events may have been missed) or `error` (a listener or background write failed).
   */
  on<E extends PresenceEventName>(event: E, listener: PresenceListener<E>): this;
  /** Stops listening. */
  off<E extends PresenceEventName>(event: E, listener: PresenceListener<E>): this;
  /**
   * Wraps a message handler `(channelName, message, ...rest)`: every message touches the
   * connection's presence (buffered: written within `touchInterval`); a message that is
   * the JSON string "heartbeat" stops there (resolves undefined) and the handler's
   * result is returned otherwise.
   */
  touchPresence<Rest extends unknown[], R>(
    handler: MessageHandler<Rest, R>,
  ): (channelName: string, message: any, ...rest: Rest) => Promise<Awaited<R> | undefined>;
  /** Wraps a disconnect handler `(channelName, ...rest)`: leaves every room, then runs the handler. */
  removePresence<Rest extends unknown[], R>(handler: DisconnectHandler<Rest, R>): (channelName: string, ...rest: Rest) => Promise<Awaited<R>>;
  /**
   * Prunes in this process, for apps without cron: prunePresences then pruneRooms every
   * `every` seconds (default: half the max age). The timer does not keep the process
   * alive; failures go to `error` listeners. Returns a function that stops it; `close()`
   * stops it too. One pruner per tracker.
   */
  startPruning(options?: PruningOptions): () => Promise<void>;
  /**
   * Refuses new calls (they reject with CLOSED), waits for the calls in flight, stops the
   * pruner, runs pending departures, waits for async listeners still running, then
   * disconnects the database if the tracker opened it. A second call returns the same promise.
   */
  close(): Promise<void>;
}

/** A websocket message handler: the connection's channel name, the message, anything else. */
export type MessageHandler<Rest extends unknown[] = any[], R = unknown> = (channelName: string, message: any, ...rest: Rest) => R;

/** A disconnect handler: the connection's channel name, anything else. */
export type DisconnectHandler<Rest extends unknown[] = any[], R = unknown> = (channelName: string, ...rest: Rest) => R;

/** Options of `startPruning`. */
export interface PruningOptions {
  /** Seconds between two prune rounds. Default: half the max age. */
  every?: number;
  /** Max age in seconds for prunePresences. Default: the tracker's. */
  maxAge?: number;
}

// Repositories

/** The Django `Room.objects` manager: who is in which room. */
export interface RoomsRepository {
  /**
   * Puts a connection in a room, creating the room if needed, and returns the room.
   * Adding a connection that is already there refreshes `lastSeen` and its user, and
   * emits nothing (but `updated` when `metadata` is given); a new presence emits
   * `changed` with `added`, and `userJoined` for the user's first connection there.
   */
  add(roomChannelName: string, userChannelName: string, userId?: string | number | null, options?: AddOptions): Promise<Room>;
  /** Takes a connection out of a room; emits `changed` with `removed`. Unknown room or channel: no-op. */
  remove(roomChannelName: string, userChannelName: string): Promise<void>;
  /** Distinct user ids present in the room, sorted; `[]` for an unknown or empty room. */
  getUsers(roomChannelName: string): Promise<string[]>;
  /** Every connection in the room with its user and metadata, by channel name, in one query. */
  getPresences(roomChannelName: string): Promise<Presence[]>;
  /** How many connections without a user are in the room; 0 for an unknown room. */
  getAnonymousCount(roomChannelName: string): Promise<number>;
  /**
   * Removes presences not seen for `maxAge` seconds (default: the instance's max age),
   * and every presence of a registered server whose liveness expired, in one statement;
   * emits one `changed` with `bulkChange: true` and the `pruned` list per affected room.
   * Returns how many presences it removed.
   */
  prunePresences(maxAge?: number): Promise<number>;
  /** Removes rooms without presences; never one that a concurrent add is joining. Returns how many. */
  pruneRooms(): Promise<number>;
  /**
   * Counts rooms, presences, distinct users, anonymous and stale presences (older than
   * `maxAge`, default the instance's), per room and in total, in one query. `roomNames`
   * narrows it to those rooms; unknown names are left out.
   */
  stats(roomNames?: readonly string[], maxAge?: number): Promise<PresenceStats>;
}

/** Options of `rooms.add`. */
export interface AddOptions {
  /**
   * The connection's state, a JSON object (at most `maxMetadataBytes`). Given for a
   * connection already present, it replaces the stored metadata and emits `updated`;
   * left out, the stored metadata stays.
   */
  metadata?: PresenceMetadata;
}

/** The Django `Presence.objects` manager: one connection across all its rooms. */
export interface PresencesRepository {
  /** Sets `lastSeen` to now in every room the connection is in; no-op for an unknown channel. */
  touch(channelName: string): Promise<void>;
  /** Removes the connection from every room; emits `changed` with `removed` per room it left. */
  leaveAll(channelName: string): Promise<void>;
  /**
   * The connection closed: leaves every room, after the `leaveGrace` period when one is
   * set (a reconnect of the same user meanwhile then shows no leave and join).
   */
  disconnect(channelName: string): Promise<void>;
  /**
   * Changes the connection's metadata in every room it is in (or in `room` only): merged
   * key by key into what is stored (default), or replacing it with `replace: true`.
   * Emits `updated` per presence changed; returns how many. The result must fit
   * `maxMetadataBytes`, or nothing is written.
   */
  update(channelName: string, metadata: PresenceMetadata, options?: UpdateOptions): Promise<number>;
  /** Writes the touches that `touchPresence` has buffered (see the `touchInterval` option) now. */
  flush(): Promise<void>;
}

/** Options of `presences.update`. */
export interface UpdateOptions {
  /** Only the presence in this room. */
  room?: string;
  /** Replace the stored metadata instead of merging into it. */
  replace?: boolean;
}

/** Counts for one room, or for all of them together. */
export interface PresenceCounts {
  /** Rooms counted (1 for a room's own line). */
  rooms: number;
  presences: number;
  /** Distinct users (a user in two rooms counts once in the totals). */
  users: number;
  /** Presences without a user. */
  anonymous: number;
  /** What prunePresences would remove now: presences not seen for the max age, and those of servers whose liveness expired. */
  stale: number;
}

export interface PresenceStats {
  /** Totals over the rooms asked for (every room by default). */
  total: PresenceCounts;
  /** One entry per room, sorted by name; unknown names are left out. */
  rooms: (PresenceCounts & { room: string })[];
  /** The max age in seconds that decided which presences are stale. */
  maxAge: number;
  /** Server processes registered with the `liveness` option, by id, with how many presences each holds. */
  servers: ServerStats[];
  /** The shared event log (PresenceEvent): how many entries it holds and when the oldest was logged (null when empty). */
  log: { entries: number; oldest: Date | null };
}

export interface ServerStats {
  id: string;
  hostname: string;
  pid: number;
  startedAt: Date;
  lastSeen: Date;
  expiresAt: Date;
  /** False once its liveness expired: the next prune removes its presences. */
  alive: boolean;
  presences: number;
}

// Options

/** Options of `createPresence`; every field is optional. */
export interface PresenceOptions {
  /**
   * Where presence is stored: `file:<path>` (SQLite) or `postgresql://...`.
   * Default: env `PRESENCE_DATABASE_URL`, then `DATABASE_URL`, then `file:./presence.db`.
   * Leave it out when passing `prisma`.
   */
  databaseUrl?: string;
  /** Your application's PrismaClient, whose schema includes the shipped models. It stays yours: `close()` leaves it open. */
  prisma?: PrismaClientLike;
  /**
   * The database behind `prisma`, required with it: your driver adapter's `provider`
   * (`new PrismaPg(...).provider` is `'postgres'`, PrismaBetterSqlite3's is `'sqlite'`),
   * or `'sqlite'` / `'postgresql'`. A PrismaClient does not tell it publicly.
   */
  provider?: 'sqlite' | 'postgresql' | 'postgres';
  /** Seconds without traffic after which a presence is pruned. Default: env `PRESENCE_MAX_AGE`, then 60. */
  maxAge?: number;
  /** The clock for `lastSeen` writes and prune cut-offs. Default: `() => new Date()`. */
  now?: () => Date;
  /** PostgreSQL pool settings when prisma-presence opens the connection. */
  pool?: PoolOptions;
  /**
   * Milliseconds during which `touchPresence` gathers touches before writing them in one
   * statement (0: write each at once). Default: a tenth of `maxAge`, at most 1000.
   * It may not exceed a quarter of `maxAge`, so that buffering can never make a live
   * connection look stale.
   */
  touchInterval?: number;
  /**
   * Delivers every change made by any process on the same database (other app servers,
   * the CLI from cron) to this tracker's listeners, flagged `remote: true`: changes are
   * logged in the PresenceEvent table, in the same transaction. Turn it on in every
   * process that writes presence. Default: env `PRESENCE_SHARE_EVENTS` (`1`/`true`), else off.
   */
  shareEvents?: boolean;
  /**
   * Seconds the shared log keeps a change: every prunePresences of this tracker removes
   * older entries, whether or not it shares events. Default: 600.
   */
  eventRetention?: number;
  /** Largest metadata object accepted, in bytes of its JSON. Default: 8192. */
  maxMetadataBytes?: number;
  /**
   * Registers this process as a server holding connections: one liveness write per
   * `interval` seconds (default 5); its presences carry its id, and once its liveness is
   * older than `timeout` seconds (default 3 intervals) the next prune removes them all at
   * once. `close()` removes this server's presences. `true` takes the defaults. Default: off.
   */
  liveness?: boolean | LivenessOptions;
  /**
   * Seconds a disconnect (`presences.disconnect`, `removePresence`, the integrations)
   * waits before it removes the connection, so that a user who reconnects meanwhile
   * never appears to leave and join again. Default: 0 (at once).
   */
  leaveGrace?: number;
  /**
   * Where the presence tables are when your own schema renamed them: the table name per
   * shipped model (e.g. `{ Room: 'presence_room' }`, for a pasted model with
   * `@@map("presence_room")`), and `schema` for a PostgreSQL schema other than the search
   * path's. Default: env `PRESENCE_TABLES` (`Room=presence_room,Presence=presence_entry`)
   * and `PRESENCE_SCHEMA`, else the shipped names.
   */
  tables?: TableNames;
}

/** Settings of the `liveness` option. */
export interface LivenessOptions {
  /** Seconds between two liveness writes. Default: 5. */
  interval?: number;
  /** Seconds without a liveness write after which this server counts as dead. Default: 3 intervals. */
  timeout?: number;
}

/** Connection pool settings for PostgreSQL (ignored for SQLite); each a positive integer. */
export interface PoolOptions {
  /** Most connections the pool opens. Default 10. */
  max?: number;
  /** Milliseconds to wait for a connection before failing. Default 5000. */
  connectTimeout?: number;
  /** Milliseconds an unused connection stays open. Default 10000. */
  idleTimeout?: number;
}

/**
 * The part of a PrismaClient that prisma-presence uses. Any client generated from a
 * schema that includes the shipped models fits, whatever else its schema holds.
 */
export interface PrismaClientLike {
  $queryRawUnsafe<T = unknown>(query: string, ...values: any[]): PromiseLike<T>;
  $executeRawUnsafe(query: string, ...values: any[]): PromiseLike<number>;
  $transaction<R>(work: (tx: any) => Promise<R>, options?: { maxWait?: number; timeout?: number }): Promise<R>;
  $disconnect(): Promise<void>;
}

/**
 * Where the presence tables are, when an application's own schema renamed them (`@@map`)
 * or keeps them in another PostgreSQL schema. Keys are the shipped model names.
 */
export interface TableNames {
  Room?: string;
  Presence?: string;
  PresenceServer?: string;
  PresenceEvent?: string;
  /** PostgreSQL schema holding the tables. Default: the connection's search path (usually `public`). */
  schema?: string;
}

// Groups (followPresence and the integrations)

/**
 * What a room's connections receive whenever its presence changes: the present users
 * (their ids, or what `resolveUsers` made of them, in id order) and the anonymous count.
 */
export interface PresenceMessage<User = string> {
  room: string;
  members: User[];
  anonymous: number;
}

/** Why a connection leaves a room's group. */
export type LeaveReason = 'removed' | 'pruned';

/**
 * Groups of connections that follow presence, like a Django channel layer group per
 * room: a connection present in a room is in its group, so a broadcast to the group
 * reaches exactly the present connections. `prisma-presence/socket.io` and
 * `prisma-presence/ws` implement it; a method may return a promise.
 */
export interface PresenceGroups {
  /** Puts the connection in the room's group. */
  join(room: string, channelName: string): unknown;
  /** Takes the connection out of the room's group (`pruned`: its presence expired while it may still be attached). */
  leave(room: string, channelName: string, reason: LeaveReason): unknown;
  /** Sends the room's presence message (its members) to every connection in its group. */
  broadcast(room: string, message: PresenceMessage<unknown>): unknown;
}

/** Options of `followPresence`. */
export interface FollowOptions<User = string> {
  /** Turns the user ids of a room into what `members` shows, in one call per broadcast. Default: the ids. */
  resolveUsers?: (userIds: string[]) => User[] | Promise<User[]>;
  /** Errors with no caller to reject (a failed group call or broadcast). Default: a process warning. */
  onError?: (error: Error) => void;
}

// Migrations

export interface MigrateOptions {
  /** Default: env `PRESENCE_DATABASE_URL`, then `DATABASE_URL`, then `file:./presence.db`. */
  databaseUrl?: string;
}

/** Which bundled migrations a database has, or, when the application migrates the tables itself, whether they fit. */
export interface MigrationStatus {
  /**
   * Who creates the presence tables: `prisma-presence` (presence-admin or the shipped
   * migrations) or `application` (the app's own Prisma migrations, or tables made
   * without a history); presence-admin migrate refuses to touch the latter.
   */
  owner: 'prisma-presence' | 'application';
  /** Applied successfully, in order. */
  applied: string[];
  /** Not applied yet: `presence-admin migrate` would apply these. */
  pending: string[];
  /** Started but unfinished or failed; `presence-admin migrate` repairs them first. */
  failed: string[];
  /** With owner `application`: what the tables lack for prisma-presence, one line each (empty when they fit). */
  differences: string[];
}

// Errors

/** What went wrong, for callers that branch on it. */
export type PresenceErrorCode =
  | 'INVALID_ARGUMENT'
  | 'UNSUPPORTED_DATABASE'
  | 'MIGRATION_REQUIRED'
  | 'MIGRATION_FAILED'
  | 'DATABASE_UNAVAILABLE'
  | 'CLOSED';
