// Event sharing between processes: real OS processes (tests/support/sharingWorker.ts)
// and the real presence-admin bin, on a database that both engines share the same way.
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import { createPresence, type PresenceChangedEvent, type PresenceTracker, type UserPresenceEvent } from '../src/index.ts';
import { EventFeed } from '../src/sharing/feed.ts';
import { PrismaClient as PostgresClient } from '../src/generated/postgresql/client.ts';
import { PrismaClient as SqliteClient } from '../src/generated/sqlite/client.ts';
import { manualClock } from './support/clock.ts';
import { inspect, testEngines, useDatabase } from './support/databases.ts';
import { eventually } from './support/realtime.ts';
import { presenceAdmin } from './support/cli.ts';
import { untilListening, useProcesses, type Worker } from './support/workers.ts';

describe.each(testEngines())('shared events on %s', (engine) => {
  const database = useDatabase(engine);
  const bound = engine === 'postgresql' ? 100 : 1000;
  const { tracker, track, worker } = useProcesses(database, { shareEvents: true });
  /** Waits until every worker hears a change made now: from then on they miss nothing. */
  const listening = async (...listeners: Worker[]) => {
    const writer = tracker();
    for (const listener of listeners) {
      await untilListening(writer, (channel) => listener.inbox.next((report) => report.event === 'changed' && report.added === channel, 1000));
    }
  };

  beforeEach(() => database.db.rows('DELETE FROM "PresenceEvent"'));

  it('a change made by one process reaches the listeners of two others, once each, flagged remote, within the bound', async () => {
    const [a, b] = [await worker(), await worker()];
    await listening(a, b);
    const writer = tracker();
    const local: PresenceChangedEvent[] = [];
    writer.on('changed', (event) => void local.push(event));
    const committed = Date.now();
    await writer.rooms.add('lobby', 'chan.1', 'alice');
    for (const listener of [a, b]) {
      const heard = await listener.inbox.next((report) => report.event === 'changed' && report.added === 'chan.1');
      expect(heard).toMatchObject({ room: 'lobby', remote: true, bulkChange: false });
      expect(heard.at! - committed).toBeLessThan(bound + 50);
    }
    expect(local.map((event) => [event.added?.channelName, event.remote])).toEqual([['chan.1', false]]);
    await writer.rooms.remove('lobby', 'chan.1');
    await a.inbox.next((report) => report.removed === 'chan.1');
    await b.inbox.next((report) => report.removed === 'chan.1');
    for (const listener of [a, b]) {
      expect(listener.events('changed').filter((report) => report.room === 'lobby')).toHaveLength(2);
    }
    expect(local).toHaveLength(2);
  });

  it('a prune run from cron through the real bin tells every listening process who left', async () => {
    const [a, b] = [await worker(), await worker()];
    const stale = tracker({ now: () => new Date(Date.now() - 120_000) });
    await stale.rooms.add('lobby', 'chan.old', 'olga');
    await stale.rooms.add('kitchen', 'chan.old2');
    await listening(a, b);
    const result = await presenceAdmin(['prune-presence', '--database-url', database.url], { env: { PRESENCE_SHARE_EVENTS: '1' } });
    expect(result).toEqual({ code: 0, stdout: 'Pruned 2 presences from 2 rooms\n', stderr: '' });
    for (const listener of [a, b]) {
      for (const room of ['lobby', 'kitchen']) {
        await listener.inbox.next((report) => report.event === 'changed' && report.room === room && report.bulkChange === true);
      }
      await listener.inbox.next((report) => report.event === 'userLeft' && report.userId === 'olga');
      const bulk = listener.events('changed').filter((report) => report.bulkChange);
      expect(bulk.map((report) => [report.room, report.pruned]).sort()).toEqual([
        ['kitchen', ['chan.old2=-']],
        ['lobby', ['chan.old=olga']],
      ]);
      expect(listener.events('userLeft')).toEqual([expect.objectContaining({ room: 'lobby', userId: 'olga', remote: true })]);
    }
  });

  it('per-user events: a user with two connections joins once and leaves once, here and in another process', async () => {
    const other = await worker();
    await listening(other);
    const writer = tracker();
    const users: string[] = [];
    const record = (kind: string) => (event: UserPresenceEvent) => void users.push(`${kind} ${event.room.channelName} ${event.userId} ${event.remote}`);
    writer.on('userJoined', record('joined')).on('userLeft', record('left'));
    await writer.rooms.add('lobby', 'chan.laptop', 'alice');
    await writer.rooms.add('lobby', 'chan.phone', 'alice');
    await writer.rooms.add('lobby', 'chan.guest');
    await writer.rooms.remove('lobby', 'chan.laptop');
    expect(users).toEqual(['joined lobby alice false']);
    await writer.presences.leaveAll('chan.phone');
    expect(users).toEqual(['joined lobby alice false', 'left lobby alice false']);
    await other.inbox.next((report) => report.event === 'userLeft');
    expect([...other.events('userJoined'), ...other.events('userLeft')].map((report) => `${report.event} ${report.userId} ${report.remote}`)).toEqual([
      'userJoined alice true',
      'userLeft alice true',
    ]);
  });

  it('keeps the order in which a room changed', async () => {
    const other = await worker();
    await listening(other);
    const writer = tracker();
    const expected: string[] = [];
    for (let i = 0; i < 20; i++) {
      await writer.rooms.add('lobby', `chan.${i}`);
      expected.push(`+chan.${i}`);
      if (i % 3 === 0) {
        await writer.rooms.remove('lobby', `chan.${i}`);
        expected.push(`-chan.${i}`);
      }
    }
    await eventually(() => other.events('changed').filter((report) => report.room === 'lobby').length === expected.length, 10_000, 'every change');
    const heard = other.events('changed').filter((report) => report.room === 'lobby');
    expect(heard.map((report) => (report.added ? `+${report.added}` : `-${report.removed}`))).toEqual(expected);
  });

  it('a listener that could not read for a while catches up on everything it missed, in order', async () => {
    const other = await worker();
    await listening(other);
    const writer = tracker();
    const blocked = other.block();
    await blocked.blocking;
    if (engine === 'postgresql') {
      // Its LISTEN connection drops too: it must reconnect and read what committed meanwhile.
      await database.db.rows(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()`);
    }
    for (let i = 0; i < 10; i++) await writer.rooms.add('lobby', `chan.${i}`);
    blocked.release();
    await eventually(() => other.events('changed').filter((report) => report.room === 'lobby').length === 10, 15_000, 'the missed changes');
    expect(other.events('changed').filter((report) => report.room === 'lobby').map((report) => report.added)).toEqual(
      Array.from({ length: 10 }, (_, i) => `chan.${i}`),
    );
    expect(other.events('resync')).toEqual([]);
    if (engine === 'postgresql') {
      // Listening again: a new change arrives within the bound.
      const committed = Date.now();
      await writer.rooms.add('lobby', 'chan.after');
      const heard = await other.inbox.next((report) => report.added === 'chan.after');
      expect(heard.at! - committed).toBeLessThan(bound + 50);
    }
  });

  it('a listener whose reads fail reports one error per outage and, having lost nothing, goes on without resync', async () => {
    const listener = tracker();
    const { errors, resyncs, heard } = record(listener);
    const writer = tracker();
    await untilListening(writer, (channel) => eventually(() => heard.includes(channel), 1000, channel));
    const reads = vi.spyOn(EventFeed.prototype as unknown as { readAll(): Promise<void> }, 'readAll'); // only the listener reads
    await database.db.rows('ALTER TABLE "PresenceEvent" RENAME TO "PresenceEventAway"');
    try {
      await eventually(() => errors.length > 0, 5000, 'a failed read');
      const failed = reads.mock.calls.length;
      // Reads run one at a time: when the third after the first failure starts, two more have failed.
      await eventually(() => reads.mock.calls.length >= failed + 3, 5000, 'more failed reads');
    } finally {
      await database.db.rows('ALTER TABLE "PresenceEventAway" RENAME TO "PresenceEvent"');
      reads.mockRestore();
    }
    await writer.rooms.add('lobby', 'chan.after');
    await eventually(() => heard.includes('chan.after'), 5000, 'the change after the outage');
    expect(errors).toHaveLength(1); // one report per outage, not one per poll
    expect(resyncs).toEqual([]);
  });

  it('a listener that cannot read the log when it starts listening gets resync once it can, then hears what follows', async () => {
    await database.db.rows('ALTER TABLE "PresenceEvent" RENAME TO "PresenceEventAway"');
    const listener = tracker();
    const { errors, resyncs, heard } = record(listener);
    try {
      await eventually(() => errors.length > 0, 5000, 'a failed read');
    } finally {
      await database.db.rows('ALTER TABLE "PresenceEventAway" RENAME TO "PresenceEvent"');
    }
    await eventually(() => resyncs.length === 1, 5000, 'the resync event');
    expect(resyncs[0]).toMatch(/^the shared log could not be read for \d+ s after listening started$/);
    const writer = tracker();
    await untilListening(writer, (channel) => eventually(() => heard.includes(channel), 1000, channel));
    expect(resyncs).toHaveLength(1);
  });

  it('a listener whose event loop is blocked while the log is trimmed past what it read gets resync with the reason, then hears what follows', async () => {
    const listener = await worker();
    await listening(listener);
    const writer = tracker();
    // Its prunes remove every entry logged more than 1 s before a clock 5 s ahead: all of them.
    const trimmer = tracker({ eventRetention: 1, now: () => new Date(Date.now() + 5000) });
    const blocked = listener.block();
    await blocked.blocking;
    for (let i = 0; i < 3; i++) await writer.rooms.add('lobby', `chan.${i}`);
    await trimmer.rooms.prunePresences();
    blocked.release();
    const resync = await listener.inbox.next((report) => report.event === 'resync', 15_000, 'resync');
    expect(resync.reason).toMatch(/^shared events were trimmed from the log before this process read them \(its previous read was \d+ s ago\)$/);
    await writer.rooms.add('lobby', 'chan.after');
    await listener.inbox.next((report) => report.added === 'chan.after', 5000, 'the change after the resync');
    // Trimmed before it could read them: not delivered, and resync told it so, once.
    expect(listener.events('changed').filter((report) => report.room === 'lobby').map((report) => report.added)).toEqual(['chan.after']);
    expect(listener.events('resync')).toHaveLength(1);
  });

  it('the log stays bounded: prunePresences removes entries older than the retention', async () => {
    const clock = manualClock(new Date().toISOString());
    const writer = tracker({ now: clock.now, eventRetention: 60 });
    for (let i = 0; i < 5; i++) await writer.rooms.add('lobby', `chan.${i}`);
    const count = async () => Number((await database.db.rows<{ n: number }>(`SELECT count(*) AS n FROM "PresenceEvent" WHERE "origin" <> 'trim'`))[0]!.n);
    expect(await count()).toBe(5);
    clock.advance(30);
    await writer.rooms.add('lobby', 'chan.late');
    clock.advance(40);
    await writer.rooms.prunePresences(3600);
    expect(await count()).toBe(1);
  });

  it('a prune from cron without PRESENCE_SHARE_EVENTS trims the log (default retention 600 s); stats shows its size and oldest entry', async () => {
    const old = tracker({ now: () => new Date(Date.now() - 700_000) });
    await old.rooms.add('lobby', 'chan.old');
    await tracker().rooms.add('lobby', 'chan.new');
    const logged = async () =>
      (await database.db.rows<{ payload: string }>(`SELECT "payload" FROM "PresenceEvent" WHERE "origin" <> 'trim'`)).map(
        (row) => (JSON.parse(row.payload) as { added: { channelName: string } }).added.channelName,
      );
    expect((await logged()).sort()).toEqual(['chan.new', 'chan.old']);
    const before = await presenceAdmin(['stats', '--database-url', database.url]);
    expect(before.stdout).toMatch(/\nshared log: 2 entries, oldest \d{4}-\d\d-\d\dT[\d:.]+Z\n$/);
    const oldest = new Date(before.stdout.match(/oldest (\S+)/)![1]!).getTime();
    expect(Math.abs(oldest - (Date.now() - 700_000))).toBeLessThan(60_000);

    const result = await presenceAdmin(['prune-presence', '--database-url', database.url]);
    expect(result).toEqual({ code: 0, stdout: 'Pruned 1 presence from 1 room\n', stderr: '' });
    expect(await logged()).toEqual(['chan.new']);
  });

  it('a listener on the application’s own PrismaClient hears each change of another process once', async () => {
    const client =
      engine === 'sqlite' ? new SqliteClient({ adapter: new PrismaBetterSqlite3({ url: database.url }) }) : new PostgresClient({ adapter: new PrismaPg({ connectionString: database.url }) });
    try {
      const listener = track(createPresence({ prisma: client, provider: engine, shareEvents: true }));
      const heard: string[] = [];
      listener.on('changed', (event) => void heard.push(event.added ? `+${event.added.channelName}` : `-${event.removed?.channelName}`));
      const writer = tracker();
      await untilListening(writer, (channel) => eventually(() => heard.includes(`+${channel}`), 1000, channel));
      await writer.rooms.add('lobby', 'chan.1');
      await writer.rooms.remove('lobby', 'chan.1');
      await eventually(() => heard.includes('-chan.1'), 5000, 'the removal');
      expect(heard.filter((change) => change.endsWith('chan.1'))).toEqual(['+chan.1', '-chan.1']);
      await listener.close();
    } finally {
      await client.$disconnect();
    }
  });

  it('without shareEvents nothing is logged and the single-statement paths stay', async () => {
    const plain = tracker({ shareEvents: false });
    plain.on('changed', () => {});
    await plain.rooms.add('lobby', 'chan.1');
    await plain.rooms.remove('lobby', 'chan.1');
    expect(await database.db.rows('SELECT * FROM "PresenceEvent"')).toEqual([]);
    expect(plain.shareEvents).toBe(false);
  });
});

// PostgreSQL only: a transaction left open elsewhere holds every snapshot's xmin back,
// and with it the readers' boundary. SQLite has no such thing (one writer at a time).
describe.each(testEngines().filter((engine) => engine === 'postgresql'))('shared events under a long-open transaction on %s', (engine) => {
  const database = useDatabase(engine);
  const { tracker } = useProcesses(database, { shareEvents: true });

  it('a trim of entries the listener already read, while a transaction older than them stays open, causes no resync', async () => {
    const holder = await inspect(database.url);
    try {
      await holder.rows('BEGIN');
      await holder.rows('SELECT pg_current_xact_id()'); // takes a transaction id: xmin stays at it
      const listener = tracker();
      const heard: string[] = [];
      const resyncs: string[] = [];
      listener.on('changed', (event) => void heard.push(event.added?.channelName ?? ''));
      listener.on('resync', ({ reason }) => void resyncs.push(reason));
      const writer = tracker();
      await untilListening(writer, (channel) => eventually(() => heard.includes(channel), 1000, channel));
      for (let i = 0; i < 3; i++) await writer.rooms.add('lobby', `chan.${i}`);
      await eventually(() => heard.includes('chan.2'), 5000, 'the changes');
      // Removes every entry logged more than 1 s before a clock 5 s ahead: all of them.
      await tracker({ eventRetention: 1, now: () => new Date(Date.now() + 5000) }).rooms.prunePresences();
      await writer.rooms.add('lobby', 'chan.after');
      await eventually(() => heard.includes('chan.after'), 5000, 'the change after the trim');
      expect(resyncs).toEqual([]);
      expect(heard.filter((channel) => channel.startsWith('chan.') && !channel.startsWith('chan.sentinel'))).toEqual(['chan.0', 'chan.1', 'chan.2', 'chan.after']);
    } finally {
      await holder.rows('ROLLBACK');
      await holder.close();
    }
  });
});

/** What a listening tracker reports: its errors, resync reasons, and the channels added in changes it hears. */
function record(listener: PresenceTracker): { errors: Error[]; resyncs: string[]; heard: string[] } {
  const recorded = { errors: [] as Error[], resyncs: [] as string[], heard: [] as string[] };
  listener.on('error', (error) => void recorded.errors.push(error));
  listener.on('resync', ({ reason }) => void recorded.resyncs.push(reason));
  listener.on('changed', (event) => void recorded.heard.push(event.added?.channelName ?? ''));
  return recorded;
}
