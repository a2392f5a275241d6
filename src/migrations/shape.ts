// What a database holds for a set of tables (columns, indexes, foreign keys), as sorted
// lines of text, so that two states compare with `===` and differ line by line. Used to
// prove where an interrupted migration left the schema, and to check tables that an
// application created with its own migrations.
import BetterSqlite3 from 'better-sqlite3';
import { fragment, list, sql } from '../database/sql.js';
import type { BundledMigration } from './bundled.js';
import type { MigrationConnection } from './connection.js';

export interface TableShape {
  /** Column name -> `TYPE [NOT NULL] [PRIMARY KEY] [DEFAULT x]`. */
  columns: Map<string, string>;
  /** `[UNIQUE ](col, col)` of every index but the primary key's. */
  indexes: Set<string>;
  /** `(col) -> Table(col) ON DELETE x ON UPDATE y`. */
  foreignKeys: Set<string>;
  /** Table-level traits (SQLite's AUTOINCREMENT). */
  traits: Set<string>;
}

export type Shape = Map<string, TableShape>;

type Runner = Pick<MigrationConnection, 'query' | 'dialect'>;

/** The tables of the current schema (SQLite's own and the migration history left out). */
export async function tableNames(db: Runner): Promise<string[]> {
  const rows =
    db.dialect === 'sqlite'
      ? await db.query<{ name: string }>(sql`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite!_%' ESCAPE '!'`)
      : await db.query<{ name: string }>(sql`SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema()`);
  return rows.map((row) => row.name).sort();
}

/** The shape of those of `tables` that exist. */
export async function readShape(db: Runner, tables: Iterable<string>): Promise<Shape> {
  const wanted = [...new Set(tables)].sort();
  const existing = new Set(await tableNames(db));
  const shape: Shape = new Map();
  for (const table of wanted.filter((name) => existing.has(name))) shape.set(table, { columns: new Map(), indexes: new Set(), foreignKeys: new Set(), traits: new Set() });
  if (shape.size === 0) return shape;
  if (db.dialect === 'sqlite') await readSqliteShape(db, shape);
  else await readPostgresShape(db, shape);
  return shape;
}

async function readSqliteShape(db: Runner, shape: Shape): Promise<void> {
  for (const [table, target] of shape) {
    const [definition] = await db.query<{ sql: string }>(sql`SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ${table}`);
    if (/\bAUTOINCREMENT\b/i.test(definition?.sql ?? '')) target.traits.add('AUTOINCREMENT');
    const columns = await db.query<{ name: string; type: string; notnull: number; dflt_value: string | null; pk: number }>(
      sql`SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(${table})`,
    );
    for (const column of columns) target.columns.set(column.name, columnText(column.type, !!column.notnull, column.pk > 0, column.dflt_value));
    const indexes = await db.query<{ name: string; unique: number; origin: string }>(sql`SELECT name, "unique", origin FROM pragma_index_list(${table})`);
    for (const index of indexes.filter((each) => each.origin !== 'pk')) {
      const parts = await db.query<{ name: string }>(sql`SELECT name FROM pragma_index_info(${index.name}) ORDER BY seqno`);
      target.indexes.add(indexText(!!index.unique, parts.map((part) => part.name)));
    }
    const references = await db.query<{ id: number; table: string; from: string; to: string; on_update: string; on_delete: string }>(
      sql`SELECT id, "table", "from", "to", on_update, on_delete FROM pragma_foreign_key_list(${table}) ORDER BY id, seq`,
    );
    for (const id of new Set(references.map((reference) => reference.id))) {
      const parts = references.filter((reference) => reference.id === id);
      target.foreignKeys.add(foreignKeyText(parts.map((p) => p.from), parts[0]!.table, parts.map((p) => p.to), parts[0]!.on_delete, parts[0]!.on_update));
    }
  }
}

const PG_ACTION = (column: string) =>
  fragment(`CASE ${column} WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL' WHEN 'd' THEN 'SET DEFAULT' END`);
