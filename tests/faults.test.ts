// A PostgreSQL server that restarts, shuts down or has its connections terminated: every
// call that fails meanwhile rejects with PresenceError DATABASE_UNAVAILABLE (never a raw
// driver error), and calls succeed again once the server is back. The server is this
// file's own, since the tests stop it.
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPresence, migrate, type PresenceTracker } from '../src/index.ts';
import { PrismaClient } from '../src/generated/postgresql/client.ts';
import { testEngines } from './support/engines.ts';
import { eventually } from './support/realtime.ts';
import { createDatabase, startPostgresServer, type PostgresServer } from './support/postgresServer.ts';

const unavailable = (reason: RegExp) =>
  expect.objectContaining({ name: 'PresenceError', code: 'DATABASE_UNAVAILABLE', message: expect.stringMatching(reason) });

/** Calls `work` until it resolves, checking that every failure on the way is DATABASE_UNAVAILABLE. */
async function untilItSucceeds<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      expect(error).toEqual(unavailable(/./));
      if (attempt === 50) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  return client;
}

/** Holds an exclusive lock on "Room" until released, so that a write waits inside the server. */
async function lockRooms(admin: pg.Client, url: string): Promise<{ waiting(): Promise<void>; release(): Promise<void> }> {
  const holder = await connect(url);
  await holder.query('BEGIN');
  await holder.query('LOCK TABLE "Room" IN ACCESS EXCLUSIVE MODE');
  return {
    async waiting() {
      const waiters = `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = 'faults'`;
      await eventually(async () => (await admin.query(waiters)).rows[0].n > 0, 10_000, 'a write waiting on the lock');
    },
    release: () => holder.end().catch(() => {}),
  };
}

/** A tracker, and how to close it with every connection it holds. */
interface Opened {
  presence: PresenceTracker;
  close(): Promise<void>;
}

const connections: Record<string, (url: string) => Opened> = {
  'its own connection': (url) => {
    const presence = createPresence({ databaseUrl: url, pool: { connectTimeout: 2000 } });
    return { presence, close: () => presence.close() };
  },
  "an application's PrismaClient": (url) => {
    const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: url, connectionTimeoutMillis: 2000 }) });
    const presence = createPresence({ prisma, provider: 'postgresql' });
    return { presence, close: async () => (await presence.close(), await prisma.$disconnect()) };
  },
};

describe.skipIf(!testEngines().includes('postgresql')).each(Object.entries(connections))('PostgreSQL faults, through %s', (_kind, open) => {
  let server: PostgresServer;
  let url: string;
  let admin: pg.Client;
  let opened: Opened;
  let presence: PresenceTracker;

  beforeAll(async () => {
    server = await startPostgresServer();
    url = await createDatabase(server.url, 'faults');
    await migrate({ databaseUrl: url });
  });
  afterAll(() => server.stop());
  beforeEach(async () => {
    admin = await connect(server.url);
    opened = open(url);
    presence = opened.presence;
    await presence.rooms.add('lobby', 'chan.before');
  });
  afterEach(async () => {
    await opened.close();
    await admin.end().catch(() => {});
  });

  it('pg_terminate_backend during a call (57P01) rejects it with DATABASE_UNAVAILABLE; the next calls recover', async () => {
    const lock = await lockRooms(admin, url);
    const pending = presence.rooms.add('kitchen', 'chan.1').catch((error: unknown) => error);
    await lock.waiting();
    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'faults' AND pid <> pg_backend_pid()`);
    expect(await pending).toEqual(unavailable(/terminating connection due to administrator command/));
    await lock.release();
    await untilItSucceeds(() => presence.rooms.add('kitchen', 'chan.2'));
  });

  it('a fast shutdown during a call (57P01 or 57P03), then calls while it is down, reject with DATABASE_UNAVAILABLE; calls succeed after restart', async () => {
    const lock = await lockRooms(admin, url);
    const pending = presence.rooms.add('kitchen', 'chan.1').catch((error: unknown) => error);
    await lock.waiting();
    await server.halt('fast');
    try {
      // Its statement is terminated (57P01), or its next connection meets the server shutting down (57P03);
      // on a busy machine the pool may see the terminated connection fail before the statement does.
      expect(await pending).toEqual(unavailable(/terminating connection due to administrator command|shutting down|connection error/));
      // Refused, or a pooled connection found closed: the reason varies, the code does not.
      await expect(presence.rooms.add('kitchen', 'chan.2')).rejects.toEqual(unavailable(/./));
    } finally {
      await server.resume();
    }
    await untilItSucceeds(() => presence.rooms.add('kitchen', 'chan.3'));
    await lock.release();
  });

  it('a server that is shutting down (57P03) refuses new connections with DATABASE_UNAVAILABLE', async () => {
    const session = await connect(url); // keeps a smart shutdown waiting
    const halting = server.halt('smart');
    await opened.close();
    try {
      // Wait (with the raw driver) until the server refuses new sessions.
      const refused = async () => (await connect(url).then((client) => client.end(), (caught: { code?: string }) => caught))?.code === '57P03';
      await eventually(refused, 10_000, 'the server to refuse new sessions');
      const fresh = open(url);
      await expect(fresh.presence.rooms.getUsers('lobby')).rejects.toEqual(unavailable(/shutting down/));
      await fresh.close();
    } finally {
      await session.end();
      await admin.end();
      await halting;
      await server.resume();
    }
  });
});

