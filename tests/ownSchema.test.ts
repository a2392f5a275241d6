// The own-client path of docs/migrations.md, end to end: a fresh application with its own model and a
// prisma.config.ts pointing at its schema folder pastes the shipped models, has Prisma's
// engine make and deploy its migration, hands its client to createPresence, and runs
// presence-admin against the same database. presence-admin must recognise tables it does
// not own: `status` checks them, `migrate` writes nothing.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { createPresence, PresenceError, type PrismaClientLike } from '../src/index.ts';
import { migrationScript } from '../scripts/schemaEngine.ts';
import { cli } from './support/cli.ts';
import { emptyDatabase, snapshot, testEngines, type Engine } from './support/databases.ts';
import { prismaDeployFolder } from './support/prismaEngine.ts';
import { scratchDir } from './support/scratch.ts';
import { runScript, tableNames, withInspector } from './support/schemaShape.ts';

const ROOT = new URL('..', import.meta.url).pathname;
/** The models an app copies for its provider (see docs/migrations.md, own schema and client). */
const modelsOf = (engine: Engine) => readFileSync(join(ROOT, 'prisma', engine, 'models.prisma'), 'utf8');

interface App {
  dir: string;
  schemaFolder: string;
  migrationsFolder: string;
}

/** A new application as `prisma init` and docs/migrations.md leave it, with `presenceModels` pasted into its schema folder. */
async function createApp(engine: Engine, presenceModels: string): Promise<App> {
  const dir = scratchDir('app');
  const schemaFolder = join(dir, 'prisma', 'schema');
  const migrationsFolder = join(schemaFolder, 'migrations');
  mkdirSync(schemaFolder, { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  writeFileSync(
    join(dir, 'prisma.config.ts'),
    `import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'prisma/schema',
  migrations: { path: 'prisma/schema/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? '' },
});
`,
  );
  writeFileSync(
    join(schemaFolder, 'schema.prisma'),
    `generator client {
  provider            = "prisma-client"
  output              = "../../generated"
  importFileExtension = "js"
}

datasource db {
  provider = "${engine}"
}

/// The application's own model.
model Note {
  id   Int    @id @default(autoincrement())
  text String
}
`,
  );
  writeFileSync(join(schemaFolder, 'presence.prisma'), presenceModels);
  // What `prisma migrate dev` writes for the first migration: Prisma's engine diffs the empty database against the schema.
  const files = ['schema.prisma', 'presence.prisma'].map((name) => ({ path: join(schemaFolder, name), content: readFileSync(join(schemaFolder, name), 'utf8') }));
  mkdirSync(join(migrationsFolder, '20261201000000_init'), { recursive: true });
  writeFileSync(join(migrationsFolder, '20261201000000_init', 'migration.sql'), await migrationScript(files));
  writeFileSync(join(migrationsFolder, 'migration_lock.toml'), `provider = "${engine}"\n`);
  return { dir, schemaFolder, migrationsFolder };
}

async function historyRows(url: string): Promise<unknown[]> {
  return withInspector(url, (db) => db.rows('SELECT * FROM "_prisma_migrations" ORDER BY migration_name'));
}

describe.each(testEngines())('an application that migrates the presence tables itself, on %s', (engine) => {
  let app: App;
  let AppClient: new (options: { adapter: unknown }) => PrismaClientLike & { note: { create(args: { data: { text: string } }): Promise<unknown> } };

  beforeAll(async () => {
    app = await createApp(engine, modelsOf(engine));
    // `npx prisma generate` in the app, reading its prisma.config.ts (offline: the engine is never started).
    execFileSync(join(ROOT, 'node_modules', '.bin', 'prisma'), ['generate'], {
      cwd: app.dir,
      stdio: 'ignore',
      env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: join(ROOT, 'scripts', 'schema-engine-stub.sh') },
    });
    ({ PrismaClient: AppClient } = await import(join(app.dir, 'generated', 'client.ts')));
  }, 60_000);

  it('deploy, createPresence({ prisma }), then presence-admin on the same database: status passes, migrate writes nothing, the next deploy still works', async () => {
    const url = await emptyDatabase(engine);
    expect(await prismaDeployFolder(url, app.schemaFolder, app.migrationsFolder)).toEqual(['20261201000000_init']);

    const adapter = engine === 'sqlite' ? new PrismaBetterSqlite3({ url }) : new PrismaPg({ connectionString: url });
    const prisma = new AppClient({ adapter });
    const presence = createPresence({ prisma, provider: adapter.provider });
    try {
      await presence.rooms.add('lobby', 'chan.1', 'olga');
      await prisma.note.create({ data: { text: 'mine' } });
    } finally {
      await presence.close();
      await prisma.$disconnect();
    }
    const history = await historyRows(url);

    // The deploy recipe of docs/migrations.md: `presence-admin status || presence-admin migrate`.
    const status = await cli('status', '--database-url', url);
    expect(status).toEqual({
      code: 0,
      out: "The presence tables here come from your application's own migrations (presence-admin migrate leaves them alone)\nThey have everything prisma-presence needs\n",
      err: '',
    });
    const migrate = await cli('migrate', '--database-url', url);
    expect(migrate.code).toBe(1);
    expect(migrate.err).toMatch(/^Error: [^\n]*_prisma_migrations history belongs to your application's own migrations \(20261201000000_init\)[^\n]*\n$/);
    expect(await historyRows(url)).toEqual(history);

    expect(await cli('prune-presence', '--database-url', url)).toEqual({ code: 0, out: 'Pruned 0 presences from 0 rooms\n', err: '' });
    expect(await withInspector(url, snapshot)).toEqual(['lobby/chan.1=olga']);
    // The application's next `prisma migrate deploy` finds its history as it left it.
    expect(await prismaDeployFolder(url, app.schemaFolder, app.migrationsFolder)).toEqual([]);
  }, 30_000);

  it("createPresence({ prisma }) takes the database from the provider option, never from the client's private fields", async () => {
    const url = await emptyDatabase(engine);
    const adapter = engine === 'sqlite' ? new PrismaBetterSqlite3({ url }) : new PrismaPg({ connectionString: url });
    const prisma = new AppClient({ adapter });
    try {
      const error = (() => {
        try {
          createPresence({ prisma });
        } catch (thrown) {
          return thrown as PresenceError;
        }
      })();
      expect(error).toBeInstanceOf(PresenceError);
      expect({ code: error!.code, message: error!.message }).toEqual({
        code: 'INVALID_ARGUMENT',
        message: "createPresence({ prisma }) needs provider: your driver adapter's provider (e.g. provider: adapter.provider) or 'sqlite' / 'postgresql'",
      });
      expect(() => createPresence({ prisma, provider: 'mysql' as never })).toThrow(/provider must be 'sqlite', 'postgresql' or 'postgres'/);
    } finally {
      await prisma.$disconnect();
    }
  });

  it('status lists what the tables lack and exits 3 when the pasted models are outdated; migrate still writes nothing', async () => {
    const outdated = modelsOf(engine).replace(/^\s*metadata\s+String\?\s*$/m, '').replace(/^\s*@@index\(\[serverId\]\)\s*$/m, '');
    expect(outdated).not.toEqual(modelsOf(engine));
    const old = await createApp(engine, outdated);
    const url = await emptyDatabase(engine);
    await prismaDeployFolder(url, old.schemaFolder, old.migrationsFolder);

    const status = await cli('status', '--database-url', url);
    expect(status.code).toBe(3);
    const lines = status.out.trimEnd().split('\n');
    expect(lines[0]).toBe("The presence tables here come from your application's own migrations (presence-admin migrate leaves them alone)");
    expect(lines.filter((line) => line.startsWith('DIFFERS')).sort()).toEqual([
      `DIFFERS  column Presence.metadata is missing (expected ${engine === 'sqlite' ? 'TEXT' : 'text'})`,
      'DIFFERS  index Presence (serverId) is missing',
    ]);
    expect(lines.at(-1)).toMatch(new RegExp(`^Paste the current node_modules/prisma-presence/prisma/${engine}/models\\.prisma into your schema folder`));

    const history = await historyRows(url);
    expect((await cli('migrate', '--database-url', url)).code).toBe(1);
    expect(await historyRows(url)).toEqual(history);
  }, 30_000);

  it('tables made without a migration history (prisma db push): status checks them, migrate refuses before writing', async () => {
    const url = await emptyDatabase(engine);
    await runScript(url, readFileSync(join(app.migrationsFolder, '20261201000000_init', 'migration.sql'), 'utf8'));

    expect(await cli('status', '--database-url', url)).toMatchObject({ code: 0, out: expect.stringContaining('They have everything prisma-presence needs') });
    const migrate = await cli('migrate', '--database-url', url);
    expect(migrate.code).toBe(1);
    expect(migrate.err).toMatch(/^Error: [^\n]*\(P3005\)[^\n]*presence tables \(Presence, PresenceEvent, PresenceServer, Room\)[^\n]*\n$/);
    expect(await withInspector(url, (db) => tableNames(db, engine))).not.toContain('_prisma_migrations');
  });
});
