import type { PresenceTracker } from './createPresence.js';
import type { PresenceChangedEvent } from './types.js';

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
