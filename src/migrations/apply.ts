import { createHash, randomUUID } from 'node:crypto';
import { sql } from '../database/sql.js';
import type { DatabaseLocation, Dialect } from '../database/url.js';
import { lastLine, PresenceError, redactPasswords, withoutTrace } from '../errors.js';
import { readBundledMigrations, type BundledMigration } from './bundled.js';
import { describeDriverError } from '../database/errors.js';
import { openMigrationConnection, type MigrationConnection } from './connection.js';
import { readHistory, foreignMigrations, HISTORY_TABLE, type HistoryRow } from './history.js';
import { expectedShapes, readShape, shapeDifferences, tableNames, tablesTouchedBy, type Shape } from './shape.js';

/** The `_prisma_migrations` table exactly as Prisma's schema engine creates it. */
const CREATE_HISTORY: Record<Dialect, string> = {
  sqlite: `CREATE TABLE "_prisma_migrations" (
    "id"                    TEXT PRIMARY KEY NOT NULL,
    "checksum"              TEXT NOT NULL,
    "finished_at"           DATETIME,
    "migration_name"        TEXT NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        DATETIME,
    "started_at"            DATETIME NOT NULL DEFAULT current_timestamp,
    "applied_steps_count"   INTEGER UNSIGNED NOT NULL DEFAULT 0
)`,
  postgresql: `CREATE TABLE "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`,
};

type Step = { kind: 'done' } | { kind: 'applied'; name: string } | { kind: 'progressed' };

/**
 * Applies the bundled migrations that the database lacks, recording them in
 * `_prisma_migrations` as `prisma migrate deploy` does (same table, rows and checksums).
 * Each migration runs in one transaction together with its history row and under the
 * migration lock, so an interruption leaves the database before or after it, and a
 * concurrent `migrate` waits and then finds nothing to do. An unfinished or failed row
 * left by an earlier tool is repaired first when the schema proves where it stopped.
 * Returns the names of the migrations it applied.
 */
export async function applyMigrations(location: DatabaseLocation): Promise<string[]> {
  let db: MigrationConnection | undefined;
  try {
    const migrations = await readBundledMigrations(location.dialect);
    const connection = (db = await openMigrationConnection(location, true));
    const applied: string[] = [];
    let expected: Promise<Shape[]> | undefined;
    const shapes = () => (expected ??= expectedShapes(migrations, connection));
    return await connection.exclusive(async () => {
      for (;;) {
        const step = await connection.step(() => nextStep(connection, migrations, shapes));
        if (step.kind === 'done') return applied;
        if (step.kind === 'applied') applied.push(step.name);
      }
    });
  } catch (error) {
    throw migrationError(error, location);
  } finally {
    await db?.close();
  }
}

/** One step towards an up-to-date database, decided and done atomically under the lock. */
async function nextStep(db: MigrationConnection, migrations: BundledMigration[], shapes: () => Promise<Shape[]>): Promise<Step> {
  const tables = await tableNames(db);
  if (!tables.includes(HISTORY_TABLE)) {
    if (tables.length > 0) throw notEmpty(tables, migrations);
    await db.script(CREATE_HISTORY[db.dialect]);
    return { kind: 'progressed' };
  }
  const history = await readHistory(db);
  const foreign = foreignMigrations(history, migrations);
  if (foreign.length > 0) throw historyOwnedByApp(foreign);
  const open = history.find((row) => row.finished_at === null && row.rolled_back_at === null);
  if (open) {
    await repair(db, migrations, await shapes(), open);
    return { kind: 'progressed' };
  }
  const done = new Set(history.filter((row) => row.rolled_back_at === null).map((row) => row.migration_name));
  const next = migrations.find((migration) => !done.has(migration.name));
  if (!next) return { kind: 'done' };
  await applyOne(db, next);
  return { kind: 'applied', name: next.name };
}

async function applyOne(db: MigrationConnection, migration: BundledMigration): Promise<void> {
  const startedAt = new Date();
  try {
    await db.script(migration.sql);
    if (db.dialect === 'sqlite') await checkForeignKeys(db);
  } catch (error) {
    const reason = lastLine(error);
    throw new PresenceError('MIGRATION_FAILED', `migration ${migration.name} failed and was rolled back, the database is as before it: ${reason}`, { cause: error });
  }
  await recordFinished(db, migration, startedAt, 1);
}

/** SQLite migrations run with foreign keys off (table rebuilds need it): check them before committing. */
async function checkForeignKeys(db: MigrationConnection): Promise<void> {
  const violations = await db.query<{ table: string; rowid: number; parent: string }>(sql`PRAGMA foreign_key_check`);
  if (violations.length > 0) {
    const first = violations[0]!;
    throw new Error(`it would leave ${violations.length} rows with a dangling foreign key (first: ${first.table} rowid ${first.rowid} -> ${first.parent})`);
  }
}

function recordFinished(db: MigrationConnection, migration: BundledMigration, startedAt: Date, steps: number): Promise<unknown> {
  const checksum = createHash('sha256').update(migration.sql).digest('hex');
  return db.query(sql`
    INSERT INTO "_prisma_migrations" ("id", "checksum", "finished_at", "migration_name", "logs", "rolled_back_at", "started_at", "applied_steps_count")
    VALUES (${randomUUID()}, ${checksum}, ${new Date()}, ${migration.name}, ${null}, ${null}, ${startedAt}, ${steps})`);
}

