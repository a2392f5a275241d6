// `prisma migrate deploy` as Prisma's own schema engine runs it (the WebAssembly build of the
// engine the Prisma CLI ships), for building databases the way Prisma leaves them: part of
// the bundled migrations applied, or killed half-way. Run as a script, it deploys
// `process.argv[2]` (URL) with the first `process.argv[3]` migrations (all when absent).
import { join } from 'node:path';
import { readBundledMigrations, readLockfile, readSchemaFiles, schemaDir } from '../../src/migrations/bundled.ts';
import { withSchemaEngine } from '../../src/migrations/schemaEngine.ts';
import { adapterFactory } from '../../src/database/open.ts';
import { parseDatabaseUrl } from '../../src/database/url.ts';

/** Applies the first `count` bundled migrations (all by default) with Prisma's engine; returns the names it applied. */
export async function prismaDeploy(url: string, count?: number): Promise<string[]> {
  const location = parseDatabaseUrl(url);
  const [datamodels, migrations, lockfile] = await Promise.all([
    readSchemaFiles(location.dialect),
    readBundledMigrations(location.dialect),
    readLockfile(location.dialect),
  ]);
  const migrationsList = {
    baseDir: join(schemaDir(location.dialect), 'migrations'),
    lockfile: { path: 'migration_lock.toml', content: lockfile },
    shadowDbInitScript: '',
    migrationDirectories: migrations.slice(0, count ?? migrations.length).map(({ name, sql }) => ({
      path: name,
      migrationFile: { path: 'migration.sql', content: { tag: 'ok' as const, value: sql } },
    })),
  };
  const output = await withSchemaEngine(adapterFactory(location, { max: 1 }), datamodels, (engine) =>
    engine.applyMigrations({ migrationsList, filters: { externalTables: [], externalEnums: [] } }),
  );
  return output.appliedMigrationNames;
}

if (process.argv[1]?.endsWith('prismaEngine.ts')) {
  const count = process.argv[3] === undefined ? undefined : Number(process.argv[3]);
  await prismaDeploy(process.argv[2]!, count);
  process.stdout.write('done\n');
}
