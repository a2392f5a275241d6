// `migrate` interrupted (SIGKILL at random points, a full disk, a second `migrate` at once)
// and history rows left unfinished by Prisma's engine: a re-run always finishes the job or
// refuses in one line, and never leaves a state between two migrations. The expected
// schema comes from Prisma's own engine (prismaDeploy), every check from the raw drivers.
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash, randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, PresenceError } from '../src/index.ts';
import { readBundledMigrations } from '../src/migrations/bundled.ts';
import { cli } from './support/cli.ts';
import { emptyDatabase, testEngines, type Engine } from './support/databases.ts';
import { prismaDeploy } from './support/prismaEngine.ts';
import { scratchDir } from './support/scratch.ts';
import { PRESENCE_TABLES, runScript, schemaShape, tableNames, withInspector, type SchemaShape } from './support/schemaShape.ts';
import { rejection } from './support/rejection.ts';

const BIN = new URL('../bin/presence-admin.js', import.meta.url).pathname;
const KILLS = 20;
/**
 * Pairs of concurrent `migrate` runs, each on a fresh database. A lost race shows only
 * sometimes (the old bin failed 6 of 20 pairs on SQLite, so 16 pairs miss it about 0.3% of
 * the time); on PostgreSQL it lost none of 40, so there a few pairs guard it.
 */
const RACES = { sqlite: 16, postgresql: 4 } as const;

/** A fixed-seed generator, so that a failing run can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs the real `presence-admin migrate`, killed with SIGKILL after `killAfterMs` when given. */
function runMigrate(url: string, killAfterMs?: number): Promise<Run> {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(process.execPath, [BIN, 'migrate', '--database-url', url], { env: { PATH: process.env.PATH ?? '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - started });
    });
  });
}

/** The history as `name:state` (applied, rolled-back, open), in order of migration name. */
async function historyStates(url: string): Promise<string[]> {
  return withInspector(url, async (db) => {
    const rows = await db.rows<{ migration_name: string; finished_at: unknown; rolled_back_at: unknown }>(
      'SELECT migration_name, finished_at, rolled_back_at FROM "_prisma_migrations" ORDER BY migration_name, started_at',
    );
    return rows.map((row) => `${row.migration_name}:${row.rolled_back_at !== null ? 'rolled-back' : row.finished_at !== null ? 'applied' : 'open'}`);
  });
}

/** Where a database stands: its presence tables' shape and which tables exist at all. */
async function schemaOf(url: string, engine: Engine): Promise<{ tables: string[]; shape: SchemaShape }> {
  return withInspector(url, async (db) => ({ tables: await tableNames(db, engine), shape: await schemaShape(db, engine, PRESENCE_TABLES) }));
}

/** Records migration `name` as started and not finished, exactly as Prisma's engine does before running it. */
async function openRow(url: string, engine: Engine, name: string, sql: string, logs: string | null = null): Promise<void> {
  const checksum = createHash('sha256').update(sql).digest('hex');
  const startedAt = engine === 'sqlite' ? new Date().toISOString().replace('Z', '+00:00') : new Date();
  await withInspector(url, (db) =>
    db.rows('INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count, logs) VALUES (?, ?, ?, ?, 0, ?)', randomUUID(), checksum, name, startedAt, logs),
  );
}

