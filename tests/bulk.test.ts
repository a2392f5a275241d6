// Writes at the size of a large installation: 100,000 presences of 100,000 users
// across 20,000 rooms, with every listener on (changed, per-user, shared events), on
// a PostgreSQL server with default settings. Parameter limits, PostgreSQL's lock table
// and transaction timeouts only show at this size.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPresence, migrate, type PresenceTracker } from '../src/index.ts';
import { manualClock } from './support/clock.ts';
import { expiredServer, inspect, migratedDatabase, testEngines, type Engine, type Inspector } from './support/databases.ts';
import { createDatabase, startPostgresServer, type PostgresServer } from './support/postgresServer.ts';

const ROOMS = 20_000;
const PER_ROOM = 5;
const LONG_AGO = '2020-01-01T00:00:00.000+00:00';

/** Seeds ROOMS rooms with PER_ROOM presences each, each of its own user, seen long ago, held by `serverId`. */
async function seed(db: Inspector, engine: Engine, serverId: string | null): Promise<void> {
  if (engine === 'postgresql') {
    await db.rows(`INSERT INTO "Room" ("channelName") SELECT 'room.' || i FROM generate_series(0, ${ROOMS - 1}) i`);
    await db.rows(
      `INSERT INTO "Presence" ("roomId", "channelName", "userId", "lastSeen", "serverId")
       SELECT r."id", r."channelName" || '.c' || k, r."channelName" || '.u' || k, ?::timestamptz, ? FROM "Room" r, generate_series(0, ${PER_ROOM - 1}) k`,
      LONG_AGO,
      serverId,
    );
    return;
  }
  const series = (n: number) => `WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < ${n - 1})`;
  await db.rows(`${series(ROOMS)} INSERT INTO "Room" ("channelName") SELECT 'room.' || i FROM s`);
  await db.rows(
    `${series(PER_ROOM)} INSERT INTO "Presence" ("roomId", "channelName", "userId", "lastSeen", "serverId")
     SELECT r."id", r."channelName" || '.c' || s.i, r."channelName" || '.u' || s.i, ?, ? FROM "Room" r, s`,
    LONG_AGO,
    serverId,
  );
}

describe.each(testEngines())('100,000 presences across 20,000 rooms on %s', (engine) => {
  const database = {} as { url: string; db: Inspector };
  let server: PostgresServer | undefined;
  beforeAll(async () => {
    if (engine === 'postgresql') {
      server = await startPostgresServer({ maxConnections: 100 });
      database.url = await createDatabase(server.url, 'bulk');
      await migrate({ databaseUrl: database.url });
    } else {
      database.url = await migratedDatabase(engine);
    }
    database.db = await inspect(database.url);
  }, 60_000);
  afterAll(async () => {
    await database.db.close();
    await server?.stop();
  });
  let presence: PresenceTracker;
  let changed: number;
  let pruned: number;
  let usersLeft: number;
  beforeEach(async () => {
    for (const table of ['Presence', 'Room', 'PresenceServer', 'PresenceEvent']) await database.db.rows(`DELETE FROM "${table}"`);
    presence = createPresence({ databaseUrl: database.url, now: manualClock().now, shareEvents: true });
    [changed, pruned, usersLeft] = [0, 0, 0];
    presence.on('changed', (event) => {
      changed++;
      pruned += event.pruned.length + (event.removed ? 1 : 0);
    });
    presence.on('userLeft', () => void usersLeft++);
    presence.on('userJoined', () => {});
  });
  afterEach(() => presence.close());

  const count = async (table: string) => Number((await database.db.rows<{ n: number }>(`SELECT count(*) AS n FROM "${table}"`))[0]!.n);

  it('prunePresences removes them all in one call, one event per room, every user leaving', async () => {
    await seed(database.db, engine, null);
    expect(await presence.rooms.prunePresences()).toBe(ROOMS * PER_ROOM);
    expect(await count('Presence')).toBe(0);
    expect([changed, pruned, usersLeft]).toEqual([ROOMS, ROOMS * PER_ROOM, ROOMS * PER_ROOM]);
    expect(await count('PresenceEvent')).toBeGreaterThanOrEqual(ROOMS);
    expect(await presence.rooms.pruneRooms()).toBe(ROOMS);
  }, 60_000);

  it('the prune reaps a dead server holding them all', async () => {
    await seed(database.db, engine, 'dead-server');
    await expiredServer(database.db, 'dead-server');
    expect(await presence.rooms.prunePresences(1e9)).toBe(ROOMS * PER_ROOM);
    expect([await count('Presence'), await count('PresenceServer')]).toEqual([0, 0]);
    expect([changed, usersLeft]).toEqual([ROOMS, ROOMS * PER_ROOM]);
  }, 60_000);

  it('leaveAll takes one connection out of 20,000 rooms', async () => {
    await seed(database.db, engine, null);
    await database.db.rows(`UPDATE "Presence" SET "channelName" = 'everywhere' WHERE "channelName" LIKE '%.c0'`);
    await presence.presences.leaveAll('everywhere');
    expect(await count('Presence')).toBe(ROOMS * (PER_ROOM - 1));
    expect([changed, pruned, usersLeft]).toEqual([ROOMS, ROOMS, ROOMS]);
  }, 60_000);
});
