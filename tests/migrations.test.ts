// The shipped schema and migrations: the models stay in sync across providers, the
// bundled migrations build exactly what Prisma's engine derives from the models, and
// `migrate` behaves like `prisma migrate deploy`. Every assertion about the database
// goes through the raw drivers (better-sqlite3, pg), never through prisma-presence.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { createPresence, migrate, migrationStatus } from '../src/index.ts';
import { migrationScript } from '../scripts/schemaEngine.ts';
import { modelsFor } from '../scripts/prisma-paths.ts';
import { emptyDatabase, migratedDatabase, testEngines, type Engine } from './support/databases.ts';
import { databaseState, PRESENCE_TABLES, runScript, schemaShape, tableNames, withInspector } from './support/schemaShape.ts';
import { rejection } from './support/rejection.ts';

const PRISMA_DIR = fileURLToPath(new URL('../prisma/', import.meta.url));
const PROVIDERS = ['sqlite', 'postgresql'] as const;

// ---------------------------------------------------------------------------------------
// The shipped files, read straight from disk.

const providerDir = (provider: Engine) => join(PRISMA_DIR, provider);
const migrationsDir = (provider: Engine) => join(providerDir(provider), 'migrations');

/** The provider's migration folders in the order Prisma applies them (by name). */
function migrationNames(provider: Engine): string[] {
  return readdirSync(migrationsDir(provider), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
}

const migrationFile = (provider: Engine, name: string) => readFileSync(join(migrationsDir(provider), name, 'migration.sql'));

/** The provider's schema files as Prisma's engine takes them. */
function schemaFiles(provider: Engine): { path: string; content: string }[] {
  return ['schema.prisma', 'models.prisma'].map((file) => {
    const path = join(providerDir(provider), file);
    return { path, content: readFileSync(path, 'utf8') };
  });
}

/** What `prisma migrate diff --from-empty --to-schema <provider> --script` prints, from the engine itself. */
async function engineScriptFromEmpty(provider: Engine): Promise<string> {
  return migrationScript(schemaFiles(provider));
}

// ---------------------------------------------------------------------------------------
// Raw-driver helpers.

// ---------------------------------------------------------------------------------------

describe('shipped schema files', () => {
  it.each(PROVIDERS)('prisma/%s/models.prisma is prisma/models.prisma as that provider takes it', (provider) => {
    const source = modelsFor(provider, readFileSync(join(PRISMA_DIR, 'models.prisma'), 'utf8'));
    const copy = readFileSync(join(providerDir(provider), 'models.prisma'), 'utf8');
    expect(copy === source, `prisma/${provider}/models.prisma differs from prisma/models.prisma: run \`npm run prisma:generate\``).toBe(true);
  });

  it('keeps 64-bit ids numbered by the database on both providers', () => {
    const sqlite = readFileSync(join(providerDir('sqlite'), 'models.prisma'), 'utf8');
    const postgresql = readFileSync(join(providerDir('postgresql'), 'models.prisma'), 'utf8');
    expect(postgresql).toMatch(/^\s+id\s+BigInt\s+@id @default\(autoincrement\(\)\)/m);
    expect(sqlite).toMatch(/^\s+id\s+Int\s+@id @default\(autoincrement\(\)\)/m);
    expect(sqlite).not.toMatch(/^\s+(id|roomId)\s+BigInt/m);
  });

  it.each(PROVIDERS)('the %s migration_lock.toml names its own provider', (provider) => {
    const lockfile = readFileSync(join(migrationsDir(provider), 'migration_lock.toml'), 'utf8');
    expect(lockfile).toMatch(new RegExp(`^provider = "${provider}"$`, 'm'));
  });
});

describe('migrate with an unsupported database URL', () => {
  it('rejects a mysql URL with UNSUPPORTED_DATABASE and keeps the password out of the message', async () => {
    let migrating: Promise<string[]> | undefined;
    expect(() => {
      migrating = migrate({ databaseUrl: 'mysql://u:pw@h/db' });
    }, 'migrate must report a bad URL as a rejected promise, not throw synchronously').not.toThrow();
    const error = await rejection(migrating!);
    expect(error.code).toBe('UNSUPPORTED_DATABASE');
    expect(error.message).toContain('mysql://');
    expect(error.message).not.toContain(':pw@');
  });
});

describe('migrationStatus with an unreachable PostgreSQL server', () => {
  it('rejects with DATABASE_UNAVAILABLE saying which server, without the password', async () => {
    const error = await rejection(migrationStatus({ databaseUrl: 'postgresql://app:s3cr3t-pw@127.0.0.1:1/app' }));
    expect({ code: error.code, message: error.message }).toEqual({
      code: 'DATABASE_UNAVAILABLE',
      message: "Cannot use the database: can't reach the server at 127.0.0.1:1; is it running?",
    });
  });
});

describe.each(testEngines())('migrations on %s', (engine) => {
  const expectedNames = migrationNames(engine);

  it('the bundled migrations build the schema the engine derives from the current models', async () => {
    const migratedUrl = await migratedDatabase(engine);
    const derivedUrl = await emptyDatabase(engine);
    await runScript(derivedUrl, await engineScriptFromEmpty(engine));

    const migrated = await withInspector(migratedUrl, (db) => schemaShape(db, engine, PRESENCE_TABLES));
    const derived = await withInspector(derivedUrl, async (db) => {
      expect(await tableNames(db, engine)).toEqual(PRESENCE_TABLES);
      return schemaShape(db, engine, PRESENCE_TABLES);
    });
    expect(derived.columns.length).toBeGreaterThan(0);
    expect(migrated).toEqual(derived);
  });

  it('migrate on an empty database applies every bundled migration, then a second run applies none and changes nothing', async () => {
    const url = await emptyDatabase(engine);
    expect(await migrate({ databaseUrl: url })).toEqual(expectedNames);
    const afterFirst = await databaseState(url, engine);
    expect(afterFirst.tables).toEqual([...PRESENCE_TABLES, '_prisma_migrations']);

    expect(await migrate({ databaseUrl: url })).toEqual([]);
    expect(await databaseState(url, engine)).toEqual(afterFirst);
  });

  it('migrate records each migration in _prisma_migrations as prisma migrate deploy does', async () => {
    const url = await migratedDatabase(engine);
    const rows = await withInspector(url, (db) =>
      db.rows<{ migration_name: string; checksum: string; finished_at: unknown; rolled_back_at: unknown; applied_steps_count: unknown; started_at: unknown; logs: unknown; id: string }>(
        'SELECT * FROM "_prisma_migrations" ORDER BY migration_name',
      ),
    );
    expect(rows.map((row) => row.migration_name)).toEqual(expectedNames);
    for (const row of rows) {
      const sha256 = createHash('sha256').update(migrationFile(engine, row.migration_name)).digest('hex');
      expect(row, row.migration_name).toMatchObject({ checksum: sha256, rolled_back_at: null, logs: null });
      expect(Number(row.applied_steps_count), row.migration_name).toBe(1);
      expect(row.finished_at, row.migration_name).not.toBeNull();
      expect(row.started_at, row.migration_name).not.toBeNull();
      expect(row.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    }
  });

  it('migrate creates _prisma_migrations with the columns prisma migrate deploy creates', async () => {
    const url = await migratedDatabase(engine);
    const { columns } = await withInspector(url, (db) => schemaShape(db, engine, ['_prisma_migrations']));
    // The table definition of Prisma's native schema engine for each provider.
    const expected =
      engine === 'sqlite'
        ? [
            'id TEXT NOT NULL PRIMARY KEY',
            'checksum TEXT NOT NULL',
            'finished_at DATETIME',
            'migration_name TEXT NOT NULL',
            'logs TEXT',
            'rolled_back_at DATETIME',
            'started_at DATETIME NOT NULL DEFAULT current_timestamp',
            'applied_steps_count INTEGER UNSIGNED NOT NULL DEFAULT 0',
          ]
        : [
            'id character varying(36) NOT NULL PRIMARY KEY',
            'checksum character varying(64) NOT NULL',
            'finished_at timestamp with time zone',
            'migration_name character varying(255) NOT NULL',
            'logs text',
            'rolled_back_at timestamp with time zone',
            'started_at timestamp with time zone NOT NULL DEFAULT now()',
            'applied_steps_count integer NOT NULL DEFAULT 0',
          ];
    expect(columns).toEqual(expected.map((column) => `_prisma_migrations.${column}`).sort());
  });

  it('the migrated tables have the unique and lookup indexes and the restricting foreign key of the models', async () => {
    const url = await migratedDatabase(engine);
    const shape = await withInspector(url, (db) => schemaShape(db, engine, PRESENCE_TABLES));
    expect(shape.indexes).toEqual([
      { table: 'Presence', name: 'Presence_channelName_idx', unique: false, columns: ['channelName'] },
      { table: 'Presence', name: 'Presence_lastSeen_idx', unique: false, columns: ['lastSeen'] },
      { table: 'Presence', name: 'Presence_roomId_channelName_key', unique: true, columns: ['roomId', 'channelName'] },
      { table: 'Presence', name: 'Presence_serverId_idx', unique: false, columns: ['serverId'] },
      { table: 'PresenceEvent', name: 'PresenceEvent_createdAt_idx', unique: false, columns: ['createdAt'] },
      { table: 'PresenceEvent', name: 'PresenceEvent_txid_id_idx', unique: false, columns: ['txid', 'id'] },
      { table: 'PresenceServer', name: 'PresenceServer_expiresAt_idx', unique: false, columns: ['expiresAt'] },
      { table: 'Room', name: 'Room_channelName_key', unique: true, columns: ['channelName'] },
    ]);
    expect(shape.foreignKeys).toEqual([
      { table: 'Presence', columns: ['roomId'], refTable: 'Room', refColumns: ['id'], onDelete: 'RESTRICT', onUpdate: 'CASCADE' },
    ]);
  });

  it('the room_delete_restrict migration applies over a database that holds presences and keeps every row', async () => {
    const url = await migratedDatabase(engine);
    const restrict = expectedNames.find((name) => name.endsWith('_room_delete_restrict'))!;
    // Back to the cascading foreign key (the migration itself with the old action), with rows in it.
    await runScript(url, migrationFile(engine, restrict).toString('utf8').replaceAll('ON DELETE RESTRICT', 'ON DELETE CASCADE'));
    await withInspector(url, async (db) => {
      expect((await schemaShape(db, engine, ['Presence'])).foreignKeys[0]!.onDelete).toBe('CASCADE');
      await db.rows(`DELETE FROM "_prisma_migrations" WHERE migration_name = ?`, restrict);
      await db.rows(`INSERT INTO "Room" ("channelName") VALUES ('lobby'), ('hall')`);
      await db.rows(
        `INSERT INTO "Presence" ("roomId", "channelName", "userId", "lastSeen", "metadata", "serverId")
         SELECT "id", 'chan.' || "channelName", 'olga', '2026-01-01T00:00:00.000+00:00', '{"status":"away"}', 'server-1' FROM "Room"`,
      );
    });
    const before = await withInspector(url, (db) => db.rows('SELECT * FROM "Presence" ORDER BY "id"'));

    expect(await migrate({ databaseUrl: url })).toEqual([restrict]);
    await withInspector(url, async (db) => {
      expect(await db.rows('SELECT * FROM "Presence" ORDER BY "id"')).toEqual(before);
      const shape = await schemaShape(db, engine, PRESENCE_TABLES);
      expect(shape.foreignKeys.map((key) => key.onDelete)).toEqual(['RESTRICT']);
      expect(shape.indexes.filter((index) => index.table === 'Presence')).toHaveLength(4);
      await expect(db.rows(`DELETE FROM "Room" WHERE "channelName" = 'lobby'`)).rejects.toThrow(/foreign key/i);
    });
  });

  it('numbers rooms and presences past 32 bits', async () => {
    const url = await migratedDatabase(engine);
    const beyond = 2 ** 33;
    await withInspector(url, (db) =>
      engine === 'postgresql'
        ? db.rows(`SELECT setval('"Room_id_seq"', ${beyond}), setval('"Presence_id_seq"', ${beyond})`)
        : db
            .rows(`DELETE FROM "sqlite_sequence" WHERE "name" IN ('Room', 'Presence')`)
            .then(() => db.rows(`INSERT INTO "sqlite_sequence" ("name", "seq") VALUES ('Room', ${beyond}), ('Presence', ${beyond})`)),
    );
    let clock = Date.parse('2026-01-01T00:00:00Z');
    const presence = createPresence({ databaseUrl: url, now: () => new Date(clock) });
    const room = await presence.rooms.add('lobby', 'chan.1', 'olga');
    expect(room.id).toBe(beyond + 1);
    expect(await presence.rooms.getPresences('lobby')).toMatchObject([{ id: beyond + 1, roomId: beyond + 1, userId: 'olga' }]);
    clock += 120_000;
    expect(await presence.rooms.prunePresences()).toBe(1);
    expect(await presence.rooms.pruneRooms()).toBe(1);
    await presence.close();
  });

  if (engine === 'postgresql') {
    it('a room that exists costs no id: adds from trackers that have not cached it leave the room sequence where it was', async () => {
      const url = await migratedDatabase(engine);
      await withInspector(url, async (db) => {
        await db.rows(`INSERT INTO "Room" ("channelName") VALUES ('lobby')`);
        const [lobby] = await db.rows<{ id: string }>('SELECT "id" FROM "Room"');
        const sequence = () => db.rows<{ last_value: string; is_called: boolean }>('SELECT last_value, is_called FROM "Room_id_seq"');
        const before = await sequence();
        for (let i = 1; i <= 20; i++) {
          const presence = createPresence({ databaseUrl: url }); // a fresh tracker: its room cache is cold
          try {
            expect(await presence.rooms.add('lobby', `chan.${i}`, `user${i}`)).toEqual({ id: Number(lobby!.id), channelName: 'lobby' });
          } finally {
            await presence.close();
          }
        }
        expect(await sequence()).toEqual(before);
        expect(await db.rows<{ n: number }>('SELECT count(*)::int AS n FROM "Presence"')).toEqual([{ n: 20 }]);
      });
    });
  }

  if (engine === 'postgresql') {
    it('the bigint_ids migration applies over 32-bit tables that hold rows and keeps every row', async () => {
      const url = await migratedDatabase(engine);
      const bigint = expectedNames.find((name) => name.endsWith('_bigint_ids'))!;
      await withInspector(url, async (db) => {
        await db.rows(`ALTER TABLE "Presence" DROP CONSTRAINT "Presence_roomId_fkey"`);
        await db.rows(`ALTER TABLE "Room" ALTER COLUMN "id" SET DATA TYPE INTEGER; ALTER SEQUENCE "Room_id_seq" AS INTEGER`);
        await db.rows(`ALTER TABLE "Presence" ALTER COLUMN "id" SET DATA TYPE INTEGER, ALTER COLUMN "roomId" SET DATA TYPE INTEGER; ALTER SEQUENCE "Presence_id_seq" AS INTEGER`);
        await db.rows(`ALTER TABLE "Presence" ADD CONSTRAINT "Presence_roomId_fkey" FOREIGN KEY ("roomId") REFERENCES "Room"("id") ON DELETE RESTRICT ON UPDATE CASCADE`);
        await db.rows(`DELETE FROM "_prisma_migrations" WHERE migration_name = ?`, bigint);
        await db.rows(`INSERT INTO "Room" ("channelName") VALUES ('lobby'), ('hall')`);
        await db.rows(
          `INSERT INTO "Presence" ("roomId", "channelName", "userId", "lastSeen") SELECT "id", 'chan.' || "channelName", 'olga', now() FROM "Room"`,
        );
      });
      const rows = 'SELECT "id"::int AS "id", "roomId"::int AS "roomId", "channelName", "userId", "lastSeen" FROM "Presence" ORDER BY "id"';
      const before = await withInspector(url, (db) => db.rows(rows));

      expect(await migrate({ databaseUrl: url })).toEqual([bigint]);
      await withInspector(url, async (db) => {
        expect(await db.rows(rows)).toEqual(before);
        const types = await db.rows<{ name: string; type: string }>(
          `SELECT table_name || '.' || column_name AS name, data_type AS type FROM information_schema.columns
           WHERE table_name IN ('Room', 'Presence') AND column_name IN ('id', 'roomId') ORDER BY 1`,
        );
        expect(types).toEqual([
          { name: 'Presence.id', type: 'bigint' },
          { name: 'Presence.roomId', type: 'bigint' },
          { name: 'Room.id', type: 'bigint' },
        ]);
        expect(await db.rows(`SELECT data_type AS type FROM information_schema.sequences WHERE sequence_name IN ('Room_id_seq', 'Presence_id_seq') ORDER BY sequence_name`)).toEqual([
          { type: 'bigint' },
          { type: 'bigint' },
        ]);
      });
    });
  }

  it('the presence_event_commit_order migration applies over a log holding entries, keeps them, and ids go on from the highest', async () => {
    const url = await migratedDatabase(engine);
    const commitOrder = expectedNames.find((name) => name.endsWith('_presence_event_commit_order'))!;
    await withInspector(url, async (db) => {
      // Back to the table as the earlier migrations left it, holding entries.
      await db.rows('DROP INDEX "PresenceEvent_txid_id_idx"');
      await db.rows('ALTER TABLE "PresenceEvent" DROP COLUMN "txid"');
      await db.rows(`DELETE FROM "_prisma_migrations" WHERE migration_name = ?`, commitOrder);
      for (const room of [1, 2, 3]) {
        await db.rows(`INSERT INTO "PresenceEvent" ("roomId", "origin", "payload", "createdAt") VALUES (?, 'old', '{}', '2026-01-01T00:00:00.000+00:00')`, room);
      }
    });
    const before = await withInspector(url, (db) => db.rows('SELECT "id", "roomId", "origin", "payload", "createdAt" FROM "PresenceEvent" ORDER BY "id"'));

    expect(await migrate({ databaseUrl: url })).toEqual([commitOrder]);
    await withInspector(url, async (db) => {
      expect(await db.rows('SELECT "id", "roomId", "origin", "payload", "createdAt" FROM "PresenceEvent" ORDER BY "id"')).toEqual(before);
      expect(await db.rows('SELECT "txid" FROM "PresenceEvent"')).toEqual([{ txid: null }, { txid: null }, { txid: null }]);
      await db.rows('DELETE FROM "PresenceEvent" WHERE "id" = 3');
      await db.rows(`INSERT INTO "PresenceEvent" ("roomId", "origin", "payload", "createdAt") VALUES (4, 'new', '{}', '2026-01-02T00:00:00.000+00:00')`);
      // A trimmed id is never handed out again: readers on SQLite rely on it.
      expect((await db.rows<{ id: number }>(`SELECT "id" FROM "PresenceEvent" WHERE "origin" = 'new'`)).map((row) => Number(row.id))).toEqual([4]);
    });
  });

  it('migrate refuses a database that has other tables but no migration history (P3005) and writes nothing', async () => {
    const url = await emptyDatabase(engine);
    await runScript(url, 'CREATE TABLE "Other" ("id" INTEGER PRIMARY KEY, "note" TEXT); INSERT INTO "Other" VALUES (1, \'kept\');');

    const error = await rejection(migrate({ databaseUrl: url }));
    expect(error.code).toBe('MIGRATION_FAILED');
    expect(error.message).toContain('P3005');
    expect(error.message).toMatch(/schema is not empty/i);

    await withInspector(url, async (db) => {
      expect(await tableNames(db, engine)).toEqual(['Other']);
      expect(await db.rows('SELECT "id", "note" FROM "Other"')).toEqual([{ id: 1, note: 'kept' }]);
    });
  });

  if (engine === 'sqlite') {
    it('migrate releases the SQLite file: another connection writes to it within 1 s, after applying and after a no-op run', async () => {
      const url = await emptyDatabase(engine);
      const path = url.slice('file:'.length);
      const writeRoom = (name: string) => {
        const db = new Database(path, { timeout: 1000 });
        try {
          const started = performance.now();
          db.prepare('INSERT INTO "Room" ("channelName") VALUES (?)').run(name);
          return performance.now() - started;
        } finally {
          db.close();
        }
      };

      await migrate({ databaseUrl: url });
      expect(writeRoom('after-apply')).toBeLessThan(1000);
      await migrate({ databaseUrl: url });
      expect(writeRoom('after-no-op')).toBeLessThan(1000);
      await withInspector(url, async (db) =>
        expect((await db.rows<{ channelName: string }>('SELECT "channelName" FROM "Room" ORDER BY id')).map((row) => row.channelName)).toEqual([
          'after-apply',
          'after-no-op',
        ]),
      );
    });
  }
});