/**
 * An unfinished or failed row (a killed or failed `prisma migrate deploy`, or an earlier
 * presence-admin, which ran scripts statement by statement), repaired only where the
 * schema proves the way:
 * - exactly as before the migration: the row is marked rolled back (as `prisma migrate
 *   resolve --rolled-back` does) and the next step applies the migration again;
 * - as before plus scratch tables of the migration (`new_Presence` of a SQLite table
 *   rebuild that stopped before dropping the original): those copies are dropped, then as above;
 * - exactly as after it, or as after it but for indexes the migration creates (a rebuild
 *   that stopped after its rename): the missing indexes are created and the migration is
 *   recorded as applied (as `--applied` does).
 * Anything else is refused, naming what differs.
 */
async function repair(db: MigrationConnection, migrations: BundledMigration[], shapes: Shape[], row: HistoryRow): Promise<void> {
  const index = migrations.findIndex((migration) => migration.name === row.migration_name);
  const migration = migrations[index]!;
  const [before, after] = [shapes[index]!, shapes[index + 1]!];
  const tables = [...tablesTouchedBy(migrations), ...shapes.flatMap((shape) => [...shape.keys()])];
  let live = await readShape(db, tables);
  const scratch = [...live.keys()].filter((table) => tablesTouchedBy([migration]).has(table) && !before.has(table) && !after.has(table));
  if (scratch.length > 0 && shapeDifferences(withoutTables(live, scratch), before).length === 0) {
    for (const table of scratch) await db.script(`DROP TABLE "${table}"`);
    live = await readShape(db, tables);
  }
  if (shapeDifferences(live, before).length === 0) {
    await markRolledBack(db, row);
    return;
  }
  const missing = shapeDifferences(live, after);
  if (missing.length > 0 && missing.every((difference) => /^index \S+ .* is missing$/.test(difference))) {
    for (const statement of indexStatements(migration.sql)) await db.script(statement);
    live = await readShape(db, tables);
  }
  const remaining = shapeDifferences(live, after);
  if (remaining.length > 0) throw partlyApplied(row.migration_name, db.dialect, shapeDifferences(live, before));
  await markRolledBack(db, row);
  await recordFinished(db, migration, new Date(), 0);
}

function markRolledBack(db: MigrationConnection, row: HistoryRow): Promise<unknown> {
  return db.query(sql`UPDATE "_prisma_migrations" SET "rolled_back_at" = ${new Date()} WHERE "id" = ${row.id}`);
}

function withoutTables(shape: Shape, tables: string[]): Shape {
  return new Map([...shape].filter(([table]) => !tables.includes(table)));
}

/** The migration's CREATE INDEX statements, made idempotent. */
function indexStatements(script: string): string[] {
  return [...script.matchAll(/CREATE (UNIQUE )?INDEX ("[^"]+") ON ([^;]+);/g)].map(([, unique, name, rest]) => `CREATE ${unique ?? ''}INDEX IF NOT EXISTS ${name} ON ${rest}`);
}

function partlyApplied(name: string, dialect: Dialect, differences: string[]): PresenceError {
  return new PresenceError(
    'MIGRATION_FAILED',
    `migration ${name} was interrupted by an earlier tool and left the tables half changed (${differences.slice(0, 3).join('; ')}${differences.length > 3 ? `; ${differences.length - 3} more` : ''}): ` +
      `restore the database from a backup, or finish node_modules/prisma-presence/prisma/${dialect}/migrations/${name}/migration.sql by hand, then run \`npx presence-admin migrate\` again`,
  );
}

function notEmpty(tables: string[], migrations: BundledMigration[]): PresenceError {
  const ours = tablesTouchedBy(migrations);
  const presenceTables = tables.filter((table) => ours.has(table));
  const why =
    presenceTables.length > 0
      ? `it already has presence tables (${presenceTables.join(', ')}) that presence-admin did not create: if your own migrations made them, keep migrating them with Prisma and check them with \`npx presence-admin status\``
      : `it has tables (${tables.slice(0, 5).join(', ')}${tables.length > 5 ? ', ...' : ''}) and no _prisma_migrations history: give presence its own database, or paste models.prisma into your Prisma schema and migrate with Prisma (README, "Migrations: two ways")`;
  return new PresenceError('MIGRATION_FAILED', `(P3005) The database schema is not empty: ${why}`);
}

function historyOwnedByApp(foreign: string[]): PresenceError {
  return new PresenceError(
    'MIGRATION_FAILED',
    `the _prisma_migrations history belongs to your application's own migrations (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', ...' : ''}), ` +
      'or to a newer prisma-presence, so presence-admin migrate writes nothing here: migrate the presence tables with your own Prisma ' +
      '(`prisma migrate deploy`) and check them with `npx presence-admin status`',
  );
}

function migrationError(error: unknown, location: DatabaseLocation): PresenceError {
  if (error instanceof PresenceError && error.code !== 'MIGRATION_FAILED') return error;
  const raw = withoutTrace(error instanceof Error ? error.message : String(error)).trim();
  return new PresenceError('MIGRATION_FAILED', `Migrating ${redactPasswords(location.url)} failed: ${describeDriverError(error) ?? raw}`, { cause: error });
}
