// What every write shares: the rows it changes are the same whoever listens; listeners
// only add what reporting needs. `changed` listeners get the changed rows back from the
// statement itself (RETURNING). Per-user events and shared events need more: the write
// then runs in one transaction that (on PostgreSQL) first locks its rooms' lock keys,
// so changes to a room commit one at a time, per-user transitions are exact and the
// shared log holds each room's changes in commit order.
import type { Transaction } from '../database/database.js';
import { anyOf, sql, type Sql } from '../database/sql.js';
import { appendToLog } from '../sharing/log.js';
import type { Presence, PresenceChangedEvent, PresenceUpdatedEvent, Room } from '../types.js';
import { PRESENCE_COLUMNS, toPresence, type PresenceRow, type RepositoryContext } from './context.js';

/** A room change before it is emitted (`remote` is added then). */
export type Change = Omit<PresenceChangedEvent, 'remote'>;

/** A room change with the users whose first connection joined or last connection left. */
export interface RecordedChange extends Change {
  usersJoined: string[];
  usersLeft: string[];
}

/** A presence whose metadata changed. */
export type Update = Omit<PresenceUpdatedEvent, 'remote'>;

/** What the shared log holds and `publish` emits: room changes (with their user transitions when known) and metadata updates. */
export type Entry = (Change & Partial<Pick<RecordedChange, 'usersJoined' | 'usersLeft'>>) | Update;

/** First key of the advisory locks on rooms: "pres". */
const ROOM_LOCK_NAMESPACE = 0x70726573;
/**
 * Rooms share this many lock keys (room id modulo), so that a write over 20,000 rooms
 * takes at most this many locks: PostgreSQL's lock table holds only a few thousand.
 */
const ROOM_LOCK_KEYS = 64;

/** Whether writes must report per-user transitions or log for other processes. */
export function needsDetail(context: RepositoryContext): boolean {
  return context.sharing.enabled || context.events.has('userJoined') || context.events.has('userLeft');
}

/** Whether writes must return the rows they changed. */
export function needsRows(context: RepositoryContext): boolean {
  return needsDetail(context) || context.events.has('changed');
}

/** Locks the rooms' lock keys for the rest of the transaction, in key order so that writers never deadlock. PostgreSQL only. */
export async function lockRooms(context: RepositoryContext, tx: Transaction, roomIds: number[]): Promise<void> {
  await lockKeys(context, tx, roomIds.map((id) => id % ROOM_LOCK_KEYS));
}

async function lockKeys(context: RepositoryContext, tx: Transaction, keys: number[]): Promise<void> {
  if (context.db.dialect !== 'postgresql' || keys.length === 0) return;
  const sorted = [...new Set(keys)].sort((a, b) => a - b);
  await tx.query(sql`
    SELECT count(pg_advisory_xact_lock(${ROOM_LOCK_NAMESPACE}, l.key)) AS "locked"
    FROM (SELECT unnest(${sorted}::int[]) AS key ORDER BY 1) l`);
}

/**
 * Deletes the presences matching `condition` (remove, leaveAll, a server's shutdown) and
 * emits one `removed` change per row. Returns how many it deleted.
 */
export async function deletePresences(context: RepositoryContext, condition: Sql): Promise<number> {
  const write = (runner: Transaction) => deleteWith(context, runner, condition, 'removed');
  const { count, entries } = needsDetail(context) ? await context.db.transaction(write) : await write(context.db);
  publish(context, entries);
  return count;
}

/**
 * Deletes the presences matching `condition` through `runner` (a transaction when
 * details are needed) and returns what to publish once committed: a `removed` change
 * per row, or for a prune one bulk change per room.
 */
export async function deleteWith(
  context: RepositoryContext,
  runner: Transaction,
  condition: Sql,
  kind: 'removed' | 'pruned',
): Promise<{ count: number; entries: Entry[] }> {
  const detail = needsDetail(context);
  let scope = sql``;
  if (detail && context.db.dialect === 'postgresql') {
    const keys = await runner.query<{ key: number | bigint }>(sql`SELECT DISTINCT mod("roomId", ${ROOM_LOCK_KEYS}) AS "key" FROM "Presence" WHERE ${condition}`);
    if (keys.length === 0) return { count: 0, entries: [] };
    await lockKeys(context, runner, keys.map((row) => Number(row.key)));
    // Rows of rooms whose keys it does not hold (added meanwhile) are left for a later write.
    scope = sql` AND mod("roomId", ${ROOM_LOCK_KEYS}) ${anyOf(keys.map((row) => Number(row.key)), 'bigint')}`;
  }
  if (!needsRows(context)) return { count: await runner.execute(sql`DELETE FROM "Presence" WHERE ${condition}${scope}`), entries: [] };
  const rows = await runner.query<PresenceRow>(sql`
    DELETE FROM "Presence" WHERE ${condition}${scope}
    RETURNING ${PRESENCE_COLUMNS}, (SELECT r."channelName" FROM "Room" r WHERE r."id" = "Presence"."roomId") AS "roomName"`);
  const changes = kind === 'pruned' ? prunedByRoom(rows) : removals(rows);
  return { count: rows.length, entries: detail ? await recordChanges(context, runner, changes) : changes };
}

