// Raw-driver views of a database's schema for the migration tests: tables, columns,
// indexes and foreign keys as introspected, independent of prisma-presence's own code.
import Database from 'better-sqlite3';
import pg from 'pg';
import { inspect, type Engine, type Inspector } from './databases.ts';

export async function withInspector<T>(url: string, work: (db: Inspector) => Promise<T>): Promise<T> {
  const db = await inspect(url);
  try {
    return await work(db);
  } finally {
    await db.close();
  }
}

/** The tables of the database, sorted (SQLite's own sqlite_* tables left out). */
export async function tableNames(db: Inspector, engine: Engine): Promise<string[]> {
  const rows =
    engine === 'sqlite'
      ? await db.rows<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")
      : await db.rows<{ name: string }>(
          "SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = current_schema()",
        );
  return rows.map((row) => row.name).sort();
}

interface IndexShape {
  table: string;
  name: string;
  unique: boolean;
  columns: string[];
}

interface ForeignKeyShape {
  table: string;
  columns: string[];
  refTable: string;
  refColumns: string[];
  onDelete: string;
  onUpdate: string;
}

/** What the database holds for `tables`, as introspected: columns, secondary indexes and foreign keys. */
export interface SchemaShape {
  tables: string[];
  /** `Table.column TYPE [NOT NULL] [PRIMARY KEY] [DEFAULT x]`, plus `Table AUTOINCREMENT` on SQLite. */
  columns: string[];
  /** Every index except the primary key's. */
  indexes: IndexShape[];
  foreignKeys: ForeignKeyShape[];
}

const byTableAndName = (a: { table: string; name?: string; columns: string[] }, b: { table: string; name?: string; columns: string[] }) =>
  `${a.table}/${a.name ?? a.columns.join(',')}`.localeCompare(`${b.table}/${b.name ?? b.columns.join(',')}`);

export async function schemaShape(db: Inspector, engine: Engine, tables: string[]): Promise<SchemaShape> {
  return engine === 'sqlite' ? sqliteShape(db, tables) : postgresShape(db, tables);
}

async function sqliteShape(db: Inspector, tables: string[]): Promise<SchemaShape> {
  const shape: SchemaShape = { tables: [...tables].sort(), columns: [], indexes: [], foreignKeys: [] };
  for (const table of shape.tables) {
    const [definition] = await db.rows<{ sql: string }>("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", table);
    if (/\bAUTOINCREMENT\b/i.test(definition?.sql ?? '')) shape.columns.push(`${table} AUTOINCREMENT`);
    const columns = await db.rows<{ name: string; type: string; notnull: number; dflt_value: string | null; pk: number }>(
      'SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?)',
      table,
    );
    for (const column of columns) shape.columns.push(columnText(table, column.name, column.type, !!column.notnull, column.pk > 0, column.dflt_value));
    const indexes = await db.rows<{ name: string; unique: number; origin: string }>('SELECT name, "unique", origin FROM pragma_index_list(?)', table);
    for (const index of indexes.filter((index) => index.origin !== 'pk')) {
      const columns = await db.rows<{ name: string }>('SELECT name FROM pragma_index_info(?) ORDER BY seqno', index.name);
      shape.indexes.push({ table, name: index.name, unique: !!index.unique, columns: columns.map((column) => column.name) });
    }
    const references = await db.rows<{ id: number; table: string; from: string; to: string; on_update: string; on_delete: string }>(
      'SELECT id, "table", "from", "to", on_update, on_delete FROM pragma_foreign_key_list(?) ORDER BY id, seq',
      table,
    );
    for (const id of [...new Set(references.map((reference) => reference.id))]) {
      const parts = references.filter((reference) => reference.id === id);
      shape.foreignKeys.push({
        table,
        columns: parts.map((part) => part.from),
        refTable: parts[0]!.table,
        refColumns: parts.map((part) => part.to),
        onDelete: parts[0]!.on_delete,
        onUpdate: parts[0]!.on_update,
      });
    }
  }
  shape.columns.sort();
  shape.indexes.sort(byTableAndName);
  shape.foreignKeys.sort(byTableAndName);
  return shape;
}

