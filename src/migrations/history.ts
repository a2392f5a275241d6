import { sql } from '../database/sql.js';
import type { BundledMigration } from './bundled.js';
import type { MigrationConnection } from './connection.js';

export const HISTORY_TABLE = '_prisma_migrations';

/** One row of `_prisma_migrations`, as far as deciding what to do needs it. */
export interface HistoryRow {
  id: string;
  migration_name: string;
  finished_at: unknown;
  rolled_back_at: unknown;
}

/** The rows of `_prisma_migrations`, oldest first. */
export function readHistory(db: Pick<MigrationConnection, 'query'>): Promise<HistoryRow[]> {
  return db.query<HistoryRow>(sql`SELECT "id", "migration_name", "finished_at", "rolled_back_at" FROM "_prisma_migrations" ORDER BY "started_at", "migration_name"`);
}

/** Names in the history that prisma-presence does not ship: the history is the application's. */
export function foreignMigrations(history: HistoryRow[], migrations: BundledMigration[]): string[] {
  const ours = new Set(migrations.map((migration) => migration.name));
  return [...new Set(history.map((row) => row.migration_name).filter((name) => !ours.has(name)))];
}
