import pg from 'pg';
import type { Database } from '../database/database.js';
import { sql } from '../database/sql.js';
import type { PresenceEvents } from '../events.js';
import type { Entry } from '../repositories/changes.js';
import type { Presence } from '../types.js';
import { NOTIFY_CHANNEL, TRIM_ORIGIN, type TrimMarker } from './log.js';

export interface FeedOptions {
  db: Database;
  events: PresenceEvents;
  /** This tracker's origin: its own entries were delivered locally already. */
  origin: string;
  /** Milliseconds between two reads when nothing wakes the reader earlier. */
  pollInterval: number;
  /** PostgreSQL URL for LISTEN, which wakes the reader as soon as a change commits. */
  listenUrl?: string;
  deliver(entries: Entry[]): void;
}

interface LogRow {
  id: number | bigint;
  origin: string;
  payload: string;
}

/** One read of the log: the entries committed since the previous one, in commit order. */
interface Batch {
  rows: LogRow[];
  /** Entries committed since the previous read were trimmed before this one: nothing is delivered. */
  lost: boolean;
  /** More entries are waiting (SQLite reads in pages). */
  more: boolean;
}

/** Where a reader is in the log; the first read only finds the present. */
interface LogCursor {
  read(db: Database): Promise<Batch>;
}

/**
 * Delivers what other processes log, each entry committed after the reader started
 * exactly once; when entries it had not read yet were trimmed, it emits `resync` instead
 * and goes on from the present.
 */
export class EventFeed {
  private readonly cursor: LogCursor;
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;
  private readAgain = false;
  private stopped = false;
  private started = false;
  private lastRead = Date.now();
  private failing = false;
  /** Whether a read found where the log stood; until then nothing can be delivered. */
  private positioned = false;
  private listener: pg.Client | undefined;

  constructor(private readonly options: FeedOptions) {
    this.cursor = options.db.dialect === 'postgresql' ? new CommitOrderCursor() : new IdOrderCursor();
  }

  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    if (this.options.listenUrl) void this.listen(this.options.listenUrl);
    this.wake();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const listener = this.listener;
    this.listener = undefined;
    await Promise.all([this.reading, listener?.end().catch(() => {})]);
  }

  /** Reads now (or right after the read in progress). */
  wake(): void {
    if (this.stopped) return;
    if (this.reading) {
      this.readAgain = true;
      return;
    }
    clearTimeout(this.timer);
    this.reading = this.readAll().finally(() => {
      this.reading = undefined;
      if (this.readAgain) {
        this.readAgain = false;
        this.wake();
      } else if (!this.stopped) {
        this.timer = setTimeout(() => this.wake(), this.options.pollInterval).unref();
      }
    });
  }

  private async readAll(): Promise<void> {
    try {
      let batch: Batch;
      do {
        batch = await this.cursor.read(this.options.db);
        if (batch.lost) this.resync(`shared events were trimmed from the log before this process read them (its previous read was ${this.secondsSinceRead()} s ago)`);
        for (const row of batch.rows) this.take(row);
      } while (batch.more && !this.stopped);
      // Changes committed between subscribing and this first read cannot be told from earlier ones.
      if (!this.positioned && this.failing) this.resync(`the shared log could not be read for ${this.secondsSinceRead()} s after listening started`);
      this.positioned = true;
      this.lastRead = Date.now();
      this.failing = false;
    } catch (error) {
      if (!this.failing && !this.stopped) this.options.events.report(error, 'reading shared presence events');
      this.failing = true;
    }
  }

  private resync(reason: string): void {
    this.options.events.emit('resync', { reason });
  }

  private secondsSinceRead(): number {
    return Math.round((Date.now() - this.lastRead) / 1000);
  }

  private take(row: LogRow): void {
    if (row.origin === this.options.origin || row.origin === TRIM_ORIGIN) return;
    this.options.deliver([revive(JSON.parse(row.payload) as Entry)]);
  }

  /** LISTEN on a connection of its own; after it drops, reconnect and read what was missed. */
  private async listen(url: string, retryDelay = 250): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
    client.on('notification', () => this.wake());
    client.on('error', () => {});
    client.on('end', () => {
      if (this.listener !== client || this.stopped) return;
      this.listener = undefined;
      void this.listen(url); // at once: every moment without LISTEN is latency
    });
    this.listener = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
      this.wake(); // whatever committed while it was not listening
    } catch {
      if (this.listener === client) this.listener = undefined;
      await client.end().catch(() => {});
      if (!this.stopped) setTimeout(() => void this.listen(url, Math.min(retryDelay * 2, 5000)), retryDelay).unref();
    }
  }
}

const PAGE = 1000;

