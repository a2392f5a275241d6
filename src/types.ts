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
