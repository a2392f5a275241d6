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

/**
 * PostgreSQL through information_schema and pg_indexes (the library reads pg_catalog):
 * an oracle that shares no query with the code it checks.
 */
async function postgresShape(db: Inspector, tables: string[]): Promise<SchemaShape> {
  const wanted = new Set(tables);
  const columns = await db.rows<{ table: string; name: string; type: string; length: number | null; precision: number | null; nullable: string; default: string | null; primaryKey: boolean }>(`
    SELECT c.table_name AS "table", c.column_name AS name, c.data_type AS type, c.character_maximum_length AS length,
      c.datetime_precision AS precision, c.is_nullable AS nullable, c.column_default AS "default",
      EXISTS (
        SELECT 1 FROM information_schema.table_constraints t
        JOIN information_schema.key_column_usage k USING (constraint_schema, constraint_name)
        WHERE t.constraint_type = 'PRIMARY KEY' AND t.table_schema = c.table_schema AND t.table_name = c.table_name AND k.column_name = c.column_name
      ) AS "primaryKey"
    FROM information_schema.columns c
    WHERE c.table_schema = current_schema()`);
  const primaryKeys = await db.rows<{ name: string }>(`
    SELECT constraint_name AS name FROM information_schema.table_constraints
    WHERE constraint_schema = current_schema() AND constraint_type = 'PRIMARY KEY'`);
  const indexes = await db.rows<{ table: string; name: string; definition: string }>(`
    SELECT tablename AS "table", indexname AS name, indexdef AS definition FROM pg_indexes WHERE schemaname = current_schema()`);
  const references = await db.rows<{ name: string; table: string; column: string; refTable: string; refColumn: string; onDelete: string; onUpdate: string }>(`
    SELECT r.constraint_name AS name, k.table_name AS "table", k.column_name AS "column",
      u.table_name AS "refTable", u.column_name AS "refColumn", r.delete_rule AS "onDelete", r.update_rule AS "onUpdate"
    FROM information_schema.referential_constraints r
    JOIN information_schema.key_column_usage k USING (constraint_schema, constraint_name)
    JOIN information_schema.key_column_usage u
      ON u.constraint_schema = r.unique_constraint_schema AND u.constraint_name = r.unique_constraint_name
      AND u.ordinal_position = k.position_in_unique_constraint
    WHERE r.constraint_schema = current_schema()
    ORDER BY r.constraint_name, k.ordinal_position`);
  const notPrimary = new Set(primaryKeys.map((key) => key.name));
  return {
    tables: [...tables].sort(),
    columns: columns
      .filter((column) => wanted.has(column.table))
      .map((column) => columnText(column.table, column.name, typeText(column), column.nullable === 'NO', column.primaryKey, column.default))
      .sort(),
    indexes: indexes
      .filter((index) => wanted.has(index.table) && !notPrimary.has(index.name))
      .map(({ table, name, definition }) => ({ table, name, unique: definition.startsWith('CREATE UNIQUE'), columns: indexedColumns(definition) }))
      .sort(byTableAndName),
    foreignKeys: [...new Set(references.filter((reference) => wanted.has(reference.table)).map((reference) => reference.name))]
      .map((name) => references.filter((reference) => reference.name === name))
      .map((parts) => ({
        table: parts[0]!.table,
        columns: parts.map((part) => part.column),
        refTable: parts[0]!.refTable,
        refColumns: parts.map((part) => part.refColumn),
        onDelete: parts[0]!.onDelete,
        onUpdate: parts[0]!.onUpdate,
      }))
      .sort(byTableAndName),
  };
}

/** `character varying(36)`, `timestamp(3) without time zone`, `integer`: as PostgreSQL prints them. */
function typeText({ type, length, precision }: { type: string; length: number | null; precision: number | null }): string {
  if (length !== null) return `${type}(${length})`;
  if (type.startsWith('timestamp') && precision !== null && precision !== 6) return type.replace('timestamp', `timestamp(${precision})`);
  return type;
}

/** The columns of `CREATE [UNIQUE] INDEX name ON table USING btree ("a", b)`, unquoted. */
function indexedColumns(definition: string): string[] {
  const list = /\(([^)]*)\)\s*$/.exec(definition)![1]!;
  return list.split(',').map((column) => column.trim().replace(/^"(.*)"$/, '$1'));
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

