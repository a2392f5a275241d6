// The detailed write path, taken when someone needs more than the row change itself:
// listeners of per-user events, or other processes (event sharing). Each change runs in
// one transaction that (on PostgreSQL) first locks the rooms it touches, so that changes
// to a room commit one at a time: per-user transitions are exact and the shared log holds
// each room's changes in commit order.
import type { Transaction } from '../database/client.js';
import { list, sql, type Sql } from '../database/sql.js';
import { appendToLog } from '../sharing/log.js';
import type { Presence, PresenceChangedEvent, PresenceUpdatedEvent, Room } from '../types.js';
import { PRESENCE_COLUMNS, toPresence, type PresenceRow, type RepositoryContext } from './context.js';

/** A room change with the users whose first connection joined or last connection left. */
export interface RecordedChange extends Omit<PresenceChangedEvent, 'remote'> {
  usersJoined: string[];
  usersLeft: string[];
}

/** A presence whose metadata changed. */
export type Update = Omit<PresenceUpdatedEvent, 'remote'>;

/** What the shared log holds and `publish` emits: room changes and metadata updates. */
export type Entry = Change | Update;

/** First key of the advisory locks on rooms (the second is the room id): "pres". */
const ROOM_LOCK_NAMESPACE = 0x70726573;

/** Whether writes must take the detailed path. */
export function needsDetail(context: RepositoryContext): boolean {
  return context.sharing.enabled || context.events.has('userJoined') || context.events.has('userLeft');
}

/** Locks rooms for the rest of the transaction, in id order so that two writers never deadlock. PostgreSQL only. */
export async function lockRooms(context: RepositoryContext, tx: Transaction, roomIds: number[]): Promise<void> {
  if (context.db.dialect !== 'postgresql' || roomIds.length === 0) return;
  const sorted = [...new Set(roomIds)].sort((a, b) => a - b);
  await tx.query(sql`
    SELECT count(pg_advisory_xact_lock(${ROOM_LOCK_NAMESPACE}, l.id)) AS "locked"
    FROM (SELECT unnest(${sorted}::int[]) AS id ORDER BY 1) l`);
}

/**
 * Deletes the presences matching `condition` after locking their rooms, and returns
 * them with their room names. On SQLite the DELETE itself takes the write lock.
 */
export async function deleteLocked(context: RepositoryContext, tx: Transaction, condition: Sql): Promise<PresenceRow[]> {
  let scope = sql``;
  if (context.db.dialect === 'postgresql') {
    const rooms = await tx.query<{ roomId: number }>(sql`SELECT DISTINCT "roomId" FROM "Presence" WHERE ${condition}`);
    if (rooms.length === 0) return [];
    const ids = rooms.map((row) => Number(row.roomId));
    await lockRooms(context, tx, ids);
    scope = sql` AND "roomId" = ANY(${ids}::int[])`;
  }
  return tx.query<PresenceRow>(sql`
    DELETE FROM "Presence" WHERE ${condition}${scope}
    RETURNING ${PRESENCE_COLUMNS}, (SELECT r."channelName" FROM "Room" r WHERE r."id" = "Presence"."roomId") AS "roomName"`);
}

/**
 * Removes the presences matching `condition` (remove, leaveAll, a server's shutdown),
 * emitting one `removed` change per deleted row: through the detailed path when needed,
 * else in one statement (returning rows only when someone listens).
 */
export async function removeMatching(context: RepositoryContext, condition: Sql): Promise<void> {
  const { db } = context;
  if (needsDetail(context)) {
    const changes = await db.transaction(async (tx) => recordChanges(context, tx, removals(await deleteLocked(context, tx, condition))));
    return publish(context, changes);
  }
  if (!context.events.has('changed')) {
    await db.execute(sql`DELETE FROM "Presence" WHERE ${condition}`);
    return;
  }
  const rows = await db.query<PresenceRow>(sql`
    DELETE FROM "Presence" WHERE ${condition}
    RETURNING ${PRESENCE_COLUMNS}, (SELECT r."channelName" FROM "Room" r WHERE r."id" = "Presence"."roomId") AS "roomName"`);
  publish(context, removals(rows));
}

