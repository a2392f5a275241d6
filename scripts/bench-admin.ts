// Untimed set-up and checks of one side's database, through a separate raw connection.
import { SQLITE_BUSY_TIMEOUT_MS, sqliteTimestamp, type Engine } from './bench-workload.ts';

export interface Admin {
  /**
   * Sets lastSeen to `stale` for the channels with i % 4 in {0, 1} and to `fresh` for the
   * others; returns how many are stale.
   */
  setLastSeen(stale: Date, fresh: Date): Promise<number>;
  /** Number of presences, and how many were last seen at or after `since`. */
  presences(since?: Date): Promise<{ total: number; since: number }>;
  rooms(): Promise<number>;
  /** The raw text of one stored lastSeen (SQLite) or its value as an ISO string (PostgreSQL). */
  oneLastSeen(): Promise<string | undefined>;
  /**
   * Before each timed step: on SQLite, copies the WAL into the database and empties it, so
   * that no side's timed step pays for a checkpoint that earlier steps' writes brought
   * due (the sides write different amounts, so the 1,000-page automatic checkpoint would
   * otherwise land in one side's step and not the other's). Nothing on PostgreSQL.
   */
  settle(): Promise<void>;
  close(): Promise<void>;
}

const STALE_CONDITION = (engine: Engine) =>
  `CAST(substr("channelName", 6) AS ${engine === 'sqlite' ? 'INTEGER' : 'integer'}) % 4 IN (0, 1)`;
const SET_LAST_SEEN = (engine: Engine, placeholder: string, stale: boolean) =>
  `UPDATE "Presence" SET "lastSeen" = ${placeholder} WHERE ${stale ? '' : 'NOT '}(${STALE_CONDITION(engine)})`;

export function openAdmin(engine: Engine, url: string): Promise<Admin> {
  return engine === 'sqlite' ? sqliteAdmin(url) : postgresAdmin(url);
}

async function sqliteAdmin(url: string): Promise<Admin> {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(url.slice('file:'.length), { timeout: SQLITE_BUSY_TIMEOUT_MS });
  return {
    async setLastSeen(stale, fresh) {
      db.prepare(SET_LAST_SEEN('sqlite', '?', false)).run(sqliteTimestamp(fresh));
      return db.prepare(SET_LAST_SEEN('sqlite', '?', true)).run(sqliteTimestamp(stale)).changes;
    },
    presences: async (since) =>
      db
        .prepare<[string], { total: number; since: number }>(
          'SELECT count(*) AS total, coalesce(sum("lastSeen" >= ?), 0) AS since FROM "Presence"',
        )
        .get(sqliteTimestamp(since ?? new Date(0)))!,
    rooms: async () => db.prepare<[], number>('SELECT count(*) FROM "Room"').pluck().get()!,
    oneLastSeen: async () => db.prepare<[], string>('SELECT "lastSeen" FROM "Presence" LIMIT 1').pluck().get(),
    settle: async () => void db.pragma('wal_checkpoint(TRUNCATE)'),
    close: async () => void db.close(),
  };
}

async function postgresAdmin(url: string): Promise<Admin> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  return {
    async setLastSeen(stale, fresh) {
      await client.query(SET_LAST_SEEN('postgresql', '$1', false), [fresh.toISOString()]);
      return (await client.query(SET_LAST_SEEN('postgresql', '$1', true), [stale.toISOString()])).rowCount ?? 0;
    },
    async presences(since) {
      const { rows } = await client.query<{ total: string; since: string }>(
        'SELECT count(*) AS total, count(*) FILTER (WHERE "lastSeen" >= $1) AS since FROM "Presence"',
        [(since ?? new Date(0)).toISOString()],
      );
      return { total: Number(rows[0]!.total), since: Number(rows[0]!.since) };
    },
    rooms: async () => Number((await client.query<{ count: string }>('SELECT count(*) AS count FROM "Room"')).rows[0]!.count),
    async oneLastSeen() {
      const { rows } = await client.query<{ t: string }>(`SELECT to_char("lastSeen", 'YYYY-MM-DD"T"HH24:MI:SS.MS') AS t FROM "Presence" LIMIT 1`);
      return rows[0]?.t;
    },
    settle: async () => {},
    close: () => client.end(),
  };
}
