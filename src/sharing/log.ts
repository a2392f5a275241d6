// The shared log (PresenceEvent): appended to inside each change's transaction, trimmed
// by age by every prune, read by EventFeed (./feed.ts).
import type { Transaction } from '../database/database.js';
import type { Dialect } from '../database/url.js';
import { sql, type Sql } from '../database/sql.js';
import type { Entry } from '../repositories/changes.js';
import type { RepositoryContext } from '../repositories/context.js';

/** The PostgreSQL NOTIFY channel that wakes readers of the shared log. */
export const NOTIFY_CHANNEL = 'prisma_presence';
/**
 * The origin of a PostgreSQL trim marker: an entry a trim writes in its own statement,
 * telling readers what it removed (see TrimMarker).
 */
export const TRIM_ORIGIN = 'trim';

/**
 * A trim marker's payload. The trim's snapshot xmin splits what it removed: entries of
 * older transactions are summed up by the highest txid among them (`below`, null when
 * none); entries of transactions at or above it, usually none (a transaction left open
 * for longer than the retention holds xmin back), are listed as [id, txid] pairs.
 */
export interface TrimMarker {
  below: string | null;
  listed: [number, string][];
}

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
 * On PostgreSQL the same statement leaves a trim marker (see TrimMarker) when it removed
 * anything; on SQLite readers need none: ids are handed out in commit order without reuse,
 * so an id missing below the highest one ever handed out was trimmed.
 */
export async function trimLog(runner: Transaction, dialect: Dialect, now: Date, retentionSeconds: number): Promise<void> {
  const cutoff = new Date(now.getTime() - retentionSeconds * 1000);
  if (dialect !== 'postgresql') {
    await runner.execute(sql`DELETE FROM "PresenceEvent" WHERE "createdAt" < ${cutoff}`);
    return;
  }
  await runner.execute(sql`
    WITH "snapshot" AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS "xmin"),
    "gone" AS (DELETE FROM "PresenceEvent" WHERE "createdAt" < ${cutoff} RETURNING "id", "txid")
    INSERT INTO "PresenceEvent" ("roomId", "origin", "payload", "createdAt", "txid")
    SELECT 0, ${TRIM_ORIGIN}, json_build_object(
        'below', (max(g."txid") FILTER (WHERE g."txid" < s."xmin"))::text,
        'listed', coalesce(json_agg(json_build_array(g."id", g."txid"::text)) FILTER (WHERE g."txid" >= s."xmin"), '[]'::json)
      )::text, ${now}, ${CURRENT_TXID}
    FROM "gone" g CROSS JOIN "snapshot" s
    HAVING count(g."txid") > 0`);
}

function joinSql(pieces: Sql[]): Sql {
  return pieces.slice(1).reduce((joined, piece) => sql`${joined}, ${piece}`, pieces[0]!);
}
