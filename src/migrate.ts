import { parseDatabaseUrl } from './database/url.js';
import { applyMigrations } from './migrations/apply.js';
import { readMigrationStatus } from './migrations/status.js';
import { resolveDatabaseUrl } from './options.js';
import type { MigrateOptions, MigrationStatus } from './types.js';

/**
 * Creates or updates the presence tables by applying the bundled migrations that the
 * database lacks (what `presence-admin migrate` runs), each in one transaction with its
 * history row; repairs a migration an earlier run left unfinished when the schema proves
 * how; refuses a database whose presence tables come from the application's own
 * migrations. Returns the names it applied; `[]` when the database is up to date.
 */
export async function migrate(options: MigrateOptions = {}): Promise<string[]> {
  return applyMigrations(parseDatabaseUrl(resolveDatabaseUrl(options.databaseUrl)));
}

/**
 * Tells which bundled migrations the database has applied, which are pending and
 * which failed, or, when the application's own migrations made the presence tables,
 * what those tables lack (what `presence-admin status` prints). Writes nothing.
 */
export async function migrationStatus(options: MigrateOptions = {}): Promise<MigrationStatus> {
  return readMigrationStatus(parseDatabaseUrl(resolveDatabaseUrl(options.databaseUrl)));
}