const PG_COLUMNS = (table: string, keys: string) =>
  fragment(`array(SELECT a.attname::text FROM unnest(${keys}) WITH ORDINALITY k(num, ord) JOIN pg_attribute a ON a.attrelid = ${table} AND a.attnum = k.num ORDER BY k.ord)`);

async function readPostgresShape(db: Runner, shape: Shape): Promise<void> {
  const tables = list([...shape.keys()]);
  const columns = await db.query<{ table: string; name: string; type: string; notNull: boolean; primaryKey: boolean; default: string | null }>(sql`
    SELECT c.relname AS "table", a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS "notNull",
      EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary AND a.attnum = ANY (i.indkey)) AS "primaryKey",
      pg_get_expr(d.adbin, d.adrelid) AS "default"
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE n.nspname = current_schema() AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped AND c.relname IN (${tables})
    ORDER BY a.attnum`);
  for (const column of columns) shape.get(column.table)!.columns.set(column.name, columnText(column.type, column.notNull, column.primaryKey, column.default));
  const indexes = await db.query<{ table: string; unique: boolean; columns: string[] }>(sql`
    SELECT t.relname AS "table", x.indisunique AS "unique", ${PG_COLUMNS('t.oid', 'x.indkey')} AS columns
    FROM pg_index x
    JOIN pg_class t ON t.oid = x.indrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    WHERE n.nspname = current_schema() AND NOT x.indisprimary AND t.relname IN (${tables})`);
  for (const index of indexes) shape.get(index.table)!.indexes.add(indexText(index.unique, index.columns));
  const foreignKeys = await db.query<{ table: string; columns: string[]; refTable: string; refColumns: string[]; onDelete: string; onUpdate: string }>(sql`
    SELECT t.relname AS "table", ${PG_COLUMNS('c.conrelid', 'c.conkey')} AS columns,
      r.relname AS "refTable", ${PG_COLUMNS('c.confrelid', 'c.confkey')} AS "refColumns",
      ${PG_ACTION('c.confdeltype')} AS "onDelete", ${PG_ACTION('c.confupdtype')} AS "onUpdate"
    FROM pg_constraint c
    JOIN pg_class t ON t.oid = c.conrelid
    JOIN pg_class r ON r.oid = c.confrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    WHERE n.nspname = current_schema() AND c.contype = 'f' AND t.relname IN (${tables})`);
  for (const key of foreignKeys) {
    shape.get(key.table)!.foreignKeys.add(foreignKeyText(key.columns, key.refTable, key.refColumns, key.onDelete, key.onUpdate));
  }
}

function columnText(type: string, notNull: boolean, primaryKey: boolean, defaultValue: string | null): string {
  return [type, notNull && 'NOT NULL', primaryKey && 'PRIMARY KEY', defaultValue !== null && `DEFAULT ${defaultValue}`].filter(Boolean).join(' ');
}

function indexText(unique: boolean, columns: string[]): string {
  return `${unique ? 'UNIQUE ' : ''}(${columns.join(', ')})`;
}

function foreignKeyText(columns: string[], refTable: string, refColumns: string[], onDelete: string, onUpdate: string): string {
  return `(${columns.join(', ')}) -> ${refTable}(${refColumns.join(', ')}) ON DELETE ${onDelete} ON UPDATE ${onUpdate}`;
}

/** Every difference between two shapes, one line each; empty when they are the same. */
export function shapeDifferences(actual: Shape, expected: Shape): string[] {
  const differences: string[] = [];
  for (const name of [...new Set([...actual.keys(), ...expected.keys()])].sort()) {
    const have = actual.get(name);
    const want = expected.get(name);
    if (!have) differences.push(`table ${name} is missing`);
    else if (!want) differences.push(`table ${name} should not exist`);
    else differences.push(...tableDifferences(name, have, want, true));
  }
  return differences;
}

