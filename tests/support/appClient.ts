// An application-owned PrismaClient: a schema with the application's own User model plus
// the shipped presence models, generated like an application would, and its tables
// created from the SQL Prisma's engine derives for that schema.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { migrationScript } from '../../scripts/schemaEngine.ts';
import type { Engine } from './engines.ts';

const fixture = (engine: Engine) => join('tests', 'fixtures', `app-${engine}`);

export async function generateAppClient(): Promise<void> {
  for (const engine of ['sqlite', 'postgresql'] as const) {
    writeFileSync(join(fixture(engine), 'presence.prisma'), readFileSync(join('prisma', engine, 'models.prisma')));
    execFileSync('npx', ['prisma', 'generate', '--schema', fixture(engine)], {
      stdio: 'ignore',
      env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: 'scripts/schema-engine-stub.sh' },
    });
  }
}

/** Creates the application's tables (User and the presence models) in an empty database. */
export async function createAppTables(engine: Engine, url: string): Promise<void> {
  const files = ['schema.prisma', 'presence.prisma'].map((name) => {
    const path = join(fixture(engine), name);
    return { path, content: readFileSync(path, 'utf8') };
  });
  const stdout = await migrationScript(files);
  if (engine === 'sqlite') {
    const db = new Database(url.slice('file:'.length));
    db.exec(stdout);
    db.close();
  } else {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(stdout);
    await client.end();
  }
}
