// PostgreSQL: `migrate` meets a full disk half-way through a migration that rewrites its
// tables (bigint_ids over 100,000 presences), on a tablespace that lives on a small
// tmpfs. The migration's transaction rolls back: the database stays as before it, and
// once there is room a re-run finishes.
import { execFileSync } from 'node:child_process';
import { chmodSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../src/index.ts';
import { readBundledMigrations } from '../src/migrations/bundled.ts';
import { testEngines } from './support/databases.ts';
import { createDatabase, startPostgresServer, type PostgresServer } from './support/postgresServer.ts';
import { prismaDeploy } from './support/prismaEngine.ts';
import { rejection } from './support/rejection.ts';
import { scratchDir } from './support/scratch.ts';

// Mounting the tmpfs takes root (CI runs as root); elsewhere this file runs nothing.
describe.runIf(testEngines().includes('postgresql') && process.getuid?.() === 0)('migrate on PostgreSQL when the disk fills up (a tablespace on a small tmpfs)', () => {
  let server: PostgresServer;
  let mountPoint: string | undefined;
  beforeAll(async () => {
    server = await startPostgresServer();
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    if (mountPoint) execFileSync('umount', [mountPoint]);
  });

  async function query<T>(url: string, text: string): Promise<T[]> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query(text)).rows as T[];
    } finally {
      await client.end();
    }
  }

  it('fails with the disk-full reason, leaves the database as before the migration, and a re-run finishes once there is room', async () => {
    const names = (await readBundledMigrations('postgresql')).map((migration) => migration.name);
    const bigint = names.find((name) => name.endsWith('_bigint_ids'))!;
    const dir = scratchDir('pg-full-disk');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256m', 'tmpfs', dir]);
    mountPoint = dir;
    const owner = statSync(server.dataDir);
    execFileSync('chown', [`${owner.uid}:${owner.gid}`, dir]);
    chmodSync(dirname(dir), 0o711); // the server's user must reach the folder through this run's scratch root
    await query(server.url, `CREATE TABLESPACE small LOCATION '${dir}'`);
    const url = await createDatabase(server.url, 'full');
    await query(url, 'ALTER DATABASE "full" SET default_tablespace = small');

    await prismaDeploy(url, names.indexOf(bigint));
    await query(
      url,
      `INSERT INTO "Room" ("channelName") SELECT 'room.' || i FROM generate_series(1, 20000) i;
       INSERT INTO "Presence" ("roomId", "channelName", "userId", "lastSeen")
       SELECT r."id", r."channelName" || '.c' || k, 'u' || k, now() FROM "Room" r, generate_series(1, 5) k`,
    );
    const used = Number((await query<{ bytes: string }>(url, `SELECT pg_tablespace_size('small') AS bytes`))[0]!.bytes);
    // Room for what is there and a little more, but not for a rewritten copy of the tables.
    execFileSync('mount', ['-o', `remount,size=${Math.ceil(used / 1024) + 2048}k`, dir]);
    const columnTypes = () =>
      query<{ type: string }>(url, `SELECT data_type AS type FROM information_schema.columns WHERE table_name = 'Presence' AND column_name IN ('id', 'roomId') ORDER BY column_name`);
    const history = () => query<{ name: string }>(url, `SELECT migration_name AS name FROM "_prisma_migrations" ORDER BY migration_name`);

    const error = await rejection(migrate({ databaseUrl: url }));
    expect(error.code).toBe('MIGRATION_FAILED');
    expect(error.message).toMatch(/space left on device|could not extend/i);
    expect(error.message).not.toContain('\n');
    expect(await columnTypes()).toEqual([{ type: 'integer' }, { type: 'integer' }]);
    expect((await history()).map((row) => row.name)).toEqual(names.slice(0, names.indexOf(bigint)));
    expect(await query(url, 'SELECT count(*)::int AS n FROM "Presence"')).toEqual([{ n: 100_000 }]);

    execFileSync('mount', ['-o', 'remount,size=256m', dir]);
    expect(await migrate({ databaseUrl: url })).toEqual(names.slice(names.indexOf(bigint)));
    expect(await migrate({ databaseUrl: url })).toEqual([]);
    expect(await columnTypes()).toEqual([{ type: 'bigint' }, { type: 'bigint' }]);
    expect(await query(url, 'SELECT count(*)::int AS n FROM "Presence"')).toEqual([{ n: 100_000 }]);
  }, 120_000);
});
