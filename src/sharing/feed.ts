import pg from 'pg';
import type { Database } from '../database/client.js';
import { list, sql } from '../database/sql.js';
import type { PresenceEvents } from '../events.js';
import { NOTIFY_CHANNEL, type Entry } from '../repository/changes.js';
import type { Presence } from '../types.js';

export interface FeedOptions {
  db: Database;
  events: PresenceEvents;
  /** This tracker's origin: its own entries were delivered locally already. */
  origin: string;
  /** Seconds entries are kept: a reader that could not read for longer may have missed some. */
  retention: number;
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

/** How long a missing id may still show up (a transaction that took its id but had not committed yet). */
const GAP_PATIENCE_MS = 10_000;
const BATCH = 1000;

/**
 * Reads the shared log from where this process started, in id order, and delivers what
 * other processes wrote. Ids are taken before commit, so on PostgreSQL a later id can
 * become visible first: a skipped id is remembered as a gap and read again until it
 * appears or its transaction has surely rolled back.
 */
export class EventFeed {
  private cursor: number | undefined;
  private readonly gaps = new Map<number, number>();
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;
  private readAgain = false;
  private stopped = false;
  private started = false;
  private lastRead = Date.now();
  private failing = false;
  private listener: pg.Client | undefined;

  constructor(private readonly options: FeedOptions) {}

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
      if (this.cursor === undefined) {
        const [row] = await this.options.db.query<{ id: number | bigint | null }>(sql`SELECT max("id") AS "id" FROM "PresenceEvent"`);
        this.cursor = Number(row?.id ?? 0);
      }
      while (!this.stopped && (await this.readBatch()) === BATCH);
      this.recovered();
    } catch (error) {
      if (!this.failing && !this.stopped) this.options.events.report(error, 'reading shared presence events');
      this.failing = true;
    }
  }

  private async readBatch(): Promise<number> {
    const cursor = this.cursor!;
    this.forgetOldGaps();
    const missing = [...this.gaps.keys()];
    const rows = await this.options.db.query<LogRow>(sql`
      SELECT "id", "origin", "payload" FROM "PresenceEvent"
      WHERE "id" > ${cursor}${missing.length > 0 ? sql` OR "id" IN (${list(missing)})` : sql``}
      ORDER BY "id" LIMIT ${BATCH}`);
    for (const row of rows) this.take(Number(row.id), row);
    return rows.length;
  }

  private take(id: number, row: LogRow): void {
    if (this.gaps.delete(id) === false) {
      const now = Date.now();
      for (let skipped = this.cursor! + 1; skipped < id && skipped - this.cursor! <= BATCH; skipped++) this.gaps.set(skipped, now);
      this.cursor = Math.max(this.cursor!, id);
    }
    if (row.origin === this.options.origin) return;
    this.options.deliver([revive(JSON.parse(row.payload) as Entry)]);
  }

  private forgetOldGaps(): void {
    const oldest = Date.now() - GAP_PATIENCE_MS;
    for (const [id, since] of this.gaps) if (since < oldest) this.gaps.delete(id);
  }

  private recovered(): void {
    const silentFor = Date.now() - this.lastRead;
    this.lastRead = Date.now();
    if (this.failing && silentFor > this.options.retention * 1000) {
      this.options.events.emit('resync', { reason: `shared events could not be read for ${Math.round(silentFor / 1000)} s` });
    }
    this.failing = false;
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