/**
 * SQLite: writers take turns, so ids are handed out in commit order, and AUTOINCREMENT
 * hands each out once (a rolled-back transaction gives its ids back with its
 * sqlite_sequence update). The committed ids are therefore 1..seq without holes but
 * trimmed ones: a page that does not start right after the cursor, skips an id, or comes
 * back empty while seq is not the cursor means entries were trimmed before this read.
 */
class IdOrderCursor implements LogCursor {
  private last: number | undefined;

  async read(db: Database): Promise<Batch> {
    const rows = await db.query<LogRow & { id: number | bigint | null; seq: number | bigint }>(sql`
      SELECT s."seq", e."id", e."origin", e."payload"
      FROM (SELECT coalesce((SELECT "seq" FROM "sqlite_sequence" WHERE "name" = 'PresenceEvent'), 0) AS "seq") s
      LEFT JOIN "PresenceEvent" e ON e."id" > ${this.last ?? sql`s."seq"`}
      ORDER BY e."id" LIMIT ${PAGE}`);
    const seq = Number(rows[0]!.seq);
    const entries = rows.filter((row) => row.id !== null);
    const first = this.last === undefined;
    const contiguous = entries.every((row, i) => Number(row.id) === this.last! + 1 + i);
    // seq below the cursor: the table was recreated, and its new ids would look read already.
    if (first || !contiguous || (entries.length === 0 && seq !== this.last)) {
      this.last = seq;
      return { rows: [], lost: !first, more: false };
    }
    if (entries.length > 0) this.last = Number(entries.at(-1)!.id);
    return { rows: entries, lost: false, more: entries.length === PAGE };
  }
}

/**
 * PostgreSQL: ids (and writing transactions' ids) are taken before commit, so a later one
 * can commit first. Each read is one statement whose snapshot tells which transactions
 * are finished: all below its xmin. The reader keeps that xmin as its boundary and reads
 * every visible entry of a transaction at or above it, skipping the ones it read already;
 * an entry of a transaction still running then has a txid at or above the boundary and is
 * read once it commits. Every entry below the boundary was read, so a trim marker (see
 * TrimMarker) tells of a loss when it removed an entry at or above the boundary that this
 * reader had not read: for certain among the entries it lists, and to be safe when the
 * highest txid it sums up is at or above the boundary (a reader lagging behind the trim).
 * Within a read, entries go in id order: a writer takes its ids after locking its rooms,
 * so one room's entries are in commit order.
 */
class CommitOrderCursor implements LogCursor {
  private boundary: bigint | undefined;
  /** Entries at or above the boundary already read, by id, with their txid. */
  private readonly seen = new Map<number, bigint>();

  async read(db: Database): Promise<Batch> {
    const rows = await db.query<LogRow & { id: number | bigint | null; txid: string | null; xmin: string }>(sql`
      SELECT s."xmin", e."id", e."txid"::text AS "txid", e."origin", e."payload"
      FROM (SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS "xmin") s
      LEFT JOIN "PresenceEvent" e
        ON e."txid" >= coalesce(${this.boundary?.toString() ?? null}::bigint, s."xmin"::bigint)
        AND NOT (e."id" = ANY(${[...this.seen.keys()]}::bigint[]))
      ORDER BY e."id"`);
    const entries = rows.filter((row) => row.id !== null);
    const first = this.boundary === undefined;
    const markers = entries.filter((row) => row.origin === TRIM_ORIGIN).map((row) => JSON.parse(row.payload) as TrimMarker);
    const lost = !first && markers.some((marker) => this.missed(marker));
    for (const row of entries) this.seen.set(Number(row.id), BigInt(row.txid!));
    for (const marker of markers) for (const [id] of marker.listed) this.seen.delete(id); // gone for good
    this.boundary = BigInt(rows[0]!.xmin);
    for (const [id, txid] of this.seen) if (txid < this.boundary) this.seen.delete(id);
    return { rows: first || lost ? [] : entries, lost, more: false };
  }

  /** Whether the trim removed an entry this reader had not read. */
  private missed(marker: TrimMarker): boolean {
    const boundary = this.boundary!;
    if (marker.below !== null && BigInt(marker.below) >= boundary) return true;
    return marker.listed.some(([id, txid]) => BigInt(txid) >= boundary && !this.seen.has(id));
  }
}


/** JSON turned Dates into strings: turn them back. */
function revive(entry: Entry): Entry {
  const presence = (value: Presence | null) => (value ? { ...value, lastSeen: new Date(value.lastSeen) } : null);
  if ('presence' in entry) return { ...entry, presence: presence(entry.presence)! };
  const change = entry;
  return {
    ...change,
    added: presence(change.added),
    removed: presence(change.removed),
    pruned: change.pruned.map((value) => presence(value)!),
  };
}
