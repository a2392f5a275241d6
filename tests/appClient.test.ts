// An application passes its own PrismaClient (generated from a schema with its own User
// model plus the shipped presence models) to createPresence. Assertions about the
// database go through the raw drivers, never through prisma-presence.
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPresence, PresenceError, type PresenceChangedEvent, type PresenceOptions, type PresenceTracker, type PrismaClientLike } from '../src/index.ts';
import { PrismaClient as LibraryPostgresClient } from '../src/generated/postgresql/client.ts';
import { PrismaClient as LibrarySqliteClient } from '../src/generated/sqlite/client.ts';
import { PrismaClient as AppPostgresClient } from './fixtures/app-postgresql/generated/client.ts';
import { PrismaClient as AppSqliteClient } from './fixtures/app-sqlite/generated/client.ts';
import { createAppTables } from './support/appClient.ts';
import { manualClock } from './support/clock.ts';
import { emptyDatabase, inspect, roomNames, snapshot, testEngines, type Engine, type Inspector } from './support/databases.ts';
import { eventually } from './support/realtime.ts';
import { rejection } from './support/rejection.ts';

/**
 * The application's client, constructed the way an application does it. Both generated
 * clients expose the same models; typing them as one keeps the calls below simple (each
 * type is checked against PrismaClientLike on its own further down).
 */
type AppClient = AppSqliteClient;
function appClient(engine: Engine, url: string): AppClient {
  return engine === 'sqlite'
    ? new AppSqliteClient({ adapter: new PrismaBetterSqlite3({ url }) })
    : (new AppPostgresClient({ adapter: new PrismaPg({ connectionString: url }) }) as unknown as AppClient);
}

/** prisma-presence's own generated client for the engine, pointed at the same database. */
function libraryClient(engine: Engine, url: string): LibrarySqliteClient | LibraryPostgresClient {
  return engine === 'sqlite'
    ? new LibrarySqliteClient({ adapter: new PrismaBetterSqlite3({ url }) })
    : new LibraryPostgresClient({ adapter: new PrismaPg({ connectionString: url }) });
}

// Compile-time checks (`npm run typecheck`): every generated client must keep fitting
// PrismaClientLike, the type of the `prisma` option. These functions never run.
function fixtureClientsFit(sqlite: AppSqliteClient, postgresql: AppPostgresClient): PrismaClientLike[] {
  const fitsSqlite: PrismaClientLike = sqlite;
  const fitsPostgresql: PrismaClientLike = postgresql;
  return [fitsSqlite, fitsPostgresql];
}
function libraryClientsFit(sqlite: LibrarySqliteClient, postgresql: LibraryPostgresClient): PrismaClientLike[] {
  const fitsSqlite: PrismaClientLike = sqlite;
  const fitsPostgresql: PrismaClientLike = postgresql;
  return [fitsSqlite, fitsPostgresql];
}
void fixtureClientsFit;
void libraryClientsFit;

/** The PresenceError that `work` throws. */
function thrown(work: () => unknown): PresenceError {
  let error: unknown;
  try {
    work();
  } catch (failure) {
    error = failure;
  }
  expect(error).toBeInstanceOf(PresenceError);
  return error as PresenceError;
}

/** Events as compact `kind room channel` strings, in emission order. */
function describeEvents(events: PresenceChangedEvent[]): string[] {
  return events.map((event) => {
    if (event.bulkChange) return `bulk ${event.room.channelName}`;
    if (event.added) return `added ${event.room.channelName} ${event.added.channelName}`;
    return `removed ${event.room.channelName} ${event.removed?.channelName}`;
  });
}

