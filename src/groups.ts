import type { PresenceTracker } from './createPresence.js';
import type { PresenceChangedEvent } from './types.js';

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
  /** Sends a message to every connection in the room's group. */
  broadcast(room: string, message: unknown): unknown;
}

/**
 * Keeps groups in step with presence: joins on add, leaves on remove, leaveAll and
 * prune. Returns a function that stops following.
 */
export function followPresence(
  presence: Pick<PresenceTracker, 'on' | 'off'>,
  groups: PresenceGroups,
): () => void {
  const listener = (event: PresenceChangedEvent) => applyToGroups(groups, event);
  presence.on('changed', listener);
  return () => void presence.off('changed', listener);
}

/** The group operations one `changed` event stands for. */
export async function applyToGroups(groups: PresenceGroups, event: PresenceChangedEvent): Promise<void> {
  const room = event.room.channelName;
  if (event.added) await groups.join(room, event.added.channelName);
  if (event.removed) await groups.leave(room, event.removed.channelName, 'removed');
  for (const presence of event.pruned) await groups.leave(room, presence.channelName, 'pruned');
}
