// SQLite stores DateTime as ISO-8601 text by default, or as integer milliseconds when an
// application's adapter says `timestampFormat: 'unixepoch-ms'` (the format Prisma's native
// engine used). prisma-presence's own connection follows the stored format, and refuses a
// table that holds both, so that it never compares an integer with text. (PostgreSQL has
// one timestamp type: nothing to detect there.)
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { describe, expect, it } from 'vitest';
import { createPresence } from '../src/index.ts';
import { PrismaClient as AppSqliteClient } from './fixtures/app-sqlite/generated/client.ts';
import { createAppTables } from './support/appClient.ts';
import { cli } from './support/cli.ts';
import { emptyDatabase, inspect, snapshot, testEngines } from './support/databases.ts';

/** An application whose adapter stores timestamps as integers, adding `channel` to `room` as seen `ageSeconds` ago. */
async function addThroughApp(url: string, ageSeconds: number, room: string, channel: string): Promise<void> {
  const prisma = new AppSqliteClient({ adapter: new PrismaBetterSqlite3({ url }, { timestampFormat: 'unixepoch-ms' }) });
  const presence = createPresence({ prisma, provider: 'sqlite', now: () => new Date(Date.now() - ageSeconds * 1000) });
  try {
    await presence.rooms.add(room, channel);
  } finally {
    await presence.close();
    await prisma.$disconnect();
  }
}

/** A database the application made, holding chan.stale (seen 120 s ago) and chan.fresh (1 s ago) in lobby. */
async function staleAndFreshThroughApp(): Promise<string> {
  const url = await emptyDatabase('sqlite');
  await createAppTables('sqlite', url);
  await addThroughApp(url, 120, 'lobby', 'chan.stale');
  await addThroughApp(url, 1, 'lobby', 'chan.fresh');
  return url;
}

async function rows(url: string, text: string): Promise<unknown[]> {
  const db = await inspect(url);
  try {
    return await db.rows(text);
  } finally {
    await db.close();
  }
}

describe.runIf(testEngines().includes('sqlite'))('lastSeen stored as integers (timestampFormat: unixepoch-ms) on sqlite', () => {
  it('prune-presence and stats from presence-admin compare them as times: only the stale presence goes', async () => {
    const url = await staleAndFreshThroughApp();
    expect(await rows(url, 'SELECT DISTINCT typeof("lastSeen") AS type FROM "Presence"')).toEqual([{ type: 'integer' }]);

    const stats = await cli('stats', '--database-url', url, '--max-age', '60', '--json');
    expect(JSON.parse(stats.out).total).toMatchObject({ presences: 2, stale: 1 });
    expect(await cli('prune-presence', '--database-url', url, '--max-age', '60')).toEqual({ code: 0, out: 'Pruned 1 presence from 1 room\n', err: '' });
    const db = await inspect(url);
    try {
      expect(await snapshot(db)).toEqual(['lobby/chan.fresh=-']);
    } finally {
      await db.close();
    }
  });

  it("prisma-presence's own connection writes integers into such a table, never text", async () => {
    const url = await emptyDatabase('sqlite');
    await createAppTables('sqlite', url);
    await addThroughApp(url, 1, 'lobby', 'chan.app');
    const presence = createPresence({ databaseUrl: url });
    try {
      await presence.rooms.add('lobby', 'chan.library');
      await presence.presences.touch('chan.app');
    } finally {
      await presence.close();
    }
    expect(await rows(url, 'SELECT DISTINCT typeof("lastSeen") AS type FROM "Presence"')).toEqual([{ type: 'integer' }]);
  });

  it('with renamed tables (the tables option), the format is read from the renamed table: only the stale presence goes', async () => {
    const url = await staleAndFreshThroughApp();
    await rows(url, 'ALTER TABLE "Presence" RENAME TO "presence_rows"');
    await rows(url, 'ALTER TABLE "Room" RENAME TO "room_rows"');
    const presence = createPresence({ databaseUrl: url, tables: { Presence: 'presence_rows', Room: 'room_rows' } });
    expect(await presence.rooms.prunePresences(60).finally(() => presence.close())).toBe(1);
    expect(await rows(url, 'SELECT "channelName" FROM "presence_rows"')).toEqual([{ channelName: 'chan.fresh' }]);
  });

  it('a table holding both integers and text is refused in one line that says how to fix it, and nothing is pruned', async () => {
    const url = await emptyDatabase('sqlite');
    await createAppTables('sqlite', url);
    await addThroughApp(url, 1, 'lobby', 'chan.integer');
    await rows(url, `INSERT INTO "Presence" ("roomId", "channelName", "lastSeen") SELECT "id", 'chan.text', '2026-01-01T00:00:00.000+00:00' FROM "Room"`);

    const result = await cli('prune-presence', '--database-url', url);
    expect(result.code, 'UNSUPPORTED_DATABASE exits 2').toBe(2);
    expect(result.err).toMatch(/^Error: [^\n]*Presence\.lastSeen in two formats[^\n]*timestampFormat[^\n]*\n$/);
    expect(await rows(url, 'SELECT count(*) AS n FROM "Presence"')).toEqual([{ n: 2 }]);
    const presence = createPresence({ databaseUrl: url });
    await expect(presence.rooms.getUsers('lobby')).rejects.toMatchObject({ name: 'PresenceError', code: 'UNSUPPORTED_DATABASE' });
    await presence.close();
  });
});
