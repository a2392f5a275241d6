import { existsSync } from 'node:fs';
import type { DatabaseLocation } from '../database/url.js';
import { readBundledMigrations } from './bundled.js';
import { PresenceError } from '../errors.js';
import { describeDriverError } from '../database/errors.js';
import { openMigrationConnection } from './connection.js';
import { foreignMigrations, HISTORY_TABLE, readHistory, type HistoryRow } from './history.js';
import { expectedShapes, missingFrom, readShape, tableNames, tablesTouchedBy } from './shape.js';
import type { MigrationStatus } from '../types.js';

/** Compares the bundled migrations with the database's history, or the app-owned tables with the shipped schema. Writes nothing. */
export async function readMigrationStatus(location: DatabaseLocation): Promise<MigrationStatus> {
  const migrations = await readBundledMigrations(location.dialect);
  const bundled = migrations.map((migration) => migration.name);
  if (location.dialect === 'sqlite' && !existsSync(location.path)) return libraryStatus(bundled, []);
  const db = await openMigrationConnection(location, false).catch((error: unknown) => {
    const reason = describeDriverError(error);
    throw reason ? new PresenceError('DATABASE_UNAVAILABLE', `Cannot use the database: ${reason}`, { cause: error }) : error;
  });
  try {
    const tables = await tableNames(db);
    const history = tables.includes(HISTORY_TABLE) ? await readHistory(db) : [];
    const ours = tablesTouchedBy(migrations);
    const hasPresenceTables = tables.some((table) => ours.has(table));
    const appOwned = foreignMigrations(history, migrations).length > 0 || (!tables.includes(HISTORY_TABLE) && hasPresenceTables);
    if (!appOwned) return libraryStatus(bundled, history);
    const expected = (await expectedShapes(migrations, db)).at(-1)!;
    return { owner: 'application', applied: [], pending: [], failed: [], differences: missingFrom(await readShape(db, expected.keys()), expected) };
  } finally {
    await db.close();
  }
}

function libraryStatus(bundled: string[], history: HistoryRow[]): MigrationStatus {
  const applied = new Set(history.filter((row) => row.finished_at !== null && row.rolled_back_at === null).map((row) => row.migration_name));
  const failed = new Set(history.filter((row) => row.finished_at === null && row.rolled_back_at === null).map((row) => row.migration_name));
  return {
    owner: 'prisma-presence',
    applied: bundled.filter((name) => applied.has(name)),
    pending: bundled.filter((name) => !applied.has(name) && !failed.has(name)),
    failed: bundled.filter((name) => failed.has(name)),
    differences: [],
  };
}
