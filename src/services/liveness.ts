import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Database } from '../database/database.js';
import { sql } from '../database/sql.js';
import type { PresenceEvents } from '../events.js';
import { deletePresences } from '../repositories/changes.js';
import type { RepositoryContext } from '../repositories/context.js';

/**
 * This process as a server holding connections: one PresenceServer row, registered on
 * the first `add` and refreshed once per interval (not once per connection). Its
 * presences carry its id; when the row's `expiresAt` passes, prunes remove them all.
 */
export class ServerLiveness {
  readonly id = randomUUID();
  private registering: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly db: Database,
    private readonly events: PresenceEvents,
    private readonly now: () => Date,
    private readonly intervalSeconds: number,
    private readonly timeoutSeconds: number,
  ) {}

  /** Registers the server once (before its first presence); later calls resolve at once. */
  ensureRegistered(): Promise<void> {
    this.registering ??= this.write().then(
      () => this.schedule(),
      (error: unknown) => {
        this.registering = undefined; // the next add tries again
        throw error;
      },
    );
    return this.registering;
  }

  /** Stops refreshing; returns whether the server ever registered. */
  stop(): boolean {
    this.stopped = true;
    clearTimeout(this.timer);
    return this.registering !== undefined;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.write()
        .catch((error: unknown) => this.events.report(error, 'refreshing server liveness'))
        .finally(() => this.schedule());
    }, this.intervalSeconds * 1000).unref();
  }

  /** Inserts or refreshes the row: after a stall long enough to be reaped, it comes back. */
  private write(): Promise<number> {
    const now = this.now();
    const expiresAt = new Date(now.getTime() + this.timeoutSeconds * 1000);
    return this.db.execute(sql`
      INSERT INTO "PresenceServer" ("id", "hostname", "pid", "startedAt", "lastSeen", "expiresAt")
      VALUES (${this.id}, ${hostname()}, ${process.pid}, ${now}, ${now}, ${expiresAt})
      ON CONFLICT ("id") DO UPDATE SET "lastSeen" = excluded."lastSeen", "expiresAt" = excluded."expiresAt"`);
  }
}

/** A clean shutdown: this server's presences leave (with the usual events), then its row goes. */
export async function leaveAsServer(context: RepositoryContext, serverId: string): Promise<void> {
  await deletePresences(context, sql`"serverId" = ${serverId}`);
  await context.db.execute(sql`DELETE FROM "PresenceServer" WHERE "id" = ${serverId}`);
}
