import { driverErrorKind, type Database, type Transaction } from '../database/client.js';
import { list, sql } from '../database/sql.js';
import { PresenceError } from '../errors.js';
import type { Presence, PresenceMetadata, Room } from '../types.js';
import { assertChannelName, normalizeUserId, parseMaxAge, serializeMetadata } from '../validation.js';
import { trimLog } from '../sharing/log.js';
import { presenceStats, type PresenceStats } from './stats.js';
import { deleteLocked, lockRooms, needsDetail, prunedByRoom, publish, recordChanges, recordUpdates, removeMatching } from './changes.js';
import { PRESENCE_COLUMNS, toPresence, type PresenceRow, type RepositoryContext } from './context.js';

/** The Django `Room.objects` manager: who is in which room. */
export interface RoomsRepository {
  /**
   * Puts a connection in a room, creating the room if needed, and returns the room.
   * Adding a connection that is already there refreshes `lastSeen` and its user, and
   * emits nothing (but `updated` when `metadata` is given); a new presence emits
   * `changed` with `added`, and `userJoined` for the user's first connection there.
   */
  add(roomChannelName: string, userChannelName: string, userId?: string | number | null, options?: AddOptions): Promise<Room>;
  /** Takes a connection out of a room; emits `changed` with `removed`. Unknown room or channel: no-op. */
  remove(roomChannelName: string, userChannelName: string): Promise<void>;
  /** Distinct user ids present in the room, sorted; `[]` for an unknown or empty room. */
  getUsers(roomChannelName: string): Promise<string[]>;
  /** Every connection in the room with its user and metadata, by channel name, in one query. */
  getPresences(roomChannelName: string): Promise<Presence[]>;
  /** How many connections without a user are in the room; 0 for an unknown room. */
  getAnonymousCount(roomChannelName: string): Promise<number>;
  /**
   * Removes presences not seen for `maxAge` seconds (default: the instance's max age),
   * and every presence of a registered server whose liveness expired, in one statement;
   * emits one `changed` with `bulkChange: true` and the `pruned` list per affected room.
   * Returns how many presences it removed.
   */
  prunePresences(maxAge?: number): Promise<number>;
  /** Removes rooms without presences; never one that a concurrent add is joining. Returns how many. */
  pruneRooms(): Promise<number>;
  /**
   * Counts rooms, presences, distinct users, anonymous and stale presences (older than
   * `maxAge`, default the instance's), per room and in total, in one query. `roomNames`
   * narrows it to those rooms; unknown names are left out.
   */
  stats(roomNames?: readonly string[], maxAge?: number): Promise<PresenceStats>;
}

/** Options of `rooms.add`. */
export interface AddOptions {
  /**
   * The connection's state, a JSON object (at most `maxMetadataBytes`). Given for a
   * connection already present, it replaces the stored metadata and emits `updated`;
   * left out, the stored metadata stays.
   */
  metadata?: PresenceMetadata;
}

/** How many times `add` re-creates a room that another process pruned under it. */
const ADD_ATTEMPTS = 5;