const PG_ACTIONS = "CASE %s WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL' WHEN 'd' THEN 'SET DEFAULT' END";
const pgColumnNames = (table: string, keys: string) =>
  `array(SELECT a.attname::text FROM unnest(${keys}) WITH ORDINALITY k(num, ord) JOIN pg_attribute a ON a.attrelid = ${table} AND a.attnum = k.num ORDER BY k.ord)`;

async function postgresShape(db: Inspector, tables: string[]): Promise<SchemaShape> {
  const wanted = new Set(tables);
  const inScope = "n.nspname = current_schema()";
  const columns = await db.rows<{ table: string; name: string; type: string; notNull: boolean; primaryKey: boolean; default: string | null }>(`
    SELECT c.relname AS "table", a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS "notNull",
      EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary AND a.attnum = ANY (i.indkey)) AS "primaryKey",
      pg_get_expr(d.adbin, d.adrelid) AS "default"
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE ${inScope} AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped`);
  const indexes = await db.rows<IndexShape>(`
    SELECT t.relname AS "table", i.relname AS name, x.indisunique AS "unique", ${pgColumnNames('t.oid', 'x.indkey')} AS columns
    FROM pg_index x
    JOIN pg_class t ON t.oid = x.indrelid
    JOIN pg_class i ON i.oid = x.indexrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    WHERE ${inScope} AND NOT x.indisprimary`);
  const foreignKeys = await db.rows<ForeignKeyShape>(`
    SELECT t.relname AS "table", ${pgColumnNames('c.conrelid', 'c.conkey')} AS columns,
      r.relname AS "refTable", ${pgColumnNames('c.confrelid', 'c.confkey')} AS "refColumns",
      ${PG_ACTIONS.replace('%s', 'c.confdeltype')} AS "onDelete", ${PG_ACTIONS.replace('%s', 'c.confupdtype')} AS "onUpdate"
    FROM pg_constraint c
    JOIN pg_class t ON t.oid = c.conrelid
    JOIN pg_class r ON r.oid = c.confrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    WHERE ${inScope} AND c.contype = 'f'`);
  return {
    tables: [...tables].sort(),
    columns: columns
      .filter((column) => wanted.has(column.table))
      .map((column) => columnText(column.table, column.name, column.type, column.notNull, column.primaryKey, column.default))
      .sort(),
    indexes: indexes.filter((index) => wanted.has(index.table)).sort(byTableAndName),
    foreignKeys: foreignKeys.filter((key) => wanted.has(key.table)).sort(byTableAndName),
  };
}

function columnText(table: string, name: string, type: string, notNull: boolean, primaryKey: boolean, defaultValue: string | null): string {
  return [`${table}.${name} ${type}`, notNull && 'NOT NULL', primaryKey && 'PRIMARY KEY', defaultValue !== null && `DEFAULT ${defaultValue}`]
    .filter(Boolean)
    .join(' ');
}

export const PRESENCE_TABLES = ['Presence', 'PresenceEvent', 'PresenceServer', 'Room'];

/** Everything a later `migrate` could change: the presence tables and the migration history. */
export async function databaseState(url: string, engine: Engine) {
  return withInspector(url, async (db) => ({
    tables: await tableNames(db, engine),
    shape: await schemaShape(db, engine, [...PRESENCE_TABLES, '_prisma_migrations']),
    history: await db.rows('SELECT * FROM "_prisma_migrations" ORDER BY migration_name'),
  }));
}


/** Runs a multi-statement SQL script on the database. */
export async function runScript(url: string, script: string): Promise<void> {
  if (url.startsWith('file:')) {
    const db = new Database(url.slice('file:'.length));
    try {
      db.exec(script);
    } finally {
      db.close();
    }
    return;
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(script);
  } finally {
    await client.end();
  }
}

