// touchPresence coalesces touches: a flood costs one write per interval, and buffering
// never lets a live connection be pruned.
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPresence, type PresenceTracker } from '../src/index.ts';
import { manualClock } from './support/clock.ts';
import { testEngines, type Inspector, useDatabase } from './support/databases.ts';

/** Counts row updates on Presence with a trigger, independently of the library. */
async function countUpdates(db: Inspector, engine: string) {
  await db.rows('CREATE TABLE touch_log (n INTEGER)');
  if (engine === 'sqlite') {
    await db.rows('CREATE TRIGGER log_touch AFTER UPDATE ON "Presence" BEGIN INSERT INTO touch_log VALUES (1); END');
  } else {
    await db.rows(`CREATE FUNCTION log_touch() RETURNS trigger AS $$ BEGIN INSERT INTO touch_log VALUES (1); RETURN NEW; END $$ LANGUAGE plpgsql`);
    await db.rows('CREATE TRIGGER log_touch AFTER UPDATE ON "Presence" FOR EACH ROW EXECUTE FUNCTION log_touch()');
  }
  return async () => Number((await db.rows<{ n: number }>('SELECT count(*) AS n FROM touch_log'))[0]!.n);
}

describe.each(testEngines())('buffered touches on %s', (engine) => {
  let updates: () => Promise<number>;
  let clock: ReturnType<typeof manualClock>;
  let presence: PresenceTracker;

  const database = useDatabase(engine);
  beforeAll(async () => {
    updates = await countUpdates(database.db, engine);
  });
  beforeEach(async () => {
    await database.db.rows('DELETE FROM "Presence"');
    await database.db.rows('DELETE FROM touch_log');
    clock = manualClock();
    presence = createPresence({ databaseUrl: database.url, now: clock.now, maxAge: 60, touchInterval: 15_000 });
    await presence.rooms.add('lobby', 'chan.1');
  });
  afterEach(() => presence.close());

  const lastSeen = async () => {
    const [row] = await database.db.rows<{ lastSeen: string }>('SELECT "lastSeen" FROM "Presence" WHERE "channelName" = ?', 'chan.1');
    return new Date(row!.lastSeen).toISOString();
  };

  it('a flood of heartbeats from one connection is one write per flush', async () => {
    const onMessage = presence.touchPresence(() => {});
    for (let i = 0; i < 1000; i++) await onMessage('chan.1', '"heartbeat"');
    expect(await updates()).toBe(0);
    await presence.presences.flush();
    expect(await updates()).toBe(1);
  });

  it('writes the buffered touch with the time of the batch\'s first touch, never later than the traffic', async () => {
    const before = await lastSeen();
    const onMessage = presence.touchPresence(() => {});
    clock.advance(5);
    const firstTouch = clock.now().toISOString();
    await onMessage('chan.1', 'hello');
    expect(await lastSeen()).toBe(before);
    clock.advance(1);
    await onMessage('chan.1', 'hello again');
    await presence.presences.flush();
    expect(await lastSeen()).toBe(firstTouch);
  });

  it('never moves lastSeen backwards when a later write landed while the touch was buffered', async () => {
    const onMessage = presence.touchPresence(() => {});
    await onMessage('chan.1', 'hello');
    clock.advance(30);
    await presence.rooms.add('lobby', 'chan.1'); // writes lastSeen = now
    await presence.presences.flush();
    expect(await lastSeen()).toBe(clock.now().toISOString());
  });

  it('prunePresences writes buffered touches first, so a live connection is never pruned', async () => {
    const onMessage = presence.touchPresence(() => {});
    clock.advance(50);
    await onMessage('chan.1', '"heartbeat"');
    clock.advance(20); // 70 s since the stored lastSeen, 20 s since the heartbeat
    expect(await presence.rooms.prunePresences()).toBe(0);
    expect(await presence.rooms.getAnonymousCount('lobby')).toBe(1);
  });

  it('a flush that fails keeps its touches for the next flush', async () => {
    const errors: Error[] = [];
    presence.on('error', (error) => void errors.push(error));
    clock.advance(30);
    await presence.touchPresence(() => undefined)('chan.1', 'hello');
    await database.db.rows('ALTER TABLE "Presence" RENAME TO "PresenceAway"');
    await expect(presence.presences.flush()).rejects.toMatchObject({ code: 'MIGRATION_REQUIRED' });
    await database.db.rows('ALTER TABLE "PresenceAway" RENAME TO "Presence"');
    await presence.presences.flush();
    expect(await lastSeen()).toBe(clock.now().toISOString());
    expect(errors).toHaveLength(1);
  });

  it('close() writes what is buffered', async () => {
    const onMessage = presence.touchPresence(() => {});
    clock.advance(5);
    await onMessage('chan.1', '"heartbeat"');
    await presence.close();
    expect(await lastSeen()).toBe(clock.now().toISOString());
  });

  it('a flush of more channels than one statement names writes every one of them', async () => {
    const many = 10_001; // past the chunk of both engines (500 on SQLite, 10,000 on PostgreSQL)
    const insert =
      engine === 'sqlite'
        ? `WITH RECURSIVE i(n) AS (SELECT 2 UNION ALL SELECT n + 1 FROM i WHERE n < ${many})
           INSERT INTO "Presence" ("roomId", "channelName", "lastSeen") SELECT r."id", 'chan.' || i.n, '2000-01-01T00:00:00.000+00:00' FROM i, "Room" r`
        : `INSERT INTO "Presence" ("roomId", "channelName", "lastSeen") SELECT r."id", 'chan.' || n, '2000-01-01' FROM generate_series(2, ${many}) n, "Room" r`;
    await database.db.rows(insert);
    const onMessage = presence.touchPresence(() => {});
    clock.advance(5);
    for (let i = 1; i <= many; i++) await onMessage(`chan.${i}`, '"heartbeat"');
    await presence.presences.flush();
    const [row] = await database.db.rows<{ fresh: number }>(`SELECT count(*) AS fresh FROM "Presence" WHERE "lastSeen" > '2001-01-01'`);
    expect(Number(row!.fresh)).toBe(many);
  });

  it('touchInterval 0 writes every touch at once', async () => {
    const eager = createPresence({ databaseUrl: database.url, now: clock.now, touchInterval: 0 });
    const onMessage = eager.touchPresence(() => {});
    for (let i = 0; i < 3; i++) await onMessage('chan.1', '"heartbeat"');
    expect(await updates()).toBe(3);
    await eager.close();
  });

  it('writes by itself after the interval', async () => {
    const quick = createPresence({ databaseUrl: database.url, now: clock.now, maxAge: 1, touchInterval: 50 });
    const onMessage = quick.touchPresence(() => {});
    clock.advance(5);
    await onMessage('chan.1', '"heartbeat"');
    await expect.poll(lastSeen, { timeout: 2000, interval: 25 }).toBe(clock.now().toISOString());
    await quick.close();
  });
});

describe('touchInterval validation', () => {
  it.each([[-1], [Number.NaN], [15_001], ['100']])('rejects %j with maxAge 60', (touchInterval) => {
    expect(() => createPresence({ databaseUrl: 'file:./unused.db', maxAge: 60, touchInterval: touchInterval as number })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('touchInterval') }),
    );
  });
});
