import { fragment } from '../database/sql.js';
import type { Database } from '../database/database.js';
import type { PresenceEvents } from '../events.js';
import type { Departures } from '../services/departures.js';
import type { ServerLiveness } from '../services/liveness.js';
import type { TouchBuffer } from '../services/touchBuffer.js';
import type { Presence, PresenceMetadata, Room } from '../types.js';

/** What the repositories share within one presence instance. */
export interface RepositoryContext {
  db: Database;
  events: PresenceEvents;
  /** The one clock for `lastSeen` writes and prune cut-offs. */
  now: () => Date;
  /** Default max age in seconds for prunePresences. */
  maxAge: number;
  roomIds: RoomCache;
  /** Touches from traffic, written in batches. */
  touches: TouchBuffer;
  /** Event sharing between processes (see the `shareEvents` option). */
  sharing: Sharing;
  /** Largest metadata JSON accepted, in bytes. */
  maxMetadataBytes: number;
  /** This process as a registered server (the `liveness` option), or undefined. */
  server: ServerLiveness | undefined;
  /** Disconnects waiting out the `leaveGrace` period (leaving at once without one). */
  departures: Departures;
}

export interface Sharing {
  enabled: boolean;
  /** This tracker's id in the shared log, so that it skips its own entries. */
  origin: string;
  /** Seconds a shared log entry is kept; prunePresences removes older ones. */
  retention: number;
}

/**
 * Remembers room ids by name so that joining a known room is one statement. An entry
 * can go stale when another process prunes the room; the insert that uses it then
 * fails its foreign key, and `add` forgets the entry and retries.
 */
export class RoomCache {
  private readonly rooms = new Map<string, Room>();

  constructor(private readonly capacity = 10_000) {}

  get(name: string): Room | undefined {
    return this.rooms.get(name);
  }

  set(room: Room): void {
    if (this.rooms.size >= this.capacity) this.rooms.clear();
    this.rooms.set(room.channelName, room);
  }

  forget(name: string): void {
    this.rooms.delete(name);
  }

  clear(): void {
    this.rooms.clear();
  }
}

/** A Presence row as the drivers return it, plus the room name where a query adds it. */
export interface PresenceRow {
  id: number | bigint;
  roomId: number | bigint;
  channelName: string;
  userId: string | null;
  lastSeen: Date | string;
  metadata: string | null;
  serverId: string | null;
  roomName?: string;
}

/** The Presence columns every statement returns, in one place. */
export const PRESENCE_COLUMNS = fragment('"id", "roomId", "channelName", "userId", "lastSeen", "metadata", "serverId"');

export function toPresence(row: PresenceRow): Presence {
  return {
    id: Number(row.id),
    roomId: Number(row.roomId),
    channelName: row.channelName,
    userId: row.userId,
    lastSeen: row.lastSeen instanceof Date ? row.lastSeen : new Date(row.lastSeen),
    metadata: row.metadata === null ? null : (JSON.parse(row.metadata) as PresenceMetadata),
    serverId: row.serverId,
  };
}
