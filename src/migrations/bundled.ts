import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Dialect } from '../database/url.js';

/** The package's `prisma/` folder, from `src/migrations` and from `dist/migrations` alike. */
export const PRISMA_DIR = fileURLToPath(new URL('../../prisma/', import.meta.url));

export interface BundledMigration {
  name: string;
  sql: string;
}

/** The folder holding one provider's schema (schema.prisma, models.prisma) and migrations. */
export function schemaDir(dialect: Dialect): string {
  return join(PRISMA_DIR, dialect);
}


/** The provider's migrations in the order they apply (their folder names start with a timestamp). */
export async function readBundledMigrations(dialect: Dialect): Promise<BundledMigration[]> {
  const dir = join(schemaDir(dialect), 'migrations');
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort();
  return Promise.all(names.map(async (name) => ({ name, sql: await readFile(join(dir, name, 'migration.sql'), 'utf8') })));
}
