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
}

/**
 * Payload of the `changed` event (Django's `presence_changed` signal): which room
 * changed and how. A prune emits one event per affected room with `bulkChange: true`
 * and neither `added` nor `removed`.
 */
export interface PresenceChangedEvent {
  room: Room;
  added: Presence | null;
  removed: Presence | null;
  bulkChange: boolean;
}
