import { sql } from '../database/sql.js';
import { assertChannelName } from '../validation.js';
import { deleteLocked, needsDetail, publish, recordChanges, removals } from './changes.js';
import { PRESENCE_COLUMNS, type PresenceRow, type RepositoryContext } from './context.js';

/** The Django `Presence.objects` manager: one connection across all its rooms. */
export interface PresencesRepository {
  /** Sets `lastSeen` to now in every room the connection is in; no-op for an unknown channel. */
  touch(channelName: string): Promise<void>;
  /** Removes the connection from every room; emits `changed` with `removed` per room it left. */
  leaveAll(channelName: string): Promise<void>;
  /** Writes the touches that `touchPresence` has buffered (see the `touchInterval` option) now. */
  flush(): Promise<void>;
}

export function createPresencesRepository(context: RepositoryContext): PresencesRepository {
  const { db } = context;

  async function touch(channelName: string): Promise<void> {
    assertChannelName(channelName, 'channelName');
    await db.execute(sql`UPDATE "Presence" SET "lastSeen" = ${context.now()} WHERE "channelName" = ${channelName}`);
  }

  async function leaveAll(channelName: string): Promise<void> {
    assertChannelName(channelName, 'channelName');
    if (needsDetail(context)) {
      const changes = await db.transaction(async (tx) =>
        recordChanges(context, tx, removals(await deleteLocked(context, tx, sql`"channelName" = ${channelName}`))),
      );
      return publish(context, changes);
    }
    if (!context.events.has('changed')) {
      await db.execute(sql`DELETE FROM "Presence" WHERE "channelName" = ${channelName}`);
      return;
    }
    const rows = await db.query<PresenceRow>(sql`
      DELETE FROM "Presence" WHERE "channelName" = ${channelName}
      RETURNING ${PRESENCE_COLUMNS}, (SELECT r."channelName" FROM "Room" r WHERE r."id" = "Presence"."roomId") AS "roomName"`);
    publish(context, removals(rows));
  }

  return { touch, leaveAll, flush: () => context.touches.flush() };
}
