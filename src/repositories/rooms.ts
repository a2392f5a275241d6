import type { Transaction } from '../database/database.js';
import { driverErrorKind } from '../database/errors.js';
import { anyOf, sql } from '../database/sql.js';
import { PresenceError } from '../errors.js';
import type { AddOptions, Presence, Room, RoomsRepository } from '../types.js';
import { assertChannelName, normalizeUserId, parseSeconds, serializeMetadata } from '../validation.js';
import { presenceStats } from './stats.js';
import { trimLog } from '../sharing/log.js';
import { deletePresences, deleteWith, lockRooms, needsDetail, needsRows, publish, recordChanges, recordUpdates, type Change, type Entry, type Update } from './changes.js';
import { PRESENCE_COLUMNS, toPresence, type PresenceRow, type RepositoryContext } from './context.js';

/** How many times `add` starts over after a failure its retry can mend (a safety net: see `join`). */
const ADD_ATTEMPTS = 5;

export function createRoomsRepository(context: RepositoryContext): RoomsRepository {
  const { db } = context;

  async function add(roomChannelName: string, userChannelName: string, userId?: string | number | null, options: AddOptions = {}): Promise<Room> {
    assertChannelName(roomChannelName, 'roomChannelName');
    assertChannelName(userChannelName, 'userChannelName');
    if (typeof options !== 'object' || options === null) throw new PresenceError('INVALID_ARGUMENT', 'add options must be an object');
    const joining: Joining = {
      roomName: roomChannelName,
      channelName: userChannelName,
      userId: normalizeUserId(userId),
      metadata: options.metadata === undefined ? undefined : serializeMetadata(options.metadata, context.maxMetadataBytes),
      serverId: context.server?.id ?? null,
    };
    await context.server?.ensureRegistered();
    context.departures.cancel(userChannelName); // back within the grace period: it stays
    for (let attempt = 1; ; attempt++) {
      const known = context.roomIds.get(roomChannelName);
      try {
        // A known room on PostgreSQL is one statement, unless reporting needs the room's lock.
        const alone = known !== undefined && db.dialect === 'postgresql' && !needsDetail(context);
        const { room, entries } = alone ? await join(db, joining, known) : await db.transaction((tx) => join(tx, joining, known));
        context.roomIds.set(room);
        publish(context, entries);
        return room;
      } catch (error) {
        // The known room was pruned meanwhile: the next attempt finds or makes it, holding it.
        if (driverErrorKind(error) !== 'ForeignKeyConstraintViolation' || attempt >= ADD_ATTEMPTS) throw error;
        context.roomIds.forget(roomChannelName);
      }
    }
  }

  /**
   * Puts the connection in the room and returns what to publish. Without a known room
   * it runs in a transaction that holds the room from finding (or creating) it to
   * the insert, so a concurrent pruneRooms cannot delete it in between.
   */
  async function join(runner: Transaction, joining: Joining, known: Room | undefined): Promise<{ room: Room; entries: Entry[] }> {
    const room = known ?? (await holdRoom(runner, joining.roomName));
    const detail = needsDetail(context);
    if (detail) await lockRooms(context, runner, [room.id]);
    const { presence, previous } = await upsertPresence(runner, room, joining);
    const changes: Change[] = [];
    if (previous === undefined || previous.userId !== presence.userId) {
      changes.push({ room, added: presence, removed: previous ?? null, bulkChange: false, pruned: [] });
    }
    const updates: Update[] = previous !== undefined && joining.metadata !== undefined ? [{ room, presence }] : [];
    if (!detail) return { room, entries: [...changes, ...updates] };
    return { room, entries: [...(await recordChanges(context, runner, changes)), ...(await recordUpdates(context, runner, updates))] };
  }

  /**
   * Finds or creates the room inside the caller's transaction and keeps it from being
   * deleted until that ends (on PostgreSQL a KEY SHARE lock; on SQLite the transaction
   * holds the write lock). A room that exists costs no id.
   */
  async function holdRoom(tx: Transaction, channelName: string): Promise<Room> {
    const hold = db.dialect === 'postgresql' ? sql` FOR KEY SHARE` : sql``;
    for (let attempt = 1; attempt <= ADD_ATTEMPTS; attempt++) {
      const [found] = await tx.query<{ id: number | bigint }>(sql`SELECT "id" FROM "Room" WHERE "channelName" = ${channelName}${hold}`);
      if (found) return { id: Number(found.id), channelName };
      // DO NOTHING when another transaction creates it meanwhile: the next SELECT sees it.
      const [created] = await tx.query<{ id: number | bigint }>(sql`
        INSERT INTO "Room" ("channelName") VALUES (${channelName}) ON CONFLICT ("channelName") DO NOTHING RETURNING "id"`);
      if (created) return { id: Number(created.id), channelName };
    }
    throw new PresenceError('DATABASE_UNAVAILABLE', `Creating room "${channelName}" kept racing concurrent prunes`);
  }

  /**
   * Inserts the presence, or refreshes it (user, lastSeen, server, and metadata when
   * given), and returns it with the row it replaced (undefined for a new presence).
   */
  async function upsertPresence(runner: Transaction, room: Room, joining: Joining): Promise<{ presence: Presence; previous: Presence | undefined }> {
    const { channelName, userId, metadata, serverId } = joining;
    const lastSeen = context.now();
    const keepOrReplace = metadata === undefined ? sql`` : sql`, "metadata" = ${metadata}`;
    const upsert = sql`
      INSERT INTO "Presence" ("roomId", "channelName", "userId", "lastSeen", "metadata", "serverId")
      VALUES (${room.id}, ${channelName}, ${userId}, ${lastSeen}, ${metadata ?? null}, ${serverId})
      ON CONFLICT ("roomId", "channelName") DO UPDATE
      SET "userId" = excluded."userId", "lastSeen" = excluded."lastSeen", "serverId" = excluded."serverId"${keepOrReplace}
      RETURNING ${PRESENCE_COLUMNS}`;
    const before = sql`SELECT ${PRESENCE_COLUMNS} FROM "Presence" WHERE "roomId" = ${room.id} AND "channelName" = ${channelName}`;
    if (db.dialect === 'postgresql' && !needsRows(context)) {
      // Nobody needs the replaced row (only whether there was one): xmax is 0 only on a freshly inserted row.
      const [row] = await runner.query<PresenceRow & { created: boolean }>(sql`${upsert}, (xmax = 0) AS "created"`);
      const presence = toPresence(row!);
      return { presence, previous: row!.created ? undefined : presence };
    }
    // The row it replaces, read first. Exact where reporting needs it to be: on SQLite the
    // transaction holds the write lock; per-user events hold the room's lock key.
    const [previous] = await runner.query<PresenceRow>(before);
    const [row] = await runner.query<PresenceRow>(upsert);
    return { presence: toPresence(row!), previous: previous && toPresence(previous) };
  }

  async function remove(roomChannelName: string, userChannelName: string): Promise<void> {
    assertChannelName(roomChannelName, 'roomChannelName');
    assertChannelName(userChannelName, 'userChannelName');
    await deletePresences(context, sql`"channelName" = ${userChannelName} AND "roomId" IN (SELECT "id" FROM "Room" WHERE "channelName" = ${roomChannelName})`);
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
    const seconds = maxAge === undefined ? context.maxAge : parseSeconds(maxAge, 'maxAge');
    // A touch still in the buffer must not let its presence look stale.
    await context.touches.flush();
    const now = context.now();
    const staleSince = sql`"lastSeen" < ${new Date(now.getTime() - seconds * 1000)}`;
    const { count, entries } = await db.transaction(async (tx) => {
      // Servers whose liveness expired, locked so that one writing its liveness now
      // waits for this prune, or is not dead to it: never half reaped.
      const lock = db.dialect === 'postgresql' ? sql` FOR UPDATE` : sql``;
      const dead = (await tx.query<{ id: string }>(sql`SELECT "id" FROM "PresenceServer" WHERE "expiresAt" < ${now}${lock}`)).map((row) => row.id);
      // Asked apart because an OR with the server ids would keep the common case off the lastSeen index.
      const stale = dead.length === 0 ? staleSince : sql`(${staleSince} OR "serverId" ${anyOf(dead, 'text')})`;
      const deleted = await deleteWith(context, tx, stale, 'pruned');
      if (dead.length > 0) await tx.execute(sql`DELETE FROM "PresenceServer" WHERE "id" ${anyOf(dead, 'text')}`);
      await trimLog(tx, db.dialect, now, context.sharing.retention);
      return deleted;
    });
    publish(context, entries);
    return count;
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
      // PostgreSQL 15 reports the refused delete as a foreign key violation (23503), 18 as a restrict violation (23001).
      const kind = driverErrorKind(error);
      if (kind !== 'ForeignKeyConstraintViolation' && kind !== 'RestrictViolation') throw error;
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
      const empty = await tx.query<{ id: number | bigint }>(sql`
        SELECT "id" FROM "Room" r WHERE NOT EXISTS (SELECT 1 FROM "Presence" p WHERE p."roomId" = r."id")
        FOR UPDATE SKIP LOCKED`);
      if (empty.length === 0) return 0;
      return tx.execute(sql`
        DELETE FROM "Room" r
        WHERE r."id" ${anyOf(empty.map((row) => Number(row.id)), 'bigint')}
          AND NOT EXISTS (SELECT 1 FROM "Presence" p WHERE p."roomId" = r."id")`);
    });
  }

  const stats = (roomNames?: readonly string[], maxAge?: number) => presenceStats(context, roomNames, maxAge);

  return { add, remove, getUsers, getPresences, getAnonymousCount, prunePresences, pruneRooms, stats };
}

/** A connection about to be added, its inputs checked and serialized. */
interface Joining {
  roomName: string;
  channelName: string;
  userId: string | null;
  /** JSON text, or undefined to keep what is stored. */
  metadata: string | undefined;
  serverId: string | null;
}
