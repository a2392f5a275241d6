import { anyOf, sql } from '../database/sql.js';
import type { RepositoryContext } from '../repositories/context.js';

/**
 * Most channels one flush statement names (as one parameter, see `anyOf`): one statement
 * for many rows saves most of the flush's time, and a bounded one keeps each write short.
 */
const CHUNK = 10_000;
/** A buffer this full is flushed at once (the touch waits), so memory stays bounded however many channels touch. */
const MAX_PENDING = 1_000_000;

/**
 * Coalesces touches: channels that sent traffic are remembered and written in one
 * `UPDATE ... WHERE "channelName" IN (...)` per interval, so a connection flooding
 * heartbeats costs at most one write per interval. `lastSeen` is the time of the
 * batch's first touch: never later than the traffic it stands for, at most one interval
 * earlier.
 */
export class TouchBuffer {
  private pending = new Set<string>();
  private batchStart = new Date(0);
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly context: Pick<RepositoryContext, 'db' | 'events' | 'now'>,
    private readonly intervalMs: number,
  ) {}

  /** Remembers that the channel was seen; written within the interval (at once when the interval is 0). */
  touch(channelName: string): Promise<void> | undefined {
    const now = this.context.now();
    // A batch older than the interval by the clock (a stalled timer, a test clock) goes first.
    if (this.pending.size > 0 && now.getTime() - this.batchStart.getTime() >= this.intervalMs) void this.flush();
    if (this.pending.size === 0) this.batchStart = now;
    this.pending.add(channelName);
    if (this.intervalMs === 0 || this.pending.size >= MAX_PENDING || this.stopped) return this.flush();
    this.timer ??= setTimeout(() => void this.flush(), this.intervalMs).unref();
    return undefined;
  }

  /** Writes every remembered touch now; resolves when they are stored. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const channels = [...this.pending];
    const lastSeen = this.batchStart;
    this.pending = new Set();
    // Writes run one after another, so a later flush never lands before an earlier one.
    const write = this.writing.then(() => this.write(channels, lastSeen));
    this.writing = write.catch((error: unknown) => {
      this.putBack(channels, lastSeen);
      this.context.events.report(error, 'writing buffered touches');
    });
    return write;
  }

  /** Stops writing on its own: after this, touches are written only by `flush()`. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /**
   * A failed write's channels wait for the next flush, so that a live connection is
   * never pruned because one write failed. Their batch keeps its earlier time.
   */
  private putBack(channels: string[], lastSeen: Date): void {
    if (this.pending.size === 0 || lastSeen < this.batchStart) this.batchStart = lastSeen;
    for (const channel of channels) this.pending.add(channel);
    if (!this.stopped) this.timer ??= setTimeout(() => void this.flush(), Math.max(this.intervalMs, 100)).unref();
  }

  private async write(channels: string[], lastSeen: Date): Promise<void> {
    for (let start = 0; start < channels.length; start += CHUNK) {
      const chunk = channels.slice(start, start + CHUNK);
      await this.context.db.execute(
        // Never backwards: an add or a direct touch may have written a later time meanwhile.
        sql`UPDATE "Presence" SET "lastSeen" = CASE WHEN "lastSeen" < ${lastSeen} THEN ${lastSeen} ELSE "lastSeen" END WHERE "channelName" ${anyOf(chunk, 'text')}`,
      );
    }
  }
}