describe.each(testEngines())("an application's own PrismaClient on %s", (engine) => {
  let url: string;
  let db: Inspector;
  let client: AppClient;
  let clock: ReturnType<typeof manualClock>;
  let presence: PresenceTracker;
  let events: PresenceChangedEvent[];

  beforeAll(async () => {
    url = await emptyDatabase(engine);
    await createAppTables(engine, url);
    db = await inspect(url);
    client = appClient(engine, url);
  });
  afterAll(async () => {
    await client.$disconnect();
    await db.close();
  });

  beforeEach(async () => {
    await db.rows('DELETE FROM "Presence"');
    await db.rows('DELETE FROM "Room"');
    await db.rows('DELETE FROM "User"');
    clock = manualClock();
    presence = createPresence({ prisma: client, provider: engine, now: clock.now, maxAge: 60 });
    events = [];
    presence.on('changed', (event) => void events.push(event));
  });
  afterEach(() => presence.close());

  const lastSeen = async () => {
    const rows = await db.rows<{ room: string; channel: string; lastSeen: unknown }>(
      'SELECT r."channelName" AS room, p."channelName" AS channel, p."lastSeen" AS "lastSeen" FROM "Presence" p JOIN "Room" r ON r.id = p."roomId" ORDER BY 1, 2',
    );
    return rows.map((row) => `${row.room}/${row.channel}@${new Date(row.lastSeen as string).toISOString()}`);
  };

  it('add, getUsers, getAnonymousCount and remove work through the client and emit changed', async () => {
    await presence.rooms.add('lobby', 'chan.1', 'alice');
    await presence.rooms.add('lobby', 'chan.2', 'bob');
    await presence.rooms.add('lobby', 'chan.3');
    expect(await snapshot(db)).toEqual(['lobby/chan.1=alice', 'lobby/chan.2=bob', 'lobby/chan.3=-']);
    expect(await presence.rooms.getUsers('lobby')).toEqual(['alice', 'bob']);
    expect(await presence.rooms.getAnonymousCount('lobby')).toBe(1);

    await presence.rooms.remove('lobby', 'chan.2');
    expect(await snapshot(db)).toEqual(['lobby/chan.1=alice', 'lobby/chan.3=-']);
    expect(describeEvents(events)).toEqual(['added lobby chan.1', 'added lobby chan.2', 'added lobby chan.3', 'removed lobby chan.2']);
  });

  it('touch refreshes lastSeen and leaveAll removes the channel from every room, through the client', async () => {
    const start = clock.now().toISOString();
    await presence.rooms.add('lobby', 'chan.1', 'alice');
    await presence.rooms.add('kitchen', 'chan.1', 'alice');
    await presence.rooms.add('lobby', 'chan.2');
    clock.advance(10);
    await presence.presences.touch('chan.1');
    const later = clock.now().toISOString();
    expect(await lastSeen()).toEqual([`kitchen/chan.1@${later}`, `lobby/chan.1@${later}`, `lobby/chan.2@${start}`]);

    events = [];
    await presence.presences.leaveAll('chan.1');
    expect(await snapshot(db)).toEqual(['lobby/chan.2=-']);
    expect(describeEvents(events).sort()).toEqual(['removed kitchen chan.1', 'removed lobby chan.1']);
  });

  it('prunePresences removes stale presences and pruneRooms the rooms left empty, through the client', async () => {
    await presence.rooms.add('lobby', 'chan.old');
    await presence.rooms.add('kitchen', 'chan.old');
    clock.advance(45);
    await presence.rooms.add('lobby', 'chan.new', 'bob');
    clock.advance(30); // chan.old was last seen 75 s ago, chan.new 30 s ago

    events = [];
    expect(await presence.rooms.prunePresences()).toBe(2);
    expect(await snapshot(db)).toEqual(['lobby/chan.new=bob']);
    expect(describeEvents(events).sort()).toEqual(['bulk kitchen', 'bulk lobby']);

    expect(await presence.rooms.pruneRooms()).toBe(1);
    expect(await roomNames(db)).toEqual(['lobby']);
  });

  if (engine === 'postgresql') {
    it("a prune whose transaction outlasts Prisma's default 5 s timeout still completes through the client", async () => {
      presence.on('userLeft', () => {}); // per-user events: the prune runs in an interactive transaction
      await presence.rooms.add('lobby', 'chan.old', 'alice');
      clock.advance(75);
      const other = new pg.Client({ connectionString: url });
      await other.connect();
      try {
        await other.query('BEGIN');
        await other.query(`SELECT 1 FROM "Presence" WHERE "channelName" = 'chan.old' FOR UPDATE`);
        let settled = false;
        const pruning = presence.rooms.prunePresences().finally(() => (settled = true));
        // Held until the prune's transaction, waiting on that row, has been open longer than 5 s.
        const waitingPastFiveSeconds = `SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE wait_event_type = 'Lock' AND datname = current_database() AND now() - xact_start > interval '5500 milliseconds'`;
        await eventually(
          async () => settled || (await db.rows<{ n: number }>(waitingPastFiveSeconds))[0]!.n > 0,
          8000,
          'the prune to wait on the locked row for more than 5 s',
        );
        await other.query('COMMIT');
        expect(await pruning).toBe(1);
      } finally {
        await other.end();
      }
      expect(await snapshot(db)).toEqual([]);
    }, 20_000);
  }

  it("the application's own models work in the same database, next to the presence rows", async () => {
    const user = await client.user.create({ data: { name: 'Ada' } });
    await presence.rooms.add('lobby', 'chan.1', String(user.id));

    expect(await db.rows('SELECT "id", "name" FROM "User"')).toEqual([{ id: user.id, name: 'Ada' }]);
    expect(await snapshot(db)).toEqual([`lobby/chan.1=${user.id}`]);
    // The application reads what prisma-presence wrote, through its own client.
    const rooms = await client.room.findMany({ select: { channelName: true, presences: { select: { channelName: true, userId: true } } } });
    expect(rooms).toEqual([{ channelName: 'lobby', presences: [{ channelName: 'chan.1', userId: String(user.id) }] }]);
  });

  it("close() leaves the application's client connected, while the tracker's methods reject with CLOSED", async () => {
    await presence.rooms.add('lobby', 'chan.1');
    // Prisma reconnects lazily after $disconnect, so a query after close() alone would not
    // tell; an interactive transaction open across close() only survives if close() left
    // the client connected.
    await client.$transaction(async (tx) => {
      await tx.user.create({ data: { name: 'before close' } });
      await presence.close();
      await tx.user.create({ data: { name: 'after close' } });
    });
    expect(await client.user.count()).toBe(2);
    expect((await db.rows<{ name: string }>('SELECT "name" FROM "User" ORDER BY "id"')).map((row) => row.name)).toEqual(['before close', 'after close']);

    for (const call of [
      () => presence.rooms.add('lobby', 'chan.2'),
      () => presence.rooms.getUsers('lobby'),
      () => presence.rooms.prunePresences(),
      () => presence.presences.touch('chan.1'),
      () => presence.presences.leaveAll('chan.1'),
    ]) {
      expect((await rejection(call())).code).toBe('CLOSED');
    }
    expect(await snapshot(db)).toEqual(['lobby/chan.1=-']);
  });

  it("accepts prisma-presence's own generated client as the application client", async () => {
    const own = libraryClient(engine, url);
    const tracker = createPresence({ prisma: own, provider: engine, now: clock.now });
    try {
      await tracker.rooms.add('lobby', 'chan.own', 'carol');
      expect(await snapshot(db)).toEqual(['lobby/chan.own=carol']);
      expect(await tracker.rooms.getUsers('lobby')).toEqual(['carol']);
    } finally {
      await tracker.close();
      await own.$disconnect();
    }
  });

  it('rejects prisma together with databaseUrl with INVALID_ARGUMENT', () => {
    const error = thrown(() => createPresence({ prisma: client, databaseUrl: url }));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toMatch(/either databaseUrl or prisma/i);
  });

  it.each([
    ['a plain object', {}],
    ['an object with a non-function $queryRawUnsafe', { $queryRawUnsafe: 'SELECT 1', $executeRawUnsafe: 'x', $transaction: 1, $disconnect: 2 }],
    ['null', null],
    ['a database URL string', 'file:./presence.db'],
  ])('rejects %s as prisma with INVALID_ARGUMENT', (_label, notAClient) => {
    const error = thrown(() => createPresence({ prisma: notAClient } as unknown as PresenceOptions));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toMatch(/PrismaClient/);
  });
});
