import { PresenceError } from './errors.js';
import type { FollowOptions, PresenceChangedEvent, PresenceGroups, PresenceMessage, PresenceTracker } from './types.js';

type Followed = Pick<PresenceTracker, 'on' | 'off' | 'rooms'>;

/**
 * Keeps groups in step with presence: joins on add, leaves on remove, leaveAll and
 * prune, and after each change broadcasts the room's members (several changes to a room
 * within a turn of the event loop make one broadcast; a `resync` broadcasts every room
 * broadcast so far again). Returns a function that stops following.
 */
export function followPresence<User = string>(presence: Followed, groups: PresenceGroups, options: FollowOptions<User> = {}): () => void {
  return follow(presence, groups, options).stop;
}

/** What the integrations need beyond `followPresence`'s stop function. */
export interface Following<User> {
  stop(): void;
  /** The members message a room would broadcast now. */
  members(room: string): Promise<PresenceMessage<User>>;
  /** Resolves once every group call and broadcast scheduled so far is done. */
  idle(): Promise<void>;
}

/** Rooms remembered for a resync; beyond this, only rooms that change again are refreshed. */
const MAX_REMEMBERED_ROOMS = 10_000;

export function follow<User>(presence: Followed, groups: PresenceGroups, options: FollowOptions<User>): Following<User> {
  const report = reporter(options.onError);
  const dirty = new Set<string>();
  const broadcastRooms = new Set<string>();
  let scheduled = false;
  let running: Promise<void> = Promise.resolve();

  const members = async (room: string): Promise<PresenceMessage<User>> => {
    const [userIds, anonymous] = await Promise.all([presence.rooms.getUsers(room), presence.rooms.getAnonymousCount(room)]);
    return { room, members: options.resolveUsers ? await options.resolveUsers(userIds) : (userIds as User[]), anonymous };
  };
  const broadcastAll = async (rooms: string[]) => {
    for (const room of rooms) {
      try {
        await groups.broadcast(room, await members(room));
      } catch (error) {
        report(error);
      }
    }
  };

  function schedule(room: string): void {
    if (broadcastRooms.size < MAX_REMEMBERED_ROOMS) broadcastRooms.add(room);
    dirty.add(room);
    if (scheduled) return;
    scheduled = true;
    // Coalescing: every change of this turn of the event loop makes one broadcast per room.
    setImmediate(() => {
      scheduled = false;
      const rooms = [...dirty];
      dirty.clear();
      running = running.then(() => broadcastAll(rooms));
    });
  }

  const pending = new Set<Promise<void>>();
  const call = (work: () => unknown) => {
    try {
      const result = work();
      if (!(result instanceof Promise)) return;
      const done: Promise<void> = result.then(() => undefined, report).finally(() => pending.delete(done));
      pending.add(done);
    } catch (error) {
      report(error);
    }
  };
  // Group calls happen as the event is emitted, so a group has joined before `add` resolves.
  const onChanged = (event: PresenceChangedEvent) => {
    const room = event.room.channelName;
    const { added, removed, pruned } = event;
    // A channel that changed user is reported as added and removed: it stays in the group.
    const changedUser = added && removed && added.channelName === removed.channelName;
    if (added && !changedUser) call(() => groups.join(room, added.channelName));
    if (removed && !changedUser) call(() => groups.leave(room, removed.channelName, 'removed'));
    for (const gone of pruned) call(() => groups.leave(room, gone.channelName, 'pruned'));
    schedule(room);
  };
  const onResync = () => {
    for (const room of broadcastRooms) schedule(room);
  };
  presence.on('changed', onChanged);
  presence.on('resync', onResync);

  return {
    stop() {
      presence.off('changed', onChanged);
      presence.off('resync', onResync);
    },
    members,
    async idle() {
      while (scheduled) await new Promise((resolve) => setImmediate(resolve));
      await Promise.all([running, ...pending]);
    },
  };
}

/** Where errors with no caller to reject go. */
export function reporter(onError: ((error: Error) => void) | undefined): (error: unknown) => void {
  return (error) => {
    // Connections closing after the tracker did: its close() already did what was left to do.
    if (error instanceof PresenceError && error.code === 'CLOSED') return;
    const failure = error instanceof Error ? error : new Error(String(error));
    if (onError) onError(failure);
    else process.emitWarning(`prisma-presence: ${failure.message}`, 'PresenceWarning');
  };
}
