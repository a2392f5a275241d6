// Exactly-once delivery of shared events while a long transaction logs many entries:
// one process prunes 20,000 presences (2,000 rooms, so 2,000 log entries) in one
// transaction while two others keep committing changes, and a fourth listens. On
// PostgreSQL the others' entries take later ids and commit first; a reader that goes
// by ids skips the prune's. Every process is a real OS process (tests/support/workers.ts).
// A trigger keeps the prune's transaction open for 11 s once it has logged 1,500 entries,
// as a slow disk or a busy server would: meanwhile the writers commit later ids (and a
// reader that guesses gaps from ids gives up on them after 10 s).
import { beforeEach, describe, expect, it } from 'vitest';
import { testEngines, useDatabase } from './support/databases.ts';
import { untilListening, useProcesses, type Report, type Worker } from './support/workers.ts';
import { createPresence } from '../src/index.ts';

const ROOMS = 2000;
const PER_ROOM = 10;
/** Changes each writer commits at least, and keeps committing until the prune has finished. */
const MIN_CHANGES = 40;

describe.each(testEngines())('shared events around a 20,000-presence prune on %s', (engine) => {
  const database = useDatabase(engine);
  const { worker } = useProcesses(database);

  beforeEach(() => database.db.rows('DELETE FROM "PresenceEvent"'));

  /** ROOMS rooms named bulk.<n> with PER_ROOM anonymous presences each, all stale for a long time. */
  async function seedStaleRooms(): Promise<void> {
    const numbers = (n: number) => `WITH RECURSIVE "n"("i") AS (SELECT 1 UNION ALL SELECT "i" + 1 FROM "n" WHERE "i" < ${n})`;
    await database.db.rows(`${numbers(ROOMS)} INSERT INTO "Room" ("channelName") SELECT 'bulk.' || "i" FROM "n"`);
    const longAgo = engine === 'sqlite' ? `'2026-01-01T00:00:00.000+00:00'` : `TIMESTAMP '2026-01-01 00:00:00'`;
    await database.db.rows(
      `${numbers(PER_ROOM)} INSERT INTO "Presence" ("roomId", "channelName", "lastSeen")
       SELECT r."id", 'chan.' || r."channelName" || '.' || "n"."i", ${longAgo} FROM "Room" r, "n" WHERE r."channelName" LIKE 'bulk.%'`,
    );
  }

  /** PostgreSQL: the INSERT into the log that brings its transaction's entries to 1,500 waits 11 s before it returns. */
  async function slowLargeLogInserts(): Promise<void> {
    if (engine !== 'postgresql') return;
    await database.db.rows(`
      CREATE FUNCTION "slow_log"() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        logged integer := coalesce(nullif(current_setting('test.logged', true), ''), '0')::integer + (SELECT count(*) FROM "added");
      BEGIN
        PERFORM set_config('test.logged', logged::text, true);
        IF logged >= 1500 AND logged - (SELECT count(*) FROM "added") < 1500 THEN PERFORM pg_sleep(11); END IF;
        RETURN NULL;
      END $$`);
    await database.db.rows(`
      CREATE TRIGGER "slow_log" AFTER INSERT ON "PresenceEvent"
      REFERENCING NEW TABLE AS "added" FOR EACH STATEMENT EXECUTE FUNCTION "slow_log"()`);
  }

  it('the listener hears every change exactly once, the prune’s and the writers’ alike, and no resync', async () => {
    await seedStaleRooms();
    await slowLargeLogInserts();
    const [pruner, a, b, listener] = await Promise.all([worker(), worker(), worker(), worker()]);
    const sentinel = createPresence({ databaseUrl: database.url, shareEvents: true });
    try {
      await untilListening(sentinel, (channel) => listener.inbox.next((report) => report.added === channel, 1000));
    } finally {
      await sentinel.close();
    }

    let pruning = true;
    const pruned = pruner.run('rooms.prunePresences').finally(() => (pruning = false));
    /** Adds and removes its own channels in its own room until the prune is over; returns what it committed, in order. */
    const churn = async (writer: Worker, room: string) => {
      const committed: string[] = [];
      for (let i = 0; pruning || i < MIN_CHANGES; i++) {
        await writer.run('rooms.add', room, `chan.${room}.${i}`);
        committed.push(`+chan.${room}.${i}`);
        await writer.run('rooms.remove', room, `chan.${room}.${i}`);
        committed.push(`-chan.${room}.${i}`);
      }
      return committed;
    };
    const [committedA, committedB] = await Promise.all([churn(a, 'writer.a'), churn(b, 'writer.b'), pruned]);
    expect(await database.db.rows(`SELECT 1 FROM "Presence" WHERE "channelName" LIKE 'chan.bulk.%'`)).toEqual([]);

    // A last change, committed after everything else: delivery in commit order brings the rest first.
    await a.run('rooms.add', 'writer.end', 'chan.end');
    await listener.inbox.next((report) => report.added === 'chan.end', 30_000, 'the last change');

    const heard = (room: string) =>
      listener
        .events('changed')
        .filter((report) => report.room === room)
        .map((report) => (report.added ? `+${report.added}` : `-${report.removed}`));
    expect(heard('writer.a')).toEqual(committedA);
    expect(heard('writer.b')).toEqual(committedB);
    const bulk = bulkChanges(listener);
    expect(bulk.length, 'rooms of the prune heard').toBe(ROOMS);
    expect(new Set(bulk.map((report) => report.room)).size).toBe(ROOMS);
    expect(bulk.reduce((sum, report) => sum + (report.pruned as string[]).length, 0)).toBe(ROOMS * PER_ROOM);
    expect(listener.events('resync')).toEqual([]);
  }, 120_000);
});

function bulkChanges(listener: Worker): Report[] {
  return listener.events('changed').filter((report) => report.bulkChange === true && String(report.room).startsWith('bulk.'));
}
