// presence-admin in-process: `run(argv, output)` with buffered output, against a real
// database per engine. Database state is checked through the raw driver only.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { cli, seedEmptyRooms, seedPresences, type CliResult } from './support/cli.ts';
import { emptyDatabase, inspect, migratedDatabase, roomNames, snapshot, testEngines, type Engine, type Inspector } from './support/databases.ts';
import { tableNames, withInspector } from './support/schemaShape.ts';

/** The output of a successful command: exit 0, one summary line, nothing on err. */
function summary(line: string): CliResult {
  return { code: 0, out: `${line}\n`, err: '' };
}

/** Commander's report of a bad command line: exit 2, message plus hint on err. */
function usageError(message: string): CliResult {
  return { code: 2, out: '', err: `error: ${message}\n(run with --help for usage)\n` };
}

/** A runtime failure: exit 1, one `Error:` line on err. */
function failure(message: string): CliResult {
  return { code: 1, out: '', err: `Error: ${message}\n` };
}

function bundledMigrations(engine: Engine): string[] {
  const dir = join('prisma', engine, 'migrations');
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
}

const MISSING_TABLES =
  'The presence tables do not exist in this database: run `npx presence-admin migrate` first (or apply the shipped migrations with `prisma migrate deploy`)';
const MYSQL_URL = 'mysql://user:hunter2@db/app';
const UNSUPPORTED_MYSQL =
  'Unsupported database URL "mysql://user:***@db/app": use file:<path> for SQLite or postgresql://user@host:port/database for PostgreSQL';

// Every test starts without the variables presence-admin reads; vi.stubEnv sets them per test.
beforeEach(() => {
  for (const name of ['PRESENCE_DATABASE_URL', 'DATABASE_URL', 'PRESENCE_MAX_AGE', 'DEBUG']) vi.stubEnv(name, undefined);
});
afterEach(() => void vi.unstubAllEnvs());