/** One `removed` change per deleted row (remove, leaveAll). */
export function removals(rows: PresenceRow[]): Omit<PresenceChangedEvent, 'remote'>[] {
  return rows.map((row) => {
    const removed = toPresence(row);
    return { room: { id: removed.roomId, channelName: row.roomName ?? '' }, added: null, removed, bulkChange: false, pruned: [] };
  });
}

/** One bulk change per room, listing the presences a prune removed from it. */
export function prunedByRoom(rows: PresenceRow[]): Omit<PresenceChangedEvent, 'remote'>[] {
  const rooms = new Map<number, { room: Room; pruned: Presence[] }>();
  for (const row of rows) {
    const presence = toPresence(row);
    let entry = rooms.get(presence.roomId);
    if (!entry) rooms.set(presence.roomId, (entry = { room: { id: presence.roomId, channelName: row.roomName ?? '' }, pruned: [] }));
    entry.pruned.push(presence);
  }
  return [...rooms.values()].map(({ room, pruned }) => ({ room, added: null, removed: null, bulkChange: true, pruned }));
}

/**
 * Inside the change's transaction: works out which users joined or left, and logs the
 * changes for other processes when sharing is on.
 */
export async function recordChanges(
  context: RepositoryContext,
  tx: Transaction,
  changes: Omit<PresenceChangedEvent, 'remote'>[],
): Promise<RecordedChange[]> {
  const recorded = await withUserTransitions(tx, changes);
  if (context.sharing.enabled) await appendToLog(context, tx, recorded);
  return recorded;
}

async function withUserTransitions(tx: Transaction, changes: Omit<PresenceChangedEvent, 'remote'>[]): Promise<RecordedChange[]> {
  const touched = changes.flatMap((change) =>
    [change.added, change.removed, ...change.pruned].filter((presence): presence is Presence => presence?.userId != null),
  );
  const counts = new Map<string, number>();
  if (touched.length > 0) {
    const rows = await tx.query<{ roomId: number; userId: string; n: number | bigint }>(sql`
      SELECT "roomId", "userId", count(*) AS "n" FROM "Presence"
      WHERE "roomId" IN (${list([...new Set(touched.map((p) => p.roomId))])})
        AND "userId" IN (${list([...new Set(touched.map((p) => p.userId))])})
      GROUP BY "roomId", "userId"`);
    for (const row of rows) counts.set(userKey(Number(row.roomId), row.userId), Number(row.n));
  }
  const connections = (presence: Presence) => counts.get(userKey(presence.roomId, presence.userId!)) ?? 0;
  return changes.map((change) => {
    const joined = change.added?.userId != null && connections(change.added) === 1 ? [change.added.userId] : [];
    const gone = [change.removed, ...change.pruned].filter((p): p is Presence => p?.userId != null && connections(p) === 0);
    return { ...change, usersJoined: joined, usersLeft: [...new Set(gone.map((p) => p.userId!))] };
  });
}

const userKey = (roomId: number, userId: string) => `${roomId}\u0000${userId}`;

/** Inside the update's transaction: logs it for other processes when sharing is on. */
export async function recordUpdates(context: RepositoryContext, tx: Transaction, updates: Update[]): Promise<Update[]> {
  if (context.sharing.enabled) await appendToLog(context, tx, updates);
  return updates;
}

/** A change, with its user transitions when the detailed path worked them out. */
export type Change = Omit<PresenceChangedEvent, 'remote'> & Partial<Pick<RecordedChange, 'usersJoined' | 'usersLeft'>>;

/** Emits committed entries to this process's listeners: `changed` then per-user events, or `updated`. */
export function publish(context: RepositoryContext, entries: Entry[], remote = false): void {
  for (const entry of entries) {
    if ('presence' in entry) {
      context.events.emit('updated', { ...entry, remote });
      continue;
    }
    const { usersJoined = [], usersLeft = [], ...change } = entry;
    context.events.emit('changed', { ...change, remote });
    for (const userId of usersJoined) context.events.emit('userJoined', { room: change.room, userId, remote });
    for (const userId of usersLeft) context.events.emit('userLeft', { room: change.room, userId, remote });
  }
}
