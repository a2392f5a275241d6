import { existsSync } from 'node:fs';
import { Database } from '../database/client.js';
import { openConnection } from '../database/open.js';
import { sql } from '../database/sql.js';
import type { DatabaseLocation } from '../database/url.js';
import { PresenceError } from '../errors.js';
import { readBundledMigrations } from './bundled.js';

/** Which bundled migrations a database has. */
export interface MigrationStatus {
  /** Applied successfully, in order. */
  applied: string[];
  /** Not applied yet: `presence-admin migrate` would apply these. */
  pending: string[];
  /** Started but failed; `migrate` refuses to run until they are resolved (Prisma's P3009). */
  failed: string[];
}

interface HistoryRow {
  migration_name: string;
  finished_at: unknown;
  rolled_back_at: unknown;
}

/** Compares the bundled migrations with the database's `_prisma_migrations` history. Writes nothing. */
export async function readMigrationStatus(location: DatabaseLocation): Promise<MigrationStatus> {
  const bundled = (await readBundledMigrations(location.dialect)).map((migration) => migration.name);
  const history = await readHistory(location);
  const applied = new Set(history.filter((row) => row.finished_at !== null && row.rolled_back_at === null).map((row) => row.migration_name));
  const failed = new Set(history.filter((row) => row.finished_at === null && row.rolled_back_at === null).map((row) => row.migration_name));
  return {
    applied: bundled.filter((name) => applied.has(name)),
    pending: bundled.filter((name) => !applied.has(name) && !failed.has(name)),
    failed: bundled.filter((name) => failed.has(name)),
  };
}

async function readHistory(location: DatabaseLocation): Promise<HistoryRow[]> {
  if (location.dialect === 'sqlite' && !existsSync(location.path)) return [];
  const db = new Database(openConnection(location, { max: 1 }), location.dialect);
  try {
    return await db.query<HistoryRow>(sql`SELECT "migration_name", "finished_at", "rolled_back_at" FROM "_prisma_migrations"`);
  } catch (error) {
    if (error instanceof PresenceError && error.code === 'MIGRATION_REQUIRED') return [];
    throw error;
  } finally {
    await db.close();
  }
}