describe.each(testEngines())('interrupted migrate on %s', (engine) => {
  let names: string[];
  let scripts: Map<string, string>;
  let shipped: { tables: string[]; shape: SchemaShape };

  beforeAll(async () => {
    const migrations = await readBundledMigrations(engine);
    names = migrations.map((migration) => migration.name);
    scripts = new Map(migrations.map((migration) => [migration.name, migration.sql]));
    const reference = await emptyDatabase(engine);
    await prismaDeploy(reference);
    shipped = await schemaOf(reference, engine);
  });

  it(`SIGKILLed at ${KILLS} random points, every re-run of migrate ends up to date with the shipped schema`, async () => {
    const full = await runMigrate(await emptyDatabase(engine));
    expect(full.stdout).toMatch(/^Applied \d+ migrations/);
    const next = random(15);
    let interrupted = 0;
    for (let run = 0; run < KILLS; run++) {
      const url = await emptyDatabase(engine);
      const killed = await runMigrate(url, full.ms * (0.3 + 0.8 * next()));
      if (killed.signal === 'SIGKILL') interrupted++;
      const applied = await migrate({ databaseUrl: url });
      expect(names, `run ${run}`).toEqual(expect.arrayContaining(applied));
      expect(await migrate({ databaseUrl: url }), `run ${run}`).toEqual([]);
      expect(await schemaOf(url, engine), `run ${run}`).toEqual(shipped);
      expect((await historyStates(url)).filter((state) => !state.endsWith(':rolled-back')), `run ${run}`).toEqual(names.map((name) => `${name}:applied`));
    }
    expect(interrupted, 'kills that landed before migrate finished').toBeGreaterThan(KILLS / 4);
  }, 120_000);

  it.each([
    ['unfinished (the process was killed)', null],
    ['failed (the engine logged an error)', 'Error: database or disk is full'],
  ])('a %s history row whose changes are absent is marked rolled back and the migration applied again', async (_, logs) => {
    const url = await emptyDatabase(engine);
    const last = names.at(-1)!;
    await prismaDeploy(url, names.length - 1);
    await openRow(url, engine, last, scripts.get(last)!, logs);
    expect(await cli('status', '--database-url', url)).toEqual({
      code: 3,
      out: [
        ...names.slice(0, -1).map((name) => `applied  ${name}`),
        `FAILED   ${last}`,
        'Run `presence-admin migrate`: it checks the tables of the interrupted migration, repairs its history and applies what is pending',
        '',
      ].join('\n'),
      err: '',
    });

    expect(await migrate({ databaseUrl: url })).toEqual([last]);
    expect(await schemaOf(url, engine)).toEqual(shipped);
    expect(await historyStates(url)).toEqual([...names.slice(0, -1).map((name) => `${name}:applied`), `${last}:rolled-back`, `${last}:applied`]);
    expect(await migrate({ databaseUrl: url })).toEqual([]);
  });

  it('an unfinished row whose migration did complete is recorded as applied without running it again', async () => {
    const url = await emptyDatabase(engine);
    const last = names.at(-1)!;
    await prismaDeploy(url, names.length - 1);
    await openRow(url, engine, last, scripts.get(last)!);
    await runScript(url, scripts.get(last)!);
    await withInspector(url, (db) => db.rows(`INSERT INTO "Room" ("channelName") VALUES ('kept')`));

    expect(await migrate({ databaseUrl: url })).toEqual([]);
    expect(await schemaOf(url, engine)).toEqual(shipped);
    expect(await historyStates(url)).toEqual([...names.slice(0, -1).map((name) => `${name}:applied`), `${last}:rolled-back`, `${last}:applied`]);
    await withInspector(url, async (db) => expect(await db.rows('SELECT "channelName" FROM "Room"')).toEqual([{ channelName: 'kept' }]));
  });

  it('a half-applied migration left by an earlier tool is refused in one line naming the fix, and nothing is written', async () => {
    const url = await emptyDatabase(engine);
    const restrict = names.find((name) => name.endsWith('_room_delete_restrict'))!;
    await prismaDeploy(url, names.indexOf(restrict));
    // The statements up to the DROP (SQLite's rebuild) or the first one (PostgreSQL) ran, then the process died.
    const firstSteps =
      engine === 'sqlite'
        ? scripts.get(restrict)!.slice(0, scripts.get(restrict)!.indexOf('ALTER TABLE'))
        : 'ALTER TABLE "Presence" DROP CONSTRAINT "Presence_roomId_fkey"';
    await runScript(url, firstSteps);
    await openRow(url, engine, restrict, scripts.get(restrict)!);
    const before = { schema: await schemaOf(url, engine), history: await historyStates(url) };

    const error = await rejection(migrate({ databaseUrl: url }));
    expect(error.code).toBe('MIGRATION_FAILED');
    expect(error.message).not.toContain('\n');
    expect(error.message).toContain(restrict);
    expect(error.message).toMatch(engine === 'sqlite' ? /table Presence is missing/ : /foreign key/);
    expect(error.message).toContain('`npx presence-admin migrate`');
    expect({ schema: await schemaOf(url, engine), history: await historyStates(url) }).toEqual(before);
  });

  if (engine === 'sqlite') {
    /** A database where room_delete_restrict's rebuild ran up to `stopBefore` (statement by statement, as Prisma's engine runs it) with presences in it. */
    async function interruptedRebuild(stopBefore: string): Promise<{ url: string; restrict: string; rows: unknown[] }> {
      const url = await emptyDatabase(engine);
      const restrict = names.find((name) => name.endsWith('_room_delete_restrict'))!;
      await prismaDeploy(url, names.indexOf(restrict));
      await runScript(
        url,
        `INSERT INTO "Room" ("channelName") VALUES ('lobby');
         INSERT INTO "Presence" ("roomId", "channelName", "userId", "lastSeen") VALUES (1, 'chan.1', 'olga', '2026-01-01T00:00:00.000+00:00'), (1, 'chan.2', NULL, '2026-01-01T00:00:00.000+00:00');`,
      );
      const rows = await withInspector(url, (db) => db.rows('SELECT * FROM "Presence" ORDER BY "id"'));
      const script = scripts.get(restrict)!;
      await runScript(url, script.slice(0, script.indexOf(stopBefore)));
      await openRow(url, engine, restrict, script);
      return { url, restrict, rows };
    }

    it('a rebuild that stopped before dropping the original table: the stray new_Presence copy is dropped and the migration applied again', async () => {
      const { url, restrict, rows } = await interruptedRebuild('DROP TABLE');
      expect(await withInspector(url, (db) => tableNames(db, engine))).toContain('new_Presence');

      expect(await migrate({ databaseUrl: url })).toEqual(names.slice(names.indexOf(restrict)));
      expect(await schemaOf(url, engine)).toEqual(shipped);
      expect(await withInspector(url, (db) => db.rows('SELECT * FROM "Presence" ORDER BY "id"'))).toEqual(rows);
      expect((await historyStates(url)).filter((state) => state.startsWith(restrict))).toEqual([`${restrict}:rolled-back`, `${restrict}:applied`]);
    });

    it('a rebuild that stopped after its rename (Presence without its indexes): the indexes are created and the migration recorded as applied', async () => {
      const { url, restrict, rows } = await interruptedRebuild('CREATE INDEX');
      expect((await schemaOf(url, engine)).shape.indexes.filter((index) => index.table === 'Presence')).toEqual([]);

      await migrate({ databaseUrl: url });
      expect(await migrate({ databaseUrl: url })).toEqual([]);
      expect(await schemaOf(url, engine)).toEqual(shipped);
      expect(await withInspector(url, (db) => db.rows('SELECT * FROM "Presence" ORDER BY "id"'))).toEqual(rows);
      expect((await historyStates(url)).filter((state) => state.startsWith(restrict))).toEqual([`${restrict}:rolled-back`, `${restrict}:applied`]);
    });
  }

  it(`two migrate processes at once on a fresh database, ${RACES[engine]} times: one applies everything, the other waits and reports up to date`, async () => {
    for (let race = 0; race < RACES[engine]; race++) {
      const url = engine === 'sqlite' ? `file:${join(scratchDir('race'), 'presence.db')}` : await emptyDatabase(engine);
      const runs = await Promise.all([runMigrate(url), runMigrate(url)]);
      expect(runs.map((run) => [run.code, run.stderr]), `race ${race}`).toEqual([
        [0, ''],
        [0, ''],
      ]);
      expect(runs.map((run) => run.stdout).sort(), `race ${race}`).toEqual([`Applied ${names.length} migrations: ${names.join(', ')}\n`, 'Database is up to date, no migration to apply\n']);
      expect(await schemaOf(url, engine), `race ${race}`).toEqual(shipped);
    }
  }, 120_000);
});

