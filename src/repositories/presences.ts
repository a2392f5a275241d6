import { sql } from '../database/sql.js';
import { PresenceError } from '../errors.js';
import type { PresenceMetadata, PresencesRepository, UpdateOptions } from '../types.js';
import { assertChannelName, serializeMetadata } from '../validation.js';
import { publish, recordUpdates, deletePresences, type Update } from './changes.js';
import { PRESENCE_COLUMNS, toPresence, type PresenceRow, type RepositoryContext } from './context.js';

export function createPresencesRepository(context: RepositoryContext): PresencesRepository {
  const { db } = context;

  async function touch(channelName: string): Promise<void> {
    assertChannelName(channelName, 'channelName');
    await db.execute(sql`UPDATE "Presence" SET "lastSeen" = ${context.now()} WHERE "channelName" = ${channelName}`);
  }

  async function leaveAll(channelName: string): Promise<void> {
    assertChannelName(channelName, 'channelName');
    await deletePresences(context, sql`"channelName" = ${channelName}`);
  }

  async function update(channelName: string, metadata: PresenceMetadata, options: UpdateOptions = {}): Promise<number> {
    assertChannelName(channelName, 'channelName');
    if (typeof options !== 'object' || options === null) throw new PresenceError('INVALID_ARGUMENT', 'update options must be an object');
    if (options.room !== undefined) assertChannelName(options.room, 'room');
    const replacement = serializeMetadata(metadata, context.maxMetadataBytes); // valid even when merged into nothing
    const inRoom = options.room === undefined ? sql`` : sql` AND "roomId" IN (SELECT "id" FROM "Room" WHERE "channelName" = ${options.room})`;
    const lock = db.dialect === 'postgresql' ? sql` FOR UPDATE` : sql``;
    const updates = await db.transaction(async (tx) => {
      const rows = await tx.query<PresenceRow>(sql`
        SELECT ${PRESENCE_COLUMNS}, (SELECT r."channelName" FROM "Room" r WHERE r."id" = "Presence"."roomId") AS "roomName"
        FROM "Presence" WHERE "channelName" = ${channelName}${inRoom} ORDER BY "id"${lock}`);
      const changed: Update[] = [];
      for (const row of rows) {
        const json = options.replace ? replacement : serializeMetadata({ ...toPresence(row).metadata, ...metadata }, context.maxMetadataBytes);
        const [updated] = await tx.query<PresenceRow>(sql`
          UPDATE "Presence" SET "metadata" = ${json} WHERE "id" = ${row.id} RETURNING ${PRESENCE_COLUMNS}`);
        if (updated) changed.push({ room: { id: Number(row.roomId), channelName: row.roomName ?? '' }, presence: toPresence(updated) });
      }
      return recordUpdates(context, tx, changed);
    });
    publish(context, updates);
    return updates.length;
  }

  return {
    touch,
    leaveAll,
    disconnect: (channelName) => {
      assertChannelName(channelName, 'channelName');
      return context.departures.depart(channelName);
    },
    update,
    flush: () => context.touches.flush(),
  };
}
