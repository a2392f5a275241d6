import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { adapterFactory } from '../database/open.js';
import type { DatabaseLocation } from '../database/url.js';
import { PresenceError, redactPasswords, withoutTrace } from '../errors.js';
import { readBundledMigrations, readLockfile, readSchemaFiles, schemaDir } from './bundled.js';
import { withSchemaEngine } from './schemaEngine.js';

const NO_FILTERS = { externalTables: [], externalEnums: [] };

/**
 * Applies the bundled migrations that the database lacks, as `prisma migrate deploy`
 * does (same `_prisma_migrations` table and checksums), with Prisma's schema engine
 * built as WebAssembly. Returns the names of the migrations it applied.
 */
export async function applyMigrations(location: DatabaseLocation): Promise<string[]> {
  const [datamodels, migrations, lockfile] = await Promise.all([
    readSchemaFiles(location.dialect),
    readBundledMigrations(location.dialect),
    readLockfile(location.dialect),
  ]);
  const migrationsList = {
    baseDir: join(schemaDir(location.dialect), 'migrations'),
    lockfile: { path: 'migration_lock.toml', content: lockfile },
    shadowDbInitScript: '',
    migrationDirectories: migrations.map(({ name, sql }) => ({
      path: name,
      migrationFile: { path: 'migration.sql', content: { tag: 'ok' as const, value: sql } },
    })),
  };
  if (location.dialect === 'sqlite') mkdirSync(dirname(location.path), { recursive: true });
  try {
    const output = await withSchemaEngine(adapterFactory(location, { max: 1 }), datamodels, (engine) =>
      engine.applyMigrations({ migrationsList, filters: NO_FILTERS }),
    );
    return output.appliedMigrationNames;
  } catch (error) {
    throw migrationError(error, location);
  }
}

function migrationError(error: unknown, location: DatabaseLocation): PresenceError {
  if (error instanceof PresenceError) return error;
  const code = (error as { code?: unknown })?.code;
  // The engine's span trace stays in `cause` (printed with DEBUG), out of the message.
  const raw = withoutTrace(error instanceof Error ? error.message : String(error));
  // The WASM engine cannot name the driver's busy timeout; say what it means.
  const message = raw.includes('unknown variant `SocketTimeout`')
    ? 'the database stayed locked by another connection until the busy timeout (5 s) ran out; retry when it is free'
    : raw;
  const prefix = `Migrating ${redactPasswords(location.url)} failed`;
  return new PresenceError('MIGRATION_FAILED', `${prefix}${typeof code === 'string' ? ` (${code})` : ''}: ${message}`, { cause: error });
}
