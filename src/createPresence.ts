import { randomUUID } from 'node:crypto';
import { Database } from './database/database.js';
import type { Dialect } from './database/url.js';
import { clientConnection, serialized } from './database/connections.js';
import { openConnection } from './database/open.js';
import { PresenceEvents } from './events.js';
import { wrapRemove, wrapTouch } from './handlers.js';
import { PresenceError } from './errors.js';
import { resolveOptions } from './options.js';
import { Pruner } from './services/pruner.js';
import { publish } from './repositories/changes.js';
import { EventFeed } from './sharing/feed.js';
import { CallBoundary } from './calls.js';
import { Departures } from './services/departures.js';
import { leaveAsServer, ServerLiveness } from './services/liveness.js';
import { RoomCache, type RepositoryContext } from './repositories/context.js';
import { TouchBuffer } from './services/touchBuffer.js';
import { createPresencesRepository } from './repositories/presences.js';
import { createRoomsRepository } from './repositories/rooms.js';
import type { PresenceOptions, PresenceTracker, PrismaClientLike, TableNames } from './types.js';

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
      : new Database(openConnection(database.location, database.pool, tables), database.location.dialect, tables);
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
