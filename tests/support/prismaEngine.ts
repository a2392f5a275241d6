// `prisma migrate deploy` as Prisma's own schema engine runs it (the WebAssembly build of the
// engine the Prisma CLI ships), for building databases the way Prisma leaves them: part of
// the bundled migrations applied, or killed half-way. Run as a script, it deploys
// `process.argv[2]` (URL) with the first `process.argv[3]` migrations (all when absent).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readBundledMigrations, schemaDir } from '../../src/migrations/bundled.ts';
import { onEachConnection, readLockfile, readSchemaFiles, withSchemaEngine } from '../../scripts/schemaEngine.ts';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import { parseDatabaseUrl } from '../../src/database/url.ts';

/** Prisma's driver adapter for the URL, as the Prisma CLI would use it (SQLite in WAL mode with a busy timeout). */
function adapterFactory(url: string) {
  if (!url.startsWith('file:')) return new PrismaPg({ connectionString: url, max: 1 });
  return onEachConnection(new PrismaBetterSqlite3({ url, timeout: 5000 }), (connection) =>
    connection.executeScript('PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;'),
  );
}

/** Applies the first `count` bundled migrations (all by default) with Prisma's engine; returns the names it applied. */
export async function prismaDeploy(url: string, count?: number): Promise<string[]> {
  const { dialect } = parseDatabaseUrl(url);
  const [datamodels, migrations, lockfile] = await Promise.all([readSchemaFiles(dialect), readBundledMigrations(dialect), readLockfile(dialect)]);
  return deploy(url, datamodels, join(schemaDir(dialect), 'migrations'), lockfile, migrations.slice(0, count ?? migrations.length));
}

/** `prisma migrate deploy` of an application's schema folder and its `migrations` folder. */
export async function prismaDeployFolder(url: string, schemaFolder: string, migrationsFolder: string): Promise<string[]> {
  const datamodels = readdirSync(schemaFolder)
    .filter((name) => name.endsWith('.prisma'))
    .map((name): [string, string] => [join(schemaFolder, name), readFileSync(join(schemaFolder, name), 'utf8')]);
  const migrations = readdirSync(migrationsFolder, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => ({ name: entry.name, sql: readFileSync(join(migrationsFolder, entry.name, 'migration.sql'), 'utf8') }))
    .sort((a, b) => a.name.localeCompare(b.name));
  return deploy(url, datamodels, migrationsFolder, readFileSync(join(migrationsFolder, 'migration_lock.toml'), 'utf8'), migrations);
}

async function deploy(url: string, datamodels: [string, string][], baseDir: string, lockfile: string, migrations: { name: string; sql: string }[]): Promise<string[]> {
  const migrationsList = {
    baseDir,
    lockfile: { path: 'migration_lock.toml', content: lockfile },
    shadowDbInitScript: '',
    migrationDirectories: migrations.map(({ name, sql }) => ({
      path: name,
      migrationFile: { path: 'migration.sql', content: { tag: 'ok' as const, value: sql } },
    })),
  };
  const output = await withSchemaEngine(adapterFactory(url), datamodels, (engine) =>
    engine.applyMigrations({ migrationsList, filters: { externalTables: [], externalEnums: [] } }),
  );
  return output.appliedMigrationNames;
}

if (process.argv[1]?.endsWith('prismaEngine.ts')) {
  const count = process.argv[3] === undefined ? undefined : Number(process.argv[3]);
  await prismaDeploy(process.argv[2]!, count);
  process.stdout.write('done\n');
}