describe('presence-admin without a database', () => {
  it('--help lists the commands, the environment variables and a crontab line', async () => {
    const { code, out, err } = await cli('--help');
    expect({ code, err }).toEqual({ code: 0, err: '' });
    expect(out).toMatch(/^Usage: presence-admin \[options\] \[command\]\n/);
    expect(out).toMatch(/^ {2}migrate \[options\] +apply the bundled migrations/m);
    expect(out).toMatch(/^ {2}prune-presence\|prune-presences \[options\] +remove presences not seen for --max-age seconds$/m);
    expect(out).toMatch(/^ {2}prune-rooms \[options\] +remove rooms that have no presences$/m);
    for (const variable of ['PRESENCE_DATABASE_URL', 'DATABASE_URL', 'PRESENCE_MAX_AGE', 'DEBUG']) {
      expect(out).toMatch(new RegExp(`^ {2}${variable} +\\S`, 'm'));
    }
    expect(out).toContain('\n  * * * * * cd /srv/app && npx presence-admin prune-presence && npx presence-admin prune-rooms\n');
  });

  it('prune-presence --help documents --database-url and --max-age', async () => {
    const { code, out, err } = await cli('prune-presence', '--help');
    expect({ code, err }).toEqual({ code: 0, err: '' });
    expect(out).toMatch(/^Usage: presence-admin prune-presence\|prune-presences \[options\]\n/);
    expect(out).toMatch(/^ {2}--database-url <url> /m);
    expect(out).toMatch(/^ {2}--max-age <seconds> +age after which a presence is stale/m);
  });

  it("--version prints package.json's version", async () => {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    expect(await cli('--version')).toEqual(summary(version));
    expect(await cli('-V')).toEqual(summary(version));
  });

  it('without a command prints the usage on err and exits 2', async () => {
    const { code, out, err } = await cli();
    expect({ code, out }).toEqual({ code: 2, out: '' });
    expect(err).toMatch(/^Usage: presence-admin \[options\] \[command\]\n/);
  });

  it('suggests the closest command for a typo', async () => {
    expect(await cli('prune-presnce')).toEqual({
      code: 2,
      out: '',
      err: "error: unknown command 'prune-presnce'\n(Did you mean prune-presence?)\n(run with --help for usage)\n",
    });
  });

  it.each(['migrate', 'prune-presence', 'prune-rooms'])('%s rejects an unsupported URL with exit 2 and hides its password', async (command) => {
    const result = await cli(command, '--database-url', MYSQL_URL);
    expect(result).toEqual({ code: 2, out: '', err: `Error: ${UNSUPPORTED_MYSQL}\n` });
  });

  it('rejects an unsupported URL from PRESENCE_DATABASE_URL the same way', async () => {
    vi.stubEnv('PRESENCE_DATABASE_URL', MYSQL_URL);
    expect(await cli('prune-rooms')).toEqual({ code: 2, out: '', err: `Error: ${UNSUPPORTED_MYSQL}\n` });
  });

  it('hides passwords that commander echoes back from a bad command line', async () => {
    const misspelled = await cli('prune-presence', `--databse-url=${MYSQL_URL}`);
    expect(misspelled).toEqual(usageError("unknown option '--databse-url=mysql://user:***@db/app'"));
    const asCommand = await cli(MYSQL_URL);
    expect(asCommand).toEqual(usageError("unknown command 'mysql://user:***@db/app'"));
    const asMaxAge = await cli('prune-presence', '--max-age', MYSQL_URL);
    expect(`${asMaxAge.out}${asMaxAge.err}`).not.toContain('hunter2');
    expect(asMaxAge.code).toBe(2);
  });

  it.each([
    ['a raw / in the password', 'postgresql://app:pa/ss-word@db/app', 'ss-word'],
    ['a raw # in the password', 'postgresql://app:pa#ss-word@db/app', 'ss-word'],
    ['a port that is not a number', 'postgresql://app:pw-word@db:five/app', 'pw-word'],
    ['an unclosed IPv6 bracket', 'postgresql://app:pw-word@[::1/app', 'pw-word'],
  ])('rejects a PostgreSQL URL with %s: exit 2, one line saying why, no password', async (_kind, url, secret) => {
    const result = await cli('stats', '--database-url', url);
    expect({ code: result.code, out: result.out }).toEqual({ code: 2, out: '' });
    expect(result.err).toMatch(/^Error: The PostgreSQL URL cannot be read \(Invalid URL\): write it as postgresql:\/\/user@host:port\/database[^\n]*\n$/);
    expect(result.err).not.toContain(secret);
  });

  it('prints usage errors under --json as the same JSON error object as runtime errors', async () => {
    const usage = await cli('stats', '--no-such-option', '--json');
    expect(usage.code).toBe(2);
    expect(JSON.parse(usage.out)).toEqual({ command: 'stats', ok: false, error: { code: 'INVALID_ARGUMENT', message: "unknown option '--no-such-option'" } });
    const badMaxAge = await cli('stats', '--max-age', 'soon', '--json');
    expect(badMaxAge.code).toBe(2);
    expect(JSON.parse(badMaxAge.out)).toEqual({
      command: 'stats',
      ok: false,
      error: { code: 'INVALID_ARGUMENT', message: expect.stringContaining('--max-age must be a positive number of seconds, got "soon"') },
    });
    vi.stubEnv('PRESENCE_MAX_AGE', 'soon');
    const runtime = await cli('stats', '--database-url', MYSQL_URL, '--json');
    expect(runtime.code).toBe(2);
    expect(Object.keys(JSON.parse(runtime.out))).toEqual(Object.keys(JSON.parse(usage.out)));
  });

  it('rejects --max-age too large to compute a date with exit 2', async () => {
    const result = await cli('prune-presence', '--database-url', MYSQL_URL, '--max-age', '1e300');
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/--max-age must be at most 3155760000 seconds \(100 years\), got 1e\+300/);
  });

  it('rejects an invalid PRESENCE_MAX_AGE with exit 2', async () => {
    vi.stubEnv('PRESENCE_MAX_AGE', 'soon');
    expect(await cli('prune-presence', '--database-url', MYSQL_URL)).toEqual({
      code: 2,
      out: '',
      err: 'Error: PRESENCE_MAX_AGE must be a positive number of seconds, got "soon"\n',
    });
  });

  it('reports a missing SQLite file with the migrate command to run, and does not create it', async () => {
    const url = await emptyDatabase('sqlite');
    const path = url.slice('file:'.length);
    expect(await cli('prune-presence', '--database-url', url)).toEqual(
      failure(`SQLite database ${path} does not exist: run \`npx presence-admin migrate --database-url ${url}\` to create it`),
    );
    expect(readdirSync(join(path, '..'))).toEqual([]);
  });

  it('reports an unreachable PostgreSQL server in one line, exit 1, without its password', async () => {
    const result = await cli('migrate', '--database-url', 'postgresql://app:s3cr3t-pw@127.0.0.1:1/app');
    expect({ code: result.code, out: result.out }).toEqual({ code: 1, out: '' });
    expect(result.err).toMatch(/^Error: Migrating postgresql:\/\/app:\*\*\*@127\.0\.0\.1:1\/app failed: [^\n]*\n$/);
    expect(result.err).not.toContain('s3cr3t-pw');
  });
});

