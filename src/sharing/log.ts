// The shared log (PresenceEvent): appended to inside each change's transaction, trimmed
// by age by every prune, read by EventFeed (./feed.ts).
import type { Database, Transaction } from '../database/client.js';
import { sql, type Sql } from '../database/sql.js';
import type { Entry } from '../repository/changes.js';
import type { RepositoryContext } from '../repository/context.js';

/** The PostgreSQL NOTIFY channel that wakes readers of the shared log. */
export const NOTIFY_CHANNEL = 'prisma_presence';
/**
 * The origin of a PostgreSQL trim marker: an entry a trim writes in its own statement,
 * whose payload `{"trimmedThrough":"<txid>"}` is the highest writing transaction among
 * the entries it removed. A reader that had not read every transaction up to that one
 * may have lost entries.
 */
export const TRIM_ORIGIN = 'trim';
/** Log rows per INSERT, well under both engines' parameter limits. */
const LOG_CHUNK = 500;
/** The current transaction's 64-bit id; xid8 has no direct cast to bigint. */
const CURRENT_TXID = sql`pg_current_xact_id()::text::bigint`;

/**
 * Inside the change's transaction: logs the entries for other processes and, on
 * PostgreSQL, records the writing transaction (readers go by it) and wakes the readers
 * at commit.
 */
export async function appendToLog(context: RepositoryContext, tx: Transaction, entries: Entry[]): Promise<void> {
  if (entries.length === 0) return;
  const createdAt = context.now();
  const txid = context.db.dialect === 'postgresql' ? CURRENT_TXID : sql`NULL`;
  for (let start = 0; start < entries.length; start += LOG_CHUNK) {
    const rows = entries
      .slice(start, start + LOG_CHUNK)
      .map((entry) => sql`(${entry.room.id}, ${context.sharing.origin}, ${JSON.stringify(entry)}, ${createdAt}, ${txid})`);
    await tx.execute(sql`INSERT INTO "PresenceEvent" ("roomId", "origin", "payload", "createdAt", "txid") VALUES ${joinSql(rows)}`);
  }
  // pg_notify returns void, which the driver adapter cannot read as a query result.
  if (context.db.dialect === 'postgresql') await tx.execute(sql`SELECT pg_notify(${NOTIFY_CHANNEL}, '')`);
}

/**
 * Removes the entries logged more than `retentionSeconds` before `now`, in one statement.
 * On PostgreSQL the same statement leaves a trim marker (see TRIM_ORIGIN) when it removed
 * anything; on SQLite readers need none: ids are handed out in commit order without reuse,
 * so an id missing below the highest one ever handed out was trimmed.
 */
export async function trimLog(db: Database, now: Date, retentionSeconds: number): Promise<void> {
  const cutoff = new Date(now.getTime() - retentionSeconds * 1000);
  if (db.dialect !== 'postgresql') {
    await db.execute(sql`DELETE FROM "PresenceEvent" WHERE "createdAt" < ${cutoff}`);
    return;
  }
  await db.execute(sql`
    WITH "gone" AS (DELETE FROM "PresenceEvent" WHERE "createdAt" < ${cutoff} RETURNING "txid")
    INSERT INTO "PresenceEvent" ("roomId", "origin", "payload", "createdAt", "txid")
    SELECT 0, ${TRIM_ORIGIN}, json_build_object('trimmedThrough', max("txid")::text)::text, ${now}, ${CURRENT_TXID}
    FROM "gone" HAVING max("txid") IS NOT NULL`);
}

function joinSql(pieces: Sql[]): Sql {
  return pieces.slice(1).reduce((joined, piece) => sql`${joined}, ${piece}`, pieces[0]!);
}
