// An application that already has a model called Room pastes the presence models under
// other names (@@map), and on PostgreSQL keeps them in a schema of their own; the
// `tables` option (or PRESENCE_TABLES / PRESENCE_SCHEMA for the CLI) points the library
// at them. The tables come from the SQL Prisma's engine derives for that schema.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createPresence, type TableNames } from '../src/index.ts';
import { migrationScript } from '../scripts/schemaEngine.ts';
import { cli } from './support/cli.ts';
import { emptyDatabase, inspect, testEngines, type Engine } from './support/databases.ts';

const NAMES = { Room: 'presence_room', Presence: 'presence_entry', PresenceServer: 'presence_server', PresenceEvent: 'presence_event' };

/** The shipped models renamed (PresenceRoom etc.) and mapped to NAMES, next to the app's own Room model. */
function appSchema(engine: Engine): { path: string; content: string }[] {
  let models = readFileSync(join('prisma', engine, 'models.prisma'), 'utf8')
    .replace(/\bmodel Room\b/, 'model PresenceRoom')
    .replace(/\broom(\s+)Room(\s+)@relation/, 'room$1PresenceRoom$2@relation');
  for (const [model, table] of Object.entries(NAMES)) {
    const name = model === 'Room' ? 'PresenceRoom' : model;
    models = models.replace(new RegExp(`(model ${name} \\{[\\s\\S]*?)\\n\\}`), `$1\n  @@map("${table}")\n}`);
  }
  const app = `datasource db {\n  provider = "${engine}"\n}\n\n/// The application's own Room.\nmodel Room {\n  id    Int    @id @default(autoincrement())\n  title String\n}\n`;
  return [
    { path: '/app/schema.prisma', content: app },
    { path: '/app/presence.prisma', content: models },
  ];
}

async function createTables(engine: Engine, url: string, schema?: string): Promise<void> {
  const ddl = await migrationScript(appSchema(engine));
  if (engine === 'sqlite') {
    const db = new Database(url.slice('file:'.length));
    db.exec(ddl);
    db.close();
    return;
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(`CREATE SCHEMA "${schema}"; SET search_path TO "${schema}"; ${ddl}`);
  await client.query(`INSERT INTO "${schema}"."Room" ("title") VALUES ('the app''s own room')`);
  await client.end();
}

describe.each(testEngines())('renamed presence tables on %s', (engine) => {
  const schema = engine === 'postgresql' ? 'presence' : undefined;
  const tables: TableNames = { ...NAMES, ...(schema ? { schema } : {}) };

  it('every operation uses the mapped tables and never touches the application Room', async () => {
    const url = await emptyDatabase(engine);
    await createTables(engine, url, schema);
    const presence = createPresence({ databaseUrl: url, tables, shareEvents: true, liveness: true });
    const left: string[] = [];
    presence.on('userLeft', ({ userId }) => void left.push(userId));
    await presence.rooms.add('lobby', 'chan.1', 'alice', { metadata: { status: 'here' } });
    await presence.rooms.add('lobby', 'chan.2');
    await presence.presences.touch('chan.1');
    await presence.presences.update('chan.1', { status: 'away' });
    expect(await presence.rooms.getUsers('lobby')).toEqual(['alice']);
    expect(await presence.rooms.getAnonymousCount('lobby')).toBe(1);
    expect((await presence.rooms.stats()).total).toMatchObject({ rooms: 1, presences: 2 });
    await presence.presences.leaveAll('chan.1');
    expect(left).toEqual(['alice']);
    expect(await presence.rooms.prunePresences(1e-6)).toBe(1);
    expect(await presence.rooms.pruneRooms()).toBe(1);
    await presence.close();

    const db = await inspect(url);
    const prefix = schema ? `"${schema}".` : '';
    expect(await db.rows(`SELECT count(*) AS n FROM ${prefix}"presence_event"`)).not.toEqual([{ n: 0 }]);
    if (engine === 'postgresql') expect(await db.rows(`SELECT "title" FROM ${prefix}"Room"`)).toEqual([{ title: "the app's own room" }]);
    await db.close();
  });

  it('the CLI finds them through PRESENCE_TABLES and PRESENCE_SCHEMA', async () => {
    const url = await emptyDatabase(engine);
    await createTables(engine, url, schema);
    const presence = createPresence({ databaseUrl: url, tables, now: () => new Date(Date.now() - 3_600_000) });
    await presence.rooms.add('lobby', 'chan.1');
    await presence.close();
    process.env.PRESENCE_TABLES = Object.entries(NAMES)
      .map(([model, table]) => `${model}=${table}`)
      .join(',');
    if (schema) process.env.PRESENCE_SCHEMA = schema;
    try {
      expect(await cli('prune-presence', '--database-url', url)).toMatchObject({ code: 0, out: 'Pruned 1 presence from 1 room\n' });
      expect(await cli('prune-rooms', '--database-url', url)).toMatchObject({ code: 0, out: 'Pruned 1 empty room\n' });
    } finally {
      delete process.env.PRESENCE_TABLES;
      delete process.env.PRESENCE_SCHEMA;
    }
  });

  it('rejects a table name that is not a plain identifier', () => {
    expect(() => createPresence({ databaseUrl: 'file:./x.db', tables: { Room: 'room"; DROP TABLE x; --' } })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});