/** One `removed` change per deleted row. */
function removals(rows: PresenceRow[]): Change[] {
  return rows.map((row) => {
    const removed = toPresence(row);
    return { room: { id: removed.roomId, channelName: row.roomName ?? '' }, added: null, removed, bulkChange: false, pruned: [] };
  });
}

/** One bulk change per room, listing the presences a prune removed from it. */
function prunedByRoom(rows: PresenceRow[]): Change[] {
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
 * Inside the change's transaction, with its rooms locked: works out which users joined
 * or left, and logs the changes for other processes when sharing is on.
 */
export async function recordChanges(context: RepositoryContext, tx: Transaction, changes: Change[]): Promise<RecordedChange[]> {
  const recorded = await withUserTransitions(context, tx, changes);
  if (context.sharing.enabled) await appendToLog(context, tx, recorded);
  return recorded;
}

/** Inside the update's transaction: logs it for other processes when sharing is on. */
export async function recordUpdates(context: RepositoryContext, tx: Transaction, updates: Update[]): Promise<Update[]> {
  if (context.sharing.enabled) await appendToLog(context, tx, updates);
  return updates;
}

/**
 * A user joined a room when the change added their connection and it is now their only
 * one there; left when it removed one and none is left. A connection that changed
 * user is both: the new user's join and the old user's leave.
 */
async function withUserTransitions(context: RepositoryContext, tx: Transaction, changes: Change[]): Promise<RecordedChange[]> {
  const touched = new Map<string, { roomId: number; userId: string }>();
  for (const change of changes) {
    for (const presence of [change.added, change.removed, ...change.pruned]) {
      if (presence?.userId != null) touched.set(userKey(presence.roomId, presence.userId), { roomId: presence.roomId, userId: presence.userId });
    }
  }
  const counts = await connectionCounts(context, tx, [...touched.values()]);
  const connections = (presence: Presence) => counts.get(userKey(presence.roomId, presence.userId!)) ?? 0;
  return changes.map((change) => {
    const joined = change.added?.userId != null && connections(change.added) === 1 ? [change.added.userId] : [];
    const gone = [change.removed, ...change.pruned].filter(
      (p): p is Presence => p?.userId != null && p.userId !== change.added?.userId && connections(p) === 0,
    );
    return { ...change, usersJoined: joined, usersLeft: [...new Set(gone.map((p) => p.userId!))] };
  });
}

/** How many connections each (room, user) pair has now, in one statement whatever the number of pairs. */
async function connectionCounts(context: RepositoryContext, tx: Transaction, pairs: { roomId: number; userId: string }[]): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  if (pairs.length === 0) return counts;
  const wanted =
    context.db.dialect === 'postgresql'
      ? sql`unnest(${pairs.map((pair) => pair.roomId)}::bigint[], ${pairs.map((pair) => pair.userId)}::text[]) AS w("roomId", "userId")`
      : sql`(SELECT json_extract(value, '$[0]') AS "roomId", json_extract(value, '$[1]') AS "userId" FROM json_each(${JSON.stringify(pairs.map((pair) => [pair.roomId, pair.userId]))})) w`;
  const rows = await tx.query<{ roomId: number | bigint; userId: string; n: number | bigint }>(sql`
    SELECT p."roomId", p."userId", count(*) AS "n" FROM "Presence" p
    JOIN ${wanted} ON p."roomId" = w."roomId" AND p."userId" = w."userId"
    GROUP BY p."roomId", p."userId"`);
  for (const row of rows) counts.set(userKey(Number(row.roomId), row.userId), Number(row.n));
  return counts;
}

const userKey = (roomId: number, userId: string) => `${roomId}\u0000${userId}`;

/** Emits committed entries to this process's listeners: `changed`, then per-user leaves and joins; or `updated`. */
export function publish(context: RepositoryContext, entries: Entry[], remote = false): void {
  for (const entry of entries) {
    if ('presence' in entry) {
      context.events.emit('updated', { ...entry, remote });
      continue;
    }
    const { usersJoined = [], usersLeft = [], ...change } = entry;
    context.events.emit('changed', { ...change, remote });
    // A connection that changed user: the old user leaves before the new one joins.
    for (const userId of usersLeft) context.events.emit('userLeft', { room: change.room, userId, remote });
    for (const userId of usersJoined) context.events.emit('userJoined', { room: change.room, userId, remote });
  }
}