/**
 * What keeps `actual` from serving as `expected` for prisma-presence: missing tables,
 * columns, indexes and foreign keys, different column types, and extra columns that
 * inserts would have to fill. Extra tables, nullable columns and plain indexes are fine.
 */
export function missingFrom(actual: Shape, expected: Shape): string[] {
  const differences: string[] = [];
  for (const [name, want] of expected) {
    const have = actual.get(name);
    if (!have) differences.push(`table ${name} is missing`);
    else differences.push(...tableDifferences(name, have, want, false));
  }
  return differences;
}

function tableDifferences(table: string, have: TableShape, want: TableShape, exact: boolean): string[] {
  const differences: string[] = [];
  for (const [column, definition] of want.columns) {
    const found = have.columns.get(column);
    if (found === undefined) differences.push(`column ${table}.${column} is missing (expected ${definition})`);
    else if (found !== definition) differences.push(`column ${table}.${column} is ${found}, expected ${definition}`);
  }
  for (const [column, definition] of have.columns) {
    if (want.columns.has(column)) continue;
    if (exact || (/NOT NULL/.test(definition) && !/DEFAULT/.test(definition))) differences.push(`column ${table}.${column} should not exist (${definition})`);
  }
  const sets = [
    ['index', have.indexes, want.indexes],
    ['foreign key', have.foreignKeys, want.foreignKeys],
    ['', have.traits, want.traits],
  ] as const;
  for (const [kind, found, wanted] of sets) {
    const label = kind ? `${kind} ` : '';
    for (const item of wanted) if (!found.has(item)) differences.push(`${label}${table} ${item} is missing`);
    for (const item of found) {
      const harmful = exact || (kind === 'index' && item.startsWith('UNIQUE')) || kind === 'foreign key';
      if (!wanted.has(item) && harmful) differences.push(`${label}${table} ${item} should not exist`);
    }
  }
  return differences;
}

/** Every table a bundled migration creates or renames to, including the scratch tables of rebuilds. */
export function tablesTouchedBy(migrations: BundledMigration[]): Set<string> {
  const names = new Set<string>();
  for (const { sql: text } of migrations) {
    for (const match of text.matchAll(/\b(?:CREATE TABLE|RENAME TO)\s+(?:IF NOT EXISTS\s+)?(?:"[^"]+"\.)?"([^"]+)"/gi)) names.add(match[1]!);
  }
  return names;
}

/**
 * The shape after each prefix of the bundled migrations: index 0 is the empty schema,
 * index k the schema once the first k migrations ran. Computed by running them in a
 * scratch database (SQLite in memory) or a scratch schema of `db` that is rolled back.
 */
export async function expectedShapes(migrations: BundledMigration[], db: MigrationConnection): Promise<Shape[]> {
  const tables = tablesTouchedBy(migrations);
  if (db.dialect === 'sqlite') {
    const scratch = new BetterSqlite3(':memory:');
    try {
      scratch.pragma('foreign_keys = OFF');
      const runner: Runner = {
        dialect: 'sqlite',
        query: async <T>(statement: ReturnType<typeof sql>) => {
          const { text, values } = statement.render('sqlite');
          return scratch.prepare(text).all(...values) as T[];
        },
      };
      return await shapesAfterEach(runner, tables, migrations, async (text) => void scratch.exec(text));
    } finally {
      scratch.close();
    }
  }
  return db.rolledBack(async () => {
    const schema = `prisma_presence_scratch_${process.pid}_${Date.now()}`;
    await db.script(`CREATE SCHEMA "${schema}"; SET LOCAL search_path TO "${schema}"`);
    return shapesAfterEach(db, tables, migrations, (text) => db.script(text));
  });
}

async function shapesAfterEach(runner: Runner, tables: Set<string>, migrations: BundledMigration[], run: (text: string) => Promise<void>): Promise<Shape[]> {
  const shapes: Shape[] = [await readShape(runner, tables)];
  for (const migration of migrations) {
    await run(migration.sql);
    shapes.push(await readShape(runner, tables));
  }
  return shapes;
}
