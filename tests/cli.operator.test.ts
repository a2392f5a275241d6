// The operator side of presence-admin: --json on every command, --dry-run, stats and
// status, in-process on each engine. Database state is checked through the raw driver.
import { existsSync, readdirSync } from 'node:fs';
import { beforeEach, describe, expect, it } from 'vitest';
import { cli, seedEmptyRooms, seedPresences } from './support/cli.ts';
import { emptyDatabase, expiredServer, roomNames, snapshot, testEngines, useDatabase } from './support/databases.ts';
import { tableNames, withInspector } from './support/schemaShape.ts';

/** Every bundled migration of the engine, oldest first. */
const migrationsOf = (engine: string) =>
  readdirSync(`prisma/${engine}/migrations`, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();

/** Parses --json output: exactly one JSON object on one line. */
function json(out: string): Record<string, unknown> {
  const lines = out.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]!) as Record<string, unknown>;
}

describe.each(testEngines())('presence-admin operator commands on %s', (engine) => {
  const MIGRATIONS = migrationsOf(engine);

  const database = useDatabase(engine);
  beforeEach(async () => {
    await seedPresences(database.url, 120, 'lobby/chan.old1', 'lobby/chan.old2', 'kitchen/chan.old3');
    await seedPresences(database.url, 0, 'lobby/chan.new');
    await seedEmptyRooms(database.url, 'attic', 'cellar');
  });

  describe('--dry-run', () => {
    it('prune-presence reports what it would remove and changes nothing', async () => {
      const before = await snapshot(database.db);
      expect(await cli('prune-presence', '--dry-run', '--database-url', database.url)).toEqual({
        code: 0,
        out: 'Would prune 3 presences from 2 rooms (dry run, nothing changed)\n',
        err: '',
      });
      expect(await snapshot(database.db)).toEqual(before);
    });

    it('prune-rooms reports the empty rooms it would remove and changes nothing', async () => {
      expect(await cli('prune-rooms', '--dry-run', '--database-url', database.url)).toEqual({
        code: 0,
        out: 'Would prune 2 empty rooms (dry run, nothing changed)\n',
        err: '',
      });
      expect(await roomNames(database.db)).toEqual(['attic', 'cellar', 'kitchen', 'lobby']);
    });

    it('predicts exactly what the real run then does', async () => {
      const dry = json((await cli('prune-presence', '--dry-run', '--json', '--database-url', database.url)).out);
      const real = json((await cli('prune-presence', '--json', '--database-url', database.url)).out);
      expect({ presences: dry.presences, rooms: dry.rooms }).toEqual({ presences: real.presences, rooms: real.rooms });
    });
  });

  describe('--dry-run with a dead server', () => {
    it('counts the fresh presences of a server whose liveness expired, as the real run removes them', async () => {
      await expiredServer(database.db, 'dead');
      await database.db.rows(`UPDATE "Presence" SET "serverId" = 'dead' WHERE "channelName" = 'chan.new'`);
      const dry = json((await cli('prune-presence', '--dry-run', '--json', '--database-url', database.url)).out);
      const real = json((await cli('prune-presence', '--json', '--database-url', database.url)).out);
      expect({ presences: dry.presences, rooms: dry.rooms }).toEqual({ presences: 4, rooms: 2 });
      expect({ presences: real.presences, rooms: real.rooms }).toEqual({ presences: 4, rooms: 2 });
      await database.db.rows('DELETE FROM "PresenceServer"');
    });
  });

  describe('--json', () => {
    it.each([
      [['prune-presence'], { command: 'prune-presence', dryRun: false, presences: 3, rooms: 2, maxAge: 60 }],
      [['prune-presence', '--max-age', '300'], { command: 'prune-presence', dryRun: false, presences: 0, rooms: 0, maxAge: 300 }],
      [['prune-rooms'], { command: 'prune-rooms', dryRun: false, rooms: 2 }],
      [['migrate'], { command: 'migrate', applied: [] }],
      [['status'], { command: 'status', applied: MIGRATIONS, pending: [], failed: [], upToDate: true }],
    ])('%j prints one JSON object with counts, duration and database kind', async (argv, expected) => {
      const result = await cli(...argv, '--json', '--database-url', database.url);
      expect(result.code).toBe(0);
      expect(result.err).toBe('');
      const output = json(result.out);
      expect(output).toMatchObject({ ...expected, ok: true, database: engine });
      expect(output.durationMs).toEqual(expect.any(Number));
    });

    it('stats prints the totals and per-room counts', async () => {
      const output = json((await cli('stats', '--json', '--database-url', database.url)).out);
      expect(output.total).toEqual({ rooms: 4, presences: 4, users: 0, anonymous: 4, stale: 3 });
      expect((output.rooms as { room: string }[]).map((room) => room.room)).toEqual(['attic', 'cellar', 'kitchen', 'lobby']);
    });

    it('a failure prints a JSON error object on stdout and one Error line on stderr', async () => {
      const result = await cli('stats', '--json', '--database-url', 'mysql://app:hunter2@database.db/app');
      expect(result.code).toBe(2);
      expect(json(result.out)).toMatchObject({ command: 'stats', ok: false, error: { code: 'UNSUPPORTED_DATABASE' } });
      expect(result.err).toMatch(/^Error: Unsupported database URL[^\n]*\n$/);
      expect(result.out + result.err).not.toContain('hunter2');
    });
  });

  describe('stats', () => {
    it('prints a table per room with a total line', async () => {
      const { code, out } = await cli('stats', '--database-url', database.url);
      expect(code).toBe(0);
      expect(out.split('\n').map((line) => line.trim().split(/\s+/).join(' '))).toEqual([
        'room presences users anonymous stale>60s',
        'attic 0 0 0 0',
        'cellar 0 0 0 0',
        'kitchen 1 0 1 1',
        'lobby 3 0 3 2',
        'TOTAL 4 0 4 3',
        '4 rooms',
        'shared log: 0 entries',
        '',
      ]);
    });

    it('narrows to the rooms given with --room and honours --max-age', async () => {
      const output = json((await cli('stats', '--room', 'lobby', 'kitchen', '--max-age', '600', '--json', '--database-url', database.url)).out);
      expect(output.total).toEqual({ rooms: 2, presences: 4, users: 0, anonymous: 4, stale: 0 });
      expect(output.maxAge).toBe(600);
    });
  });

  describe('status', () => {
    it('exits 0 when every bundled migration is applied', async () => {
      expect(await cli('status', '--database-url', database.url)).toEqual({ code: 0, out: `${MIGRATIONS.map((name) => `applied  ${name}\n`).join('')}Database is up to date\n`, err: '' });
    });

    it('exits 3 and lists pending migrations on an empty database, without creating anything', async () => {
      const empty = await emptyDatabase(engine);
      expect(await cli('status', '--database-url', empty)).toEqual({
        code: 3,
        out: `${MIGRATIONS.map((name) => `pending  ${name}\n`).join('')}Run \`presence-admin migrate\` to apply pending migrations\n`,
        err: '',
      });
      if (engine === 'sqlite') expect(existsSync(empty.slice('file:'.length))).toBe(false);
      if (engine === 'postgresql') expect(await withInspector(empty, (db) => tableNames(db, engine))).toEqual([]);
      expect(json((await cli('status', '--json', '--database-url', empty)).out)).toMatchObject({ ok: true, pending: MIGRATIONS, upToDate: false });
    });
  });
});
