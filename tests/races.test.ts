// Deterministic versions of the two races that lost presences in the library we port:
// another process holds a transaction open at the worst moment, then commits.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { Database } from '../src/database/database.ts';
import { clientConnection } from '../src/database/connections.ts';
import { openConnection } from '../src/database/open.ts';
import { sql } from '../src/database/sql.ts';
import { parseDatabaseUrl } from '../src/database/url.ts';
import { PrismaClient } from '../src/generated/postgresql/client.ts';
import { createPresence } from '../src/index.ts';
import { expiredServer, inspect, migratedDatabase, roomNames, snapshot, testEngines, sessionsWaitingOnALock, untilASessionWaitsOnALock, useDatabase } from './support/databases.ts';
import { eventually } from './support/realtime.ts';

const HOLDER = new URL('./support/transactionHolder.ts', import.meta.url).pathname;

/** Runs `statements` in a transaction in another process; the returned function commits it. */
async function holdTransaction(url: string, statements: string[]): Promise<() => Promise<void>> {
  const child = spawn(process.execPath, ['--import', 'tsx', HOLDER], {
    env: { ...process.env, HOLD_URL: url, HOLD_STATEMENTS: JSON.stringify(statements) },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const [first] = (await once(lines, 'line')) as [string];
  expect(first).toBe('ready');
  return async () => {
    child.stdin!.end();
    const [code] = (await once(child, 'exit')) as [number];
    expect(code).toBe(0);
  };
}

describe.each(testEngines())('races with an open transaction on %s', (engine) => {

  const database = useDatabase(engine);

  it('pruneRooms never deletes a room whose presence is being inserted by an uncommitted transaction', async () => {
    const presence = createPresence({ databaseUrl: database.url });
    await presence.rooms.add('lobby', 'chan.1');
    await presence.rooms.remove('lobby', 'chan.1');
    const [room] = await database.db.rows<{ id: number }>('SELECT id FROM "Room"');
    const commit = await holdTransaction(database.url, [
      `INSERT INTO "Presence" ("roomId", "channelName", "userId", "lastSeen") VALUES (${room!.id}, 'chan.2', NULL, '2099-01-01T00:00:00.000+00:00')`,
    ]);
    const pruning = presence.rooms.pruneRooms();
    await untilASessionWaitsOnALock(database.url);
    await commit();
    await pruning;
    expect(await snapshot(database.db)).toEqual(['lobby/chan.2=-']);
    await presence.close();
  });

  it('a server that writes its liveness while a prune would reap it keeps its row and its presences', async () => {
    const presence = createPresence({ databaseUrl: database.url });
    const future = '2099-01-01T00:00:00.000+00:00';
    await expiredServer(database.db, 'srv');
    await presence.rooms.add('lobby', 'chan.1');
    await database.db.rows(`UPDATE "Presence" SET "serverId" = 'srv'`);
    const commit = await holdTransaction(database.url, [`UPDATE "PresenceServer" SET "lastSeen" = '${future}', "expiresAt" = '${future}' WHERE "id" = 'srv'`]);
    const pruning = presence.rooms.prunePresences();
    await untilASessionWaitsOnALock(database.url);
    await commit();
    expect(await pruning).toBe(0);
    expect(await snapshot(database.db)).toEqual(['lobby/chan.1=-']);
    expect(await database.db.rows('SELECT "id" FROM "PresenceServer"')).toEqual([{ id: 'srv' }]);
    await presence.close();
  });

  if (engine === 'postgresql') {
    it('a transaction that keeps failing to serialize (40001) is retried, then fails with DATABASE_UNAVAILABLE', async () => {
      const db = new Database(openConnection(parseDatabaseUrl(database.url)), 'postgresql');
      let attempts = 0;
      const failing = db.transaction(async (tx) => {
        attempts++;
        await tx.execute(sql`DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$`);
      });
      await expect(failing).rejects.toMatchObject({ name: 'PresenceError', code: 'DATABASE_UNAVAILABLE' });
      expect(attempts).toBe(6);
      await db.close();
    });

    it.each(['its own connection', 'an application PrismaClient'])('a deadlock is retried as a whole transaction, through %s', async (via) => {
      await database.db.rows(`INSERT INTO "Room" ("channelName") VALUES ('a'), ('b')`);
      const client = via === 'its own connection' ? undefined : new PrismaClient({ adapter: new PrismaPg({ connectionString: database.url }) });
      const db = new Database(client ? clientConnection(client) : openConnection(parseDatabaseUrl(database.url)), 'postgresql');
      const other = new pg.Client({ connectionString: database.url });
      await other.connect();
      await other.query(`SET deadlock_timeout = '10s'`); // so that the library's transaction is the one PostgreSQL aborts
      await other.query('BEGIN');
      await other.query(`UPDATE "Room" SET "channelName" = 'b' WHERE "channelName" = 'b'`);
      const touch = (room: string) => sql`UPDATE "Room" SET "channelName" = ${room} WHERE "channelName" = ${room}`;
      let attempts = 0;
      let holdsA!: () => void;
      const aHeld = new Promise<void>((resolve) => (holdsA = resolve));
      const work = db.transaction(async (tx) => {
        attempts++;
        await tx.execute(touch('a'));
        holdsA();
        await tx.execute(touch('b'));
      });
      await aHeld;
      await untilASessionWaitsOnALock(database.url); // the library's transaction, on "b"
      const otherDone = other.query(`UPDATE "Room" SET "channelName" = 'a' WHERE "channelName" = 'a'`).then(() => other.query('COMMIT'));
      await work;
      await otherDone;
      expect(attempts).toBe(2);
      await other.end();
      await db.close();
      await client?.$disconnect();
    });
  }

  if (engine === 'postgresql') {
    it('add holds the room it finds from then until its presence is in: a concurrent pruneRooms leaves the room alone', async () => {
      await database.db.rows(`INSERT INTO "Room" ("channelName") VALUES ('lobby')`);
      const [lobby] = await database.db.rows<{ id: string }>('SELECT "id" FROM "Room"');
      const adder = createPresence({ databaseUrl: database.url }); // fresh: the room's id is not cached
      const pruner = createPresence({ databaseUrl: database.url });
      const other = new pg.Client({ connectionString: database.url });
      await other.connect();
      try {
        // Presence inserts wait for this session; reading Presence and deleting rooms do not.
        await other.query('BEGIN');
        await other.query('LOCK TABLE "Presence" IN SHARE MODE');
        const adding = adder.rooms.add('lobby', 'chan.1', 'alice');
        await untilASessionWaitsOnALock(database.url); // add, at its presence insert
        let settled = false;
        const pruning = pruner.rooms.pruneRooms().finally(() => (settled = true));
        // The prune either returns at once or waits for add's hold on the room.
        await eventually(async () => settled || (await sessionsWaitingOnALock(database.db)) >= 2, 10_000, 'pruneRooms to return or to wait for the room');
        await other.query('COMMIT');
        const [room, pruned] = await Promise.all([adding, pruning]);
        expect(pruned).toBe(0);
        expect(room).toEqual({ id: Number(lobby!.id), channelName: 'lobby' });
        expect(await database.db.rows('SELECT "id"::int AS "id", "channelName" FROM "Room"')).toEqual([{ id: Number(lobby!.id), channelName: 'lobby' }]);
        expect(await snapshot(database.db)).toEqual(['lobby/chan.1=alice']);
      } finally {
        await other.end();
        await adder.close();
        await pruner.close();
      }
    });
  }

  if (engine === 'postgresql') {
    it('pruneRooms keeps the locks when the foreign key cascades (an application schema from an older models.prisma)', async () => {
      const url = await migratedDatabase(engine);
      const db = await inspect(url);
      const presence = createPresence({ databaseUrl: url });
      try {
        await db.rows(
          `ALTER TABLE "Presence" DROP CONSTRAINT "Presence_roomId_fkey",
           ADD CONSTRAINT "Presence_roomId_fkey" FOREIGN KEY ("roomId") REFERENCES "Room"("id") ON DELETE CASCADE ON UPDATE CASCADE`,
        );
        await presence.rooms.add('lobby', 'chan.1');
        await presence.rooms.remove('lobby', 'chan.1');
        const [room] = await db.rows<{ id: number }>('SELECT id FROM "Room"');
        const commit = await holdTransaction(url, [
          `INSERT INTO "Presence" ("roomId", "channelName", "userId", "lastSeen") VALUES (${room!.id}, 'chan.2', NULL, '2099-01-01T00:00:00.000+00:00')`,
        ]);
        expect(await presence.rooms.pruneRooms()).toBe(0); // it skips the room the insert holds, without waiting
        await commit();
        expect(await snapshot(db)).toEqual(['lobby/chan.2=-']);
      } finally {
        await presence.close();
        await db.close();
      }
    });
  }

  it('add succeeds when the room it found is deleted by a concurrent prune before its insert', async () => {
    const presence = createPresence({ databaseUrl: database.url });
    await presence.rooms.add('lobby', 'chan.1');
    await presence.rooms.remove('lobby', 'chan.1');
    // The room id is now cached; another process deletes the room and commits while add waits.
    const commit = await holdTransaction(database.url, [`DELETE FROM "Room" WHERE "channelName" = 'lobby'`]);
    const adding = presence.rooms.add('lobby', 'chan.2', 'alice');
    await untilASessionWaitsOnALock(database.url);
    await commit();
    const room = await adding;
    expect(await snapshot(database.db)).toEqual(['lobby/chan.2=alice']);
    expect(await roomNames(database.db)).toEqual(['lobby']);
    const [stored] = await database.db.rows<{ id: number }>('SELECT id FROM "Room"');
    expect(room.id).toBe(Number(stored!.id));
    await presence.close();
  });
});