export function createRoomsRepository(context: RepositoryContext): RoomsRepository {
  const { db, events } = context;

  async function add(roomChannelName: string, userChannelName: string, userId?: string | number | null, options: AddOptions = {}): Promise<Room> {
    assertChannelName(roomChannelName, 'roomChannelName');
    assertChannelName(userChannelName, 'userChannelName');
    if (typeof options !== 'object' || options === null) throw new PresenceError('INVALID_ARGUMENT', 'add options must be an object');
    const joining: Joining = {
      channelName: userChannelName,
      userId: normalizeUserId(userId),
      metadata: options.metadata === undefined ? undefined : serializeMetadata(options.metadata, context.maxMetadataBytes),
      serverId: context.server?.id ?? null,
    };
    await context.server?.ensureRegistered();
    context.departures?.cancel(userChannelName); // back within the grace period: it stays
    for (let attempt = 1; ; attempt++) {
      const room = context.roomIds.get(roomChannelName) ?? (await ensureRoom(roomChannelName));
      try {
        await (needsDetail(context) || (joining.metadata !== undefined && events.has('updated')) ? addRecorded(room, joining) : addPlain(room, joining));
        return room;
      } catch (error) {
        // The room was pruned between finding it and joining it: make it again.
        if (driverErrorKind(error) !== 'ForeignKeyConstraintViolation' || attempt >= ADD_ATTEMPTS) throw error;
        context.roomIds.forget(roomChannelName);
      }
    }
  }

  async function ensureRoom(channelName: string): Promise<Room> {
    // DO UPDATE (not DO NOTHING) so that RETURNING yields the row when it already exists.
    const [row] = await db.query<{ id: number | bigint; channelName: string }>(sql`
      INSERT INTO "Room" ("channelName") VALUES (${channelName})
      ON CONFLICT ("channelName") DO UPDATE SET "channelName" = excluded."channelName"
      RETURNING "id", "channelName"`);
    if (!row) throw new PresenceError('DATABASE_UNAVAILABLE', `Creating room "${channelName}" returned no row`);
    const room = { id: Number(row.id), channelName: row.channelName };
    context.roomIds.set(room);
    return room;
  }

  async function addPlain(room: Room, joining: Joining): Promise<void> {
    const { presence, created } = await upsertPresence(db, room, joining);
    if (created) publish(context, [{ room, added: presence, removed: null, bulkChange: false, pruned: [] }]);
  }

  async function addRecorded(room: Room, joining: Joining): Promise<void> {
    const recorded = await db.transaction(async (tx) => {
      await lockRooms(context, tx, [room.id]);
      const { presence, created } = await upsertPresence(tx, room, joining);
      if (created) return recordChanges(context, tx, [{ room, added: presence, removed: null, bulkChange: false, pruned: [] }]);
      return joining.metadata === undefined ? [] : recordUpdates(context, tx, [{ room, presence }]);
    });
    publish(context, recorded);
  }

  /** Inserts the presence, or refreshes it (user, lastSeen, server, and metadata when given). */
  async function upsertPresence(db: Database | Transaction, room: Room, joining: Joining) {
    const { channelName, userId, metadata, serverId } = joining;
    const lastSeen = context.now();
    const keepOrReplace = metadata === undefined ? sql`` : sql`, "metadata" = ${metadata}`;
    if (context.db.dialect === 'postgresql') {
      // xmax is 0 only on a freshly inserted row version: it tells insert from update.
      const [row] = await db.query<PresenceRow & { created: boolean }>(sql`
        INSERT INTO "Presence" ("roomId", "channelName", "userId", "lastSeen", "metadata", "serverId")
        VALUES (${room.id}, ${channelName}, ${userId}, ${lastSeen}, ${metadata ?? null}, ${serverId})
        ON CONFLICT ("roomId", "channelName") DO UPDATE
        SET "userId" = excluded."userId", "lastSeen" = excluded."lastSeen", "serverId" = excluded."serverId"${keepOrReplace}
        RETURNING ${PRESENCE_COLUMNS}, (xmax = 0) AS "created"`);
      return { presence: toPresence(row!), created: row!.created };
    }
    for (let attempt = 1; ; attempt++) {
      const [inserted] = await db.query<PresenceRow>(sql`
        INSERT INTO "Presence" ("roomId", "channelName", "userId", "lastSeen", "metadata", "serverId")
        VALUES (${room.id}, ${channelName}, ${userId}, ${lastSeen}, ${metadata ?? null}, ${serverId})
        ON CONFLICT ("roomId", "channelName") DO NOTHING
        RETURNING ${PRESENCE_COLUMNS}`);
      if (inserted) return { presence: toPresence(inserted), created: true };
      const [updated] = await db.query<PresenceRow>(sql`
        UPDATE "Presence" SET "userId" = ${userId}, "lastSeen" = ${lastSeen}, "serverId" = ${serverId}${keepOrReplace}
        WHERE "roomId" = ${room.id} AND "channelName" = ${channelName}
        RETURNING ${PRESENCE_COLUMNS}`);
      if (updated) return { presence: toPresence(updated), created: false };
      // Removed by someone else between the two statements: insert it again, a few times at most.
      if (attempt >= ADD_ATTEMPTS) {
        throw new PresenceError('DATABASE_UNAVAILABLE', `Joining room "${room.channelName}" kept racing concurrent removals`);
      }
    }
  }

  async function remove(roomChannelName: string, userChannelName: string): Promise<void> {
    assertChannelName(roomChannelName, 'roomChannelName');
    assertChannelName(userChannelName, 'userChannelName');
    await removeMatching(context, sql`"channelName" = ${userChannelName} AND "roomId" IN (SELECT "id" FROM "Room" WHERE "channelName" = ${roomChannelName})`);
  }

  async function getUsers(roomChannelName: string): Promise<string[]> {
    assertChannelName(roomChannelName, 'roomChannelName');
    const rows = await db.query<{ userId: string }>(sql`
      SELECT DISTINCT p."userId" FROM "Presence" p JOIN "Room" r ON r."id" = p."roomId"
      WHERE r."channelName" = ${roomChannelName} AND p."userId" IS NOT NULL
      ORDER BY p."userId"`);
    return rows.map((row) => row.userId);
  }

  async function getPresences(roomChannelName: string): Promise<Presence[]> {
    assertChannelName(roomChannelName, 'roomChannelName');
    const rows = await db.query<PresenceRow>(sql`
      SELECT ${PRESENCE_COLUMNS} FROM "Presence"
      WHERE "roomId" IN (SELECT "id" FROM "Room" WHERE "channelName" = ${roomChannelName})
      ORDER BY "channelName"`);
    return rows.map(toPresence);
  }

  async function getAnonymousCount(roomChannelName: string): Promise<number> {
    assertChannelName(roomChannelName, 'roomChannelName');
    const [row] = await db.query<{ count: number | bigint }>(sql`
      SELECT count(*) AS "count" FROM "Presence" p JOIN "Room" r ON r."id" = p."roomId"
      WHERE r."channelName" = ${roomChannelName} AND p."userId" IS NULL`);
    return Number(row?.count ?? 0);
  }

  async function prunePresences(maxAge?: number): Promise<number> {
    const seconds = maxAge === undefined ? context.maxAge : parseMaxAge(maxAge);
    // A touch still in the buffer must not let its presence look stale.
    await context.touches.flush();
    const now = context.now();
    const staleSince = sql`"lastSeen" < ${new Date(now.getTime() - seconds * 1000)}`;
    // Also every presence of a registered server whose liveness expired. Asked apart
    // because the OR would keep the common case (no dead server) off the lastSeen index.
    const deadServers = await db.query<{ id: string }>(sql`SELECT "id" FROM "PresenceServer" WHERE "expiresAt" < ${now}`);
    const stale = deadServers.length === 0 ? staleSince : sql`(${staleSince} OR "serverId" IN (${list(deadServers.map((row) => row.id))}))`;
    await trimLog(db, now, context.sharing.retention);
    if (needsDetail(context)) {
      const { changes, count } = await db.transaction(async (tx) => {
        const rows = await deleteLocked(context, tx, stale);
        return { changes: await recordChanges(context, tx, prunedByRoom(rows)), count: rows.length };
      });
      publish(context, changes);
      await forgetDeadServers(deadServers.map((row) => row.id));
      return count;
    }
    if (!events.has('changed')) {
      const count = await db.execute(sql`DELETE FROM "Presence" WHERE ${stale}`);
      await forgetDeadServers(deadServers.map((row) => row.id));
      return count;
    }
    const rows = await db.query<PresenceRow>(sql`
      DELETE FROM "Presence" WHERE ${stale}
      RETURNING ${PRESENCE_COLUMNS}, (SELECT r."channelName" FROM "Room" r WHERE r."id" = "Presence"."roomId") AS "roomName"`);
    publish(context, prunedByRoom(rows));
    await forgetDeadServers(deadServers.map((row) => row.id));
    return rows.length;
  }

  /** Drops the liveness rows of dead servers, whose presences the prune just removed. */
  async function forgetDeadServers(ids: string[]): Promise<void> {
    if (ids.length > 0) await db.execute(sql`DELETE FROM "PresenceServer" WHERE "id" IN (${list(ids)})`);
  }

  async function pruneRooms(): Promise<number> {
    const pruned = db.dialect === 'postgresql' ? await pruneRoomsGuarded() : await pruneRoomsAtomically();
    context.roomIds.clear();
    return pruned;
  }

  /** On SQLite one writer runs at a time, so a single statement cannot race an insert. */
  function pruneRoomsAtomically(): Promise<number> {
    return db.execute(sql`
      DELETE FROM "Room" WHERE NOT EXISTS (SELECT 1 FROM "Presence" p WHERE p."roomId" = "Room"."id")`);
  }

  /**
   * On PostgreSQL a single DELETE's snapshot can miss a presence committed while it runs.
   * The shipped foreign key (ON DELETE RESTRICT) checks with a fresh snapshot and then
   * refuses the whole statement, so the prune starts over with locks. A foreign key that
   * cascades (an application's schema copied from an older models.prisma) would delete
   * that presence instead: with one, every prune takes the locks.
   */
  async function pruneRoomsGuarded(): Promise<number> {
    if (await roomDeletesCascade()) return pruneRoomsLocking();
    try {
      return await pruneRoomsAtomically();
    } catch (error) {
      if (driverErrorKind(error) !== 'ForeignKeyConstraintViolation') throw error;
      return pruneRoomsLocking();
    }
  }

  let cascading: Promise<boolean> | undefined;
  /** Whether deleting a room would change its presences rather than fail (asked once). */
  function roomDeletesCascade(): Promise<boolean> {
    cascading ??= db
      .query<{ cascades: boolean }>(sql`
        SELECT EXISTS (
          SELECT 1 FROM pg_constraint
          WHERE contype = 'f' AND conrelid = '"Presence"'::regclass AND confrelid = '"Room"'::regclass
            AND confdeltype NOT IN ('a', 'r')
        ) AS "cascades"`)
      .then(
        ([row]) => row?.cascades === true,
        (error: unknown) => {
          cascading = undefined; // asked again next time
          throw error;
        },
      );
    return cascading;
  }

  /**
   * Lock the empty rooms, skipping any a concurrent insert holds through its foreign key;
   * then delete them in a second statement, whose fresh snapshot sees every presence
   * committed before the locks were taken. Inserts into locked rooms wait, then fail
   * their foreign key, and `add` re-creates the room.
   */
  function pruneRoomsLocking(): Promise<number> {
    return db.transaction(async (tx) => {
      const empty = await tx.query<{ id: number }>(sql`
        SELECT "id" FROM "Room" r WHERE NOT EXISTS (SELECT 1 FROM "Presence" p WHERE p."roomId" = r."id")
        FOR UPDATE SKIP LOCKED`);
      if (empty.length === 0) return 0;
      return tx.execute(sql`
        DELETE FROM "Room" r
        WHERE r."id" = ANY(${empty.map((row) => Number(row.id))}::int[])
          AND NOT EXISTS (SELECT 1 FROM "Presence" p WHERE p."roomId" = r."id")`);
    });
  }

  const stats = (roomNames?: readonly string[], maxAge?: number) => presenceStats(context, roomNames, maxAge);

  return { add, remove, getUsers, getPresences, getAnonymousCount, prunePresences, pruneRooms, stats };
}

/** A connection about to be added, its inputs checked and serialized. */
interface Joining {
  channelName: string;
  userId: string | null;
  /** JSON text, or undefined to keep what is stored. */
  metadata: string | undefined;
  serverId: string | null;
}
