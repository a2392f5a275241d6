import type { PresenceTracker } from '../createPresence.js';
import { PresenceError } from '../errors.js';
import type { PresenceMessage } from '../groups.js';
import type { PresenceChangedEvent } from '../types.js';

export type { PresenceMessage };
import { assertChannelName } from '../validation.js';

/** Where a join request leads: the room, and who joins it (omit `userId` for anonymous). */
export interface JoinDecision {
  room: string;
  userId?: string | number | null;
}


/** What happens to a connection that a prune removed from a room while it is still attached. */
export type PrunedConnectionPolicy = 'notify' | 'disconnect' | 'leave';

/** Options both integrations share. */
export interface IntegrationOptions<Connection, User> {
  /**
   * Decides a client's join request: returns the room and user, or `null`/`false` to
   * refuse. Authorization is yours. Default: the request is the room name (or `{ room }`)
   * and the connection joins anonymously.
   */
  authorize?: (connection: Connection, request: unknown) => JoinDecision | null | false | Promise<JoinDecision | null | false>;
  /** Turns the user ids of a room into what `members` shows, in one call per broadcast. Default: the ids. */
  resolveUsers?: (userIds: string[]) => User[] | Promise<User[]>;
  /**
   * A connection that a prune removed while still attached leaves the room's group and:
   * `notify` (default) gets a `pruned` message so it can join again, `disconnect` is
   * closed, `leave` is told nothing.
   */
  onPruned?: PrunedConnectionPolicy;
  /** Errors with no caller to reject (a failed broadcast, a failed disconnect cleanup). Default: a process warning. */
  onError?: (error: Error) => void;
}

/** The default `authorize`: a room name, or an object with a `room` string; anonymous. */
export function defaultAuthorize(_connection: unknown, request: unknown): JoinDecision {
  const room = typeof request === 'object' && request !== null ? (request as { room?: unknown }).room : request;
  assertChannelName(room, 'room');
  return { room };
}

/** Runs `authorize` and checks what it returned. Null: refused. */
export async function decideJoin<Connection>(
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

export function reportTo(onError: IntegrationOptions<unknown, unknown>['onError']): (error: unknown) => void {
  return (error) => {
    // Connections closing after the tracker did: its close() already did what was left to do.
    if (error instanceof PresenceError && error.code === 'CLOSED') return;
    const failure = error instanceof Error ? error : new Error(String(error));
    if (onError) onError(failure);
    else process.emitWarning(`prisma-presence: ${failure.message}`, 'PresenceWarning');
  };
}

/** A client-safe description of a refused or failed join. */
export function joinErrorMessage(error: unknown): string {
  return error instanceof PresenceError && error.code === 'INVALID_ARGUMENT' ? error.message : 'join failed';
}

/** Rooms remembered for a resync; beyond this, only rooms that change again are refreshed. */
const MAX_REMEMBERED_ROOMS = 10_000;

/**
 * Sends each changed room its members list, coalescing: many changes to one room within
 * a turn of the event loop cost one query pair and one message.
 */
export class RoomBroadcaster<User> {
  private readonly dirty = new Set<string>();
  private scheduled = false;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly presence: PresenceTracker,
    private readonly send: (room: string, message: PresenceMessage<User>) => unknown,
    private readonly resolveUsers: ((userIds: string[]) => User[] | Promise<User[]>) | undefined,
    private readonly report: (error: unknown) => void,
  ) {}

  readonly onChanged = (event: PresenceChangedEvent): void => this.schedule(event.room.channelName);

  /** Shared events may have been missed: send every room broadcast so far its members again. */
  readonly onResync = (): void => {
    for (const room of this.broadcastRooms) this.schedule(room);
  };

  private readonly broadcastRooms = new Set<string>();

  schedule(room: string): void {
    if (this.broadcastRooms.size < MAX_REMEMBERED_ROOMS) this.broadcastRooms.add(room);
    this.dirty.add(room);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const rooms = [...this.dirty];
      this.dirty.clear();
      this.running = this.running.then(() => this.sendAll(rooms));
    });
  }

  /** Resolves once every broadcast scheduled so far has been sent. */
  async idle(): Promise<void> {
    while (this.scheduled || this.dirty.size > 0) await new Promise((resolve) => setImmediate(resolve));
    await this.running;
  }

  private async sendAll(rooms: string[]): Promise<void> {
    for (const room of rooms) {
      try {
        await this.send(room, await this.membersOf(room));
      } catch (error) {
        this.report(error);
      }
    }
  }

  async membersOf(room: string): Promise<PresenceMessage<User>> {
    const [userIds, anonymous] = await Promise.all([this.presence.rooms.getUsers(room), this.presence.rooms.getAnonymousCount(room)]);
    const members = this.resolveUsers ? await this.resolveUsers(userIds) : (userIds as User[]);
    return { room, members, anonymous };
  }
}
