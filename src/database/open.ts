import { existsSync } from 'node:fs';
import { PrismaPg } from '@prisma/adapter-pg';
import type { SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import { PresenceError } from '../errors.js';
import { adapterConnection, type Connection } from './connections.js';
import { renamer } from './database.js';
import { sqliteConnection } from './sqlite.js';
import type { DatabaseLocation } from './url.js';
import type { PoolOptions, TableNames } from '../types.js';

/** Prisma's PostgreSQL driver adapter for the location. */
function postgresAdapter(location: DatabaseLocation, pool: PoolOptions = {}): SqlMigrationAwareDriverAdapterFactory {
  return new PrismaPg({
    connectionString: location.url,
    max: pool.max ?? 10,
    connectionTimeoutMillis: pool.connectTimeout ?? 5000,
    idleTimeoutMillis: pool.idleTimeout ?? 10000,
  });
}

/**
 * Opens prisma-presence's own connection: a better-sqlite3 handle, or Prisma's driver
 * adapter for PostgreSQL.
 * A SQLite file must already exist (migrate creates it), so a mistyped path fails
 * instead of leaving an empty database behind.
 */
export function openConnection(location: DatabaseLocation, pool?: PoolOptions, tables: TableNames = {}): Connection {
  if (location.dialect === 'sqlite' && !existsSync(location.path)) {
    throw new PresenceError(
      'MIGRATION_REQUIRED',
      `SQLite database ${location.path} does not exist: run \`npx presence-admin migrate --database-url ${location.url}\` to create it`,
    );
  }
  return location.dialect === 'sqlite' ? sqliteConnection(location.path, renamer(tables)) : adapterConnection(postgresAdapter(location, pool));
}