describe.runIf(testEngines().includes('sqlite'))('interrupted upgrade of a SQLite database holding 100,000 presences', () => {
  const PRESENCES = 100_000;
  let base: string;
  let names: string[];
  let restrict: string;
  let before: { tables: string[]; shape: SchemaShape };
  let shipped: { tables: string[]; shape: SchemaShape };
  const fingerprint = (url: string) =>
    withInspector(url, (db) =>
      db.rows('SELECT count(*) AS n, sum("id") AS ids, sum("roomId") AS rooms, count(DISTINCT "channelName") AS channels, max("userId") AS users FROM "Presence"'),
    );
  let expectedRows: unknown;

  /** A copy of the base database (all migrations before room_delete_restrict, 100,000 presences). */
  function copyOfBase(): string {
    const path = join(scratchDir('upgrade'), 'presence.db');
    copyFileSync(base, path);
    return `file:${path}`;
  }

  beforeAll(async () => {
    names = (await readBundledMigrations('sqlite')).map((migration) => migration.name);
    restrict = names.find((name) => name.endsWith('_room_delete_restrict'))!;
    base = join(scratchDir('upgrade-base'), 'presence.db');
    await prismaDeploy(`file:${base}`, names.indexOf(restrict));
    const db = new Database(base);
    db.exec(`
      WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
      INSERT INTO "Room" ("id", "channelName") SELECT i, 'room.' || i FROM n;
      WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ${PRESENCES - 1})
      INSERT INTO "Presence" ("roomId", "channelName", "userId", "lastSeen", "metadata", "serverId")
      SELECT i % 1000 + 1, 'chan.' || i, 'user.' || (i % 5000), '2026-01-01T00:00:00.000+00:00', '{"page":"/"}', NULL FROM n;`);
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    before = await schemaOf(`file:${base}`, 'sqlite');
    expectedRows = await fingerprint(`file:${base}`);
    const reference = await emptyDatabase('sqlite');
    await prismaDeploy(reference);
    shipped = await schemaOf(reference, 'sqlite');
  }, 60_000);

  it(`SIGKILLed at ${KILLS} random points: the file is always before or after the upgrade, and a re-run finishes it with every presence kept`, async () => {
    const full = await runMigrate(copyOfBase());
    expect(full.stdout).toMatch(/^Applied \d+ migrations?: /);
    const next = random(16);
    let interrupted = 0;
    for (let run = 0; run < KILLS; run++) {
      const url = copyOfBase();
      const killed = await runMigrate(url, full.ms * (0.2 + 0.9 * next()));
      if (killed.signal === 'SIGKILL') interrupted++;
      // Opening the file rolls back (WAL) whatever the killed transaction wrote.
      expect([before, shipped], `run ${run}`).toContainEqual(await schemaOf(url, 'sqlite'));
      expect(await fingerprint(url), `run ${run}`).toEqual(expectedRows);

      await migrate({ databaseUrl: url });
      expect(await migrate({ databaseUrl: url }), `run ${run}`).toEqual([]);
      expect(await schemaOf(url, 'sqlite'), `run ${run}`).toEqual(shipped);
      expect(await fingerprint(url), `run ${run}`).toEqual(expectedRows);
    }
    expect(interrupted, 'kills that landed before migrate finished').toBeGreaterThan(KILLS / 4);
  }, 120_000);

  it('Prisma\'s own engine (statement by statement) SIGKILLed at 12 random points: migrate repairs every interrupted upgrade it can prove and refuses the rest in one line', async () => {
    /** `prisma migrate deploy` in a process of its own (Prisma's engine, as the earlier presence-admin ran it). */
    const deployByPrisma = (url: string, killAfterMs?: number) =>
      new Promise<number>((resolve) => {
        const started = performance.now();
        const child = spawn(process.execPath, ['--import', 'tsx', 'tests/support/prismaEngine.ts', url], { cwd: new URL('..', import.meta.url).pathname, stdio: 'ignore' });
        const timer = killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
        child.on('exit', () => {
          clearTimeout(timer);
          resolve(performance.now() - started);
        });
      });
    const fullMs = await deployByPrisma(copyOfBase());
    const next = random(17);
    const outcomes = { upToDate: 0, repaired: 0, refused: 0 };
    for (let run = 0; run < 12; run++) {
      const url = copyOfBase();
      await deployByPrisma(url, fullMs * (0.4 + 0.7 * next()));
      const open = (await historyStates(url)).some((state) => state.endsWith(':open'));
      const applied = await migrate({ databaseUrl: url }).catch((error: unknown) => error);
      if (applied instanceof Error) {
        expect(applied, `run ${run}`).toBeInstanceOf(PresenceError);
        expect(applied.message, `run ${run}`).toMatch(/^Migrating \S+ failed: migration \S+ was interrupted by an earlier tool and left the tables half changed \([^\n]*\): [^\n]*`npx presence-admin migrate` again$/);
        outcomes.refused++;
        continue;
      }
      outcomes[open ? 'repaired' : 'upToDate']++;
      expect(await migrate({ databaseUrl: url }), `run ${run}`).toEqual([]);
      expect(await schemaOf(url, 'sqlite'), `run ${run}`).toEqual(shipped);
      expect(await fingerprint(url), `run ${run}`).toEqual(expectedRows);
    }
    expect(outcomes.repaired, JSON.stringify(outcomes)).toBeGreaterThan(0);
  }, 60_000);

  // Mounting the tmpfs takes root (CI runs as root); elsewhere this block does not run.
  describe.runIf(process.getuid?.() === 0)('on a disk that fills up during the upgrade (a small tmpfs)', () => {
    let mountPoint: string | undefined;
    afterAll(() => {
      if (mountPoint) execFileSync('umount', [mountPoint]);
    });

    it('migrate fails with the disk-full reason and leaves the file as before; once there is room, a re-run finishes', async () => {
      const dir = scratchDir('full-disk');
      const megabytes = Math.ceil(statSync(base).size / 2 ** 20) + 2;
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${megabytes}m`, 'tmpfs', dir]);
      mountPoint = dir;
      const path = join(dir, 'presence.db');
      copyFileSync(base, path);
      const url = `file:${path}`;

      const error = await rejection(migrate({ databaseUrl: url }));
      expect(error.code).toBe('MIGRATION_FAILED');
      expect(error.message).toMatch(/disk is full/);
      expect(error.message).not.toContain('\n');
      expect(await schemaOf(url, 'sqlite')).toEqual(before);
      expect(await historyStates(url)).toEqual(names.slice(0, names.indexOf(restrict)).map((name) => `${name}:applied`));
      expect(await fingerprint(url)).toEqual(expectedRows);

      execFileSync('mount', ['-o', `remount,size=${megabytes * 4}m`, dir]);
      expect(await migrate({ databaseUrl: url })).toEqual(names.slice(names.indexOf(restrict)));
      expect(await migrate({ databaseUrl: url })).toEqual([]);
      expect(await schemaOf(url, 'sqlite')).toEqual(shipped);
      expect(await fingerprint(url)).toEqual(expectedRows);
    }, 60_000);
  });
});

describe.runIf(testEngines().includes('sqlite'))('migrate on a path that is not a SQLite database', () => {
  it('a directory: says so in words and creates nothing', async () => {
    const dir = scratchDir('not-a-file');
    const error = await rejection(migrate({ databaseUrl: `file:${dir}` }));
    expect(error.message).toBe(`${dir} is a directory, not a SQLite database file: give the path of a file, e.g. file:${dir}/presence.db`);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a text file: says so in words and leaves the file as it was', async () => {
    const dir = scratchDir('not-a-db');
    mkdirSync(dir, { recursive: true });
    const path = join(dir, 'notes.txt');
    writeFileSync(path, 'shopping list: milk, eggs\n');
    const error = await rejection(migrate({ databaseUrl: `file:${path}` }));
    expect(error.message).toBe(`${path} is not a SQLite database (it does not start with SQLite's file header): check the path`);
    expect(readFileSync(path, 'utf8')).toBe('shopping list: milk, eggs\n');
  });
});
