import { randomUUID } from 'node:crypto';
import { Database, type PrismaClientLike, type TableNames } from './database/database.js';
import type { Dialect } from './database/url.js';
import { clientConnection, serialized } from './database/connections.js';
import { openConnection } from './database/open.js';
import { PresenceEvents, type PresenceEventName, type PresenceListener } from './events.js';
import { wrapRemove, wrapTouch, type DisconnectHandler, type MessageHandler } from './handlers.js';
import { PresenceError } from './errors.js';
import { resolveOptions, type PresenceOptions } from './options.js';
import { Pruner, type PruningOptions } from './services/pruner.js';
import { publish } from './repositories/changes.js';
import { EventFeed } from './sharing/feed.js';
import { CallBoundary } from './calls.js';
import { Departures } from './services/departures.js';
import { leaveAsServer, ServerLiveness } from './services/liveness.js';
import { RoomCache, type RepositoryContext } from './repositories/context.js';
import { TouchBuffer } from './services/touchBuffer.js';
import { createPresencesRepository, type PresencesRepository } from './repositories/presences.js';
import { createRoomsRepository, type RoomsRepository } from './repositories/rooms.js';

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

/**
 * Creates a presence tracker. With no options it stores presence in `./presence.db`
 * (SQLite); see PresenceOptions for the database URL, your own PrismaClient, the max
 * age and the clock. Throws PresenceError on invalid options.
 */
export function createPresence(options?: PresenceOptions): PresenceTracker {
  const { database, maxAge, now, touchInterval, shareEvents, eventRetention, maxMetadataBytes, liveness, leaveGrace, tables } = resolveOptions(options);
  const db =
    database.kind === 'client'
      ? clientDatabase(database.client, database.dialect, tables)
      : new Database(openConnection(database.location, database.pool), database.location.dialect, tables);
  const events = new PresenceEvents();
  const touches = new TouchBuffer({ db, events, now }, touchInterval);
  const sharing = { enabled: shareEvents, origin: randomUUID(), retention: eventRetention };
  const server = liveness ? new ServerLiveness(db, events, now, liveness.interval, liveness.timeout) : undefined;
  // A departure leaves through the presences repository, which is created with the context below.
  const departures = new Departures(leaveGrace, events, (channelName) => presences.leaveAll(channelName));
  const context: RepositoryContext = { db, events, now, maxAge, roomIds: new RoomCache(), touches, sharing, maxMetadataBytes, server, departures };
  const rooms = createRoomsRepository(context);
  const presences = createPresencesRepository(context);
  const calls = new CallBoundary(() => events.inListener());
  let closing: Promise<void> | undefined;
  let pruner: Pruner | undefined;
  const feed = shareEvents
    ? new EventFeed({
        db,
        events,
        origin: sharing.origin,
        // LISTEN/NOTIFY wakes readers at once; polling is the fallback (and SQLite's only way).
        pollInterval: database.kind === 'url' && database.location.dialect === 'postgresql' ? 1000 : database.kind === 'url' ? 200 : 100,
        listenUrl: database.kind === 'url' && database.location.dialect === 'postgresql' ? database.location.url : undefined,
        deliver: (changes) => publish(context, changes, true),
      })
    : undefined;

  const tracker: PresenceTracker = {
    rooms: calls.wrap(rooms),
    presences: calls.wrap(presences),
    maxAge,
    shareEvents,
    on(event, listener) {
      events.on(event, listener);
      if (event !== 'error') feed?.start(); // read the shared log once someone listens
      return tracker;
    },
    off(event, listener) {
      events.off(event, listener);
      return tracker;
    },
    touchPresence: (handler) => {
      const touch = wrapTouch(touches, handler);
      return (...args) => calls.run(() => touch(...args));
    },
    removePresence: (handler) => {
      const remove = wrapRemove(presences, handler);
      return (...args) => calls.run(() => remove(...args));
    },
    startPruning(options) {
      calls.assertOpen();
      if (pruner) throw new PresenceError('INVALID_ARGUMENT', 'startPruning was already called: stop that pruner first');
      const running = new Pruner(rooms, events, maxAge, options);
      pruner = running;
      return async () => {
        await running.stop();
        if (pruner === running) pruner = undefined;
      };
    },
    close() {
      closing ??= shutDown();
      return closing;
    },
  };

  /** Refuses new calls, lets those in flight finish, runs what is pending, then lets go of the database. */
  async function shutDown(): Promise<void> {
    calls.closing();
    await pruner?.stop();
    await calls.drain();
    await departures.flush();
    if (server?.stop()) await leaveAsServer(context, server.id).catch((error: unknown) => events.report(error, 'removing this server'));
    await feed?.stop();
    touches.stop();
    await touches.flush().catch(() => {}); // a failure was already reported as an error event
    // Async `changed` listeners often query presence: let them finish first.
    await events.settle();
    await calls.drain();
    calls.closed();
    await db.close();
  }
  return tracker;
}

/** An application's PrismaClient; on SQLite, prisma-presence's statements through it run one at a time (see `serialized`). */
function clientDatabase(client: PrismaClientLike, dialect: Dialect, tables: TableNames): Database {
  const connection = clientConnection(client);
  return new Database(dialect === 'sqlite' ? serialized(connection) : connection, dialect, tables);
}
