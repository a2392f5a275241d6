import { anyOf, sql, type Sql } from '../database/sql.js';
import { assertRoomNames, parseSeconds } from '../validation.js';
import type { RepositoryContext } from './context.js';
import type { PresenceCounts, PresenceStats, ServerStats } from '../types.js';

interface ServerRow {
  id: string;
  hostname: string;
  pid: number | bigint;
  startedAt: Date | string;
  lastSeen: Date | string;
  expiresAt: Date | string;
  presences: number | bigint;
}

interface CountsRow {
  room: string | null;
  rooms: number | bigint;
  presences: number | bigint;
  users: number | bigint;
  anonymous: number | bigint | null;
  stale: number | bigint | null;
}

/**
 * Presence counts per room and in total, in one statement whatever the number of
 * rooms: the per-room groups and the totals row are one UNION ALL.
 */
export async function presenceStats(context: RepositoryContext, names?: readonly string[], maxAge?: number): Promise<PresenceStats> {
  if (names !== undefined) assertRoomNames(names);
  const seconds = maxAge === undefined ? context.maxAge : parseSeconds(maxAge, 'maxAge');
  // Count as prunePresences would decide: buffered touches first.
  await context.touches.flush();
  const now = context.now();
  const cutoff = new Date(now.getTime() - seconds * 1000);
  const filter = names === undefined ? sql`` : sql`WHERE r."channelName" ${anyOf(names, 'text')}`;
  const counts = (room: Sql) => sql`
    SELECT ${room} AS "room", count(DISTINCT r."id") AS "rooms", count(p."id") AS "presences",
      count(DISTINCT p."userId") AS "users",
      sum(CASE WHEN p."id" IS NOT NULL AND p."userId" IS NULL THEN 1 ELSE 0 END) AS "anonymous",
      sum(CASE WHEN p."lastSeen" < ${cutoff} OR p."serverId" IN (SELECT s."id" FROM "PresenceServer" s WHERE s."expiresAt" < ${now}) THEN 1 ELSE 0 END) AS "stale"
    FROM "Room" r LEFT JOIN "Presence" p ON p."roomId" = r."id" ${filter}`;
  const rows = await context.db.query<CountsRow>(sql`
    ${counts(sql`r."channelName"`)} GROUP BY r."channelName"
    UNION ALL
    ${counts(sql`NULL`)}`);
  const servers = await serverStats(context);
  const log = await logStats(context);
  const perRoom = rows.filter((row) => row.room !== null).map((row) => ({ room: row.room!, ...toCounts(row) }));
  const total = rows.find((row) => row.room === null);
  return {
    total: total ? toCounts(total) : { rooms: 0, presences: 0, users: 0, anonymous: 0, stale: 0 },
    rooms: perRoom.sort((a, b) => (a.room < b.room ? -1 : a.room > b.room ? 1 : 0)),
    maxAge: seconds,
    servers,
    log,
  };
}

async function logStats(context: RepositoryContext): Promise<PresenceStats['log']> {
  const [row] = await context.db.query<{ entries: number | bigint; oldest: Date | string | null }>(sql`
    SELECT count(*) AS "entries", min("createdAt") AS "oldest" FROM "PresenceEvent"`);
  const oldest = row?.oldest ?? null;
  return { entries: Number(row?.entries ?? 0), oldest: oldest === null ? null : new Date(oldest) };
}

async function serverStats(context: RepositoryContext): Promise<ServerStats[]> {
  const now = context.now();
  const rows = await context.db.query<ServerRow>(sql`
    SELECT s."id", s."hostname", s."pid", s."startedAt", s."lastSeen", s."expiresAt",
      (SELECT count(*) FROM "Presence" p WHERE p."serverId" = s."id") AS "presences"
    FROM "PresenceServer" s ORDER BY s."startedAt", s."id"`);
  const date = (value: Date | string) => (value instanceof Date ? value : new Date(value));
  return rows.map((row) => ({
    id: row.id,
    hostname: row.hostname,
    pid: Number(row.pid),
    startedAt: date(row.startedAt),
    lastSeen: date(row.lastSeen),
    expiresAt: date(row.expiresAt),
    alive: date(row.expiresAt) >= now,
    presences: Number(row.presences),
  }));
}

function toCounts(row: CountsRow): PresenceCounts {
  return {
    rooms: Number(row.rooms),
    presences: Number(row.presences),
    users: Number(row.users),
    anonymous: Number(row.anonymous ?? 0),
    stale: Number(row.stale ?? 0),
  };
}