describe.each(testEngines())('presence-admin on %s', (engine) => {
  describe('migrate', () => {
    it('creates the tables in an empty database, then reports it up to date', async () => {
      const url = await emptyDatabase(engine);
      const names = bundledMigrations(engine);
      expect(names[0]).toMatch(/^\d{14}_init$/);

      expect(await cli('migrate', '--database-url', url)).toEqual(summary(`Applied ${names.length} migrations: ${names.join(', ')}`));
      expect(await cli('migrate', '--database-url', url)).toEqual(summary('Database is up to date, no migration to apply'));

      await withInspector(url, async (db) => {
        const applied = await db.rows<{ name: string }>(
          'SELECT migration_name AS name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL',
        );
        expect(applied.map((row) => row.name)).toEqual(names);
        expect(await db.rows('SELECT * FROM "Room"')).toEqual([]);
        expect(await db.rows('SELECT * FROM "Presence"')).toEqual([]);
      });
    });

    it('reports a migration that fails to apply in one line, with its cause only under DEBUG', async () => {
      const url = await migratedDatabase(engine);
      const db = await inspect(url);
      await db.rows('DELETE FROM "_prisma_migrations"'); // the init migration now meets its own tables
      await db.close();
      const result = await cli('migrate', '--database-url', url);
      expect({ code: result.code, out: result.out }).toEqual({ code: 1, out: '' });
      expect(result.err).toMatch(/^Error: Migrating [^\n]* failed[^\n]*already exists\n$/);
      expect(result.err).not.toMatch(/\.rs:\d+|schema_engine|apply_migration/);
      // The failed migration rolled back with its history row: a re-run fails the same way, and the cause shows under DEBUG.
      vi.stubEnv('DEBUG', '1');
      const debug = await cli('migrate', '--database-url', url, '--json');
      expect(JSON.parse(debug.out)).toMatchObject({ ok: false, error: { code: 'MIGRATION_FAILED' } });
      expect(debug.err.split('\n')[0]).toMatch(/^Error: Migrating [^\n]* failed[^\n]*already exists$/);
      expect(debug.err).toMatch(/Caused by: /);
    });
  });

  describe('commands on a migrated database', () => {
    let url: string;
    let db: Inspector;

    beforeAll(async () => {
      url = await migratedDatabase(engine);
      db = await inspect(url);
    });
    afterAll(() => db.close());
    beforeEach(async () => {
      await db.rows('DELETE FROM "Presence"');
      await db.rows('DELETE FROM "Room"');
    });

    it('prune-presence removes presences older than 60 s by default and keeps their rooms', async () => {
      await seedPresences(url, 120, 'lobby/chan.old', 'kitchen/chan.old');
      await seedPresences(url, 0, 'lobby/chan.new');
      expect(await cli('prune-presence', '--database-url', url)).toEqual(summary('Pruned 2 presences from 2 rooms'));
      expect(await snapshot(db)).toEqual(['lobby/chan.new=-']);
      expect(await roomNames(db)).toEqual(['kitchen', 'lobby']);
    });

    it('prune-presence counts one room once and uses singular nouns', async () => {
      await seedPresences(url, 120, 'lobby/chan.old');
      await seedPresences(url, 0, 'lobby/chan.new');
      expect(await cli('prune-presence', '--database-url', url)).toEqual(summary('Pruned 1 presence from 1 room'));
      expect(await snapshot(db)).toEqual(['lobby/chan.new=-']);
    });

    it('prune-presences is an alias of prune-presence', async () => {
      await seedPresences(url, 120, 'lobby/chan.old', 'kitchen/chan.old');
      expect(await cli('prune-presences', '--database-url', url)).toEqual(summary('Pruned 2 presences from 2 rooms'));
      expect(await snapshot(db)).toEqual([]);
    });

    it('prune-presence --max-age overrides the 60 s default both ways', async () => {
      await seedPresences(url, 90, 'lobby/chan.90s');
      await seedPresences(url, 30, 'kitchen/chan.30s');
      expect(await cli('prune-presence', '--database-url', url, '--max-age', '120')).toEqual(summary('Pruned 0 presences from 0 rooms'));
      expect(await snapshot(db)).toEqual(['kitchen/chan.30s=-', 'lobby/chan.90s=-']);
      expect(await cli('prune-presence', '--database-url', url, '--max-age', '20')).toEqual(summary('Pruned 2 presences from 2 rooms'));
      expect(await snapshot(db)).toEqual([]);
    });

    it('prune-presence takes its max age from PRESENCE_MAX_AGE, and --max-age over it', async () => {
      await seedPresences(url, 90, 'lobby/chan.90s');
      vi.stubEnv('PRESENCE_MAX_AGE', '120');
      expect(await cli('prune-presence', '--database-url', url)).toEqual(summary('Pruned 0 presences from 0 rooms'));
      expect(await snapshot(db)).toEqual(['lobby/chan.90s=-']);
      expect(await cli('prune-presence', '--database-url', url, '--max-age', '60')).toEqual(summary('Pruned 1 presence from 1 room'));
      expect(await snapshot(db)).toEqual([]);
    });

    it('prune-rooms removes only empty rooms, with singular and plural summaries', async () => {
      await seedEmptyRooms(url, 'empty.1', 'empty.2');
      await seedPresences(url, 0, 'lobby/chan.1');
      expect(await cli('prune-rooms', '--database-url', url)).toEqual(summary('Pruned 2 empty rooms'));
      expect(await roomNames(db)).toEqual(['lobby']);

      await seedEmptyRooms(url, 'empty.3');
      expect(await cli('prune-rooms', '--database-url', url)).toEqual(summary('Pruned 1 empty room'));
      expect(await roomNames(db)).toEqual(['lobby']);
      expect(await snapshot(db)).toEqual(['lobby/chan.1=-']);
    });

    it('exits 0 when there is nothing to prune', async () => {
      await seedPresences(url, 0, 'lobby/chan.1');
      expect(await cli('prune-presence', '--database-url', url)).toEqual(summary('Pruned 0 presences from 0 rooms'));
      expect(await cli('prune-rooms', '--database-url', url)).toEqual(summary('Pruned 0 empty rooms'));
      expect(await snapshot(db)).toEqual(['lobby/chan.1=-']);
    });

    describe('usage errors exit 2 and leave the database alone', () => {
      it.each([
        { name: 'an unknown command', argv: ['prune-everything'], message: "unknown command 'prune-everything'" },
        { name: 'an unknown option', argv: ['prune-presence', '--force'], message: "unknown option '--force'" },
        {
          name: '--max-age 0',
          argv: ['prune-presence', '--max-age', '0'],
          message: `option '--max-age <seconds>' argument '0' is invalid. --max-age must be a positive number of seconds, got "0"`,
        },
        {
          name: '--max-age abc',
          argv: ['prune-presence', '--max-age', 'abc'],
          message: `option '--max-age <seconds>' argument 'abc' is invalid. --max-age must be a positive number of seconds, got "abc"`,
        },
        { name: 'an extra argument', argv: ['prune-rooms', 'extra'], message: "too many arguments for 'prune-rooms'. Expected 0 arguments but got 1." },
      ])('rejects $name', async ({ argv, message }) => {
        await seedPresences(url, 120, 'lobby/chan.old');
        await seedEmptyRooms(url, 'empty');
        expect(await cli(...argv, '--database-url', url)).toEqual(usageError(message));
        expect(await snapshot(db)).toEqual(['lobby/chan.old=-']);
        expect(await roomNames(db)).toEqual(['empty', 'lobby']);
      });
    });

    describe('database URL from the environment', () => {
      beforeEach(() => seedEmptyRooms(url, 'empty'));

      it('uses PRESENCE_DATABASE_URL without --database-url', async () => {
        vi.stubEnv('PRESENCE_DATABASE_URL', url);
        expect(await cli('prune-rooms')).toEqual(summary('Pruned 1 empty room'));
        expect(await roomNames(db)).toEqual([]);
      });

      it('falls back to DATABASE_URL', async () => {
        vi.stubEnv('DATABASE_URL', url);
        expect(await cli('prune-rooms')).toEqual(summary('Pruned 1 empty room'));
        expect(await roomNames(db)).toEqual([]);
      });

      it('prefers PRESENCE_DATABASE_URL over DATABASE_URL', async () => {
        vi.stubEnv('PRESENCE_DATABASE_URL', url);
        vi.stubEnv('DATABASE_URL', MYSQL_URL);
        expect(await cli('prune-rooms')).toEqual(summary('Pruned 1 empty room'));
        expect(await roomNames(db)).toEqual([]);
      });

      it('prefers --database-url over both variables', async () => {
        vi.stubEnv('PRESENCE_DATABASE_URL', MYSQL_URL);
        vi.stubEnv('DATABASE_URL', MYSQL_URL);
        expect(await cli('prune-rooms', '--database-url', url)).toEqual(summary('Pruned 1 empty room'));
        expect(await roomNames(db)).toEqual([]);
      });
    });
  });

  describe('on a database without the presence tables', () => {
    let url: string;

    beforeAll(async () => {
      url = await emptyDatabase(engine);
      // Opening the raw driver creates the SQLite file, so that the tables (not the file) are missing.
      await (await inspect(url)).close();
    });

    it.each(['prune-presence', 'prune-rooms'])('%s exits 1 with one line telling to run presence-admin migrate', async (command) => {
      expect(await cli(command, '--database-url', url)).toEqual(failure(MISSING_TABLES));
    });

    it('creates nothing', async () => {
      await cli('prune-presence', '--database-url', url);
      await cli('prune-rooms', '--database-url', url);
      expect(await withInspector(url, (db) => tableNames(db, engine))).toEqual([]);
    });
  });
});
