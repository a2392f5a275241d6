// One exported async function per presence-admin command. Each returns what it did
// (a summary line for people, details for --json) or throws; only the entry point exits.
import { createPresence } from '../createPresence.js';
import { migrate, migrationStatus } from '../migrate.js';
import { parseDatabaseUrl } from '../database/url.js';
import { resolveDatabaseUrl } from '../options.js';
import type { PresenceCounts, PresenceTracker } from '../types.js';

/** Options every command takes. */
export interface CommandOptions {
  databaseUrl?: string;
}

export interface CommandResult {
  /** What a person reads; may span lines (stats, status). */
  summary: string;
  /** The same facts as data, for --json. */
  details: Record<string, unknown>;
  /** Set when the command succeeded but must still exit non-zero (status with pending migrations). */
  exitCode?: number;
}

/** Exit code of `status` when migrations are pending or failed. */
export const EXIT_PENDING = 3;

/** `presence-admin migrate`: applies the bundled migrations the database lacks. */
export async function migrateCommand(options: CommandOptions): Promise<CommandResult> {
  const applied = await migrate({ databaseUrl: options.databaseUrl });
  const summary =
    applied.length === 0 ? 'Database is up to date, no migration to apply' : `Applied ${plural(applied.length, 'migration')}: ${applied.join(', ')}`;
  return { summary, details: { applied } };
}

/** `presence-admin status`: which bundled migrations are applied, pending or failed, or whether app-migrated tables fit. */
export async function statusCommand(options: CommandOptions): Promise<CommandResult> {
  const status = await migrationStatus({ databaseUrl: options.databaseUrl });
  if (status.owner === 'application') {
    const fits = status.differences.length === 0;
    const lines = [
      'The presence tables here come from your application\'s own migrations (presence-admin migrate leaves them alone)',
      ...status.differences.map((difference) => `DIFFERS  ${difference}`),
      fits
        ? 'They have everything prisma-presence needs'
        : `Paste the current node_modules/prisma-presence/prisma/${parseDatabaseUrl(resolveDatabaseUrl(options.databaseUrl)).dialect}/models.prisma into your schema folder and create a migration with \`prisma migrate dev\``,
    ];
    return { summary: lines.join('\n'), details: { ...status, upToDate: fits }, exitCode: fits ? undefined : EXIT_PENDING };
  }
  const lines = [
    ...status.applied.map((name) => `applied  ${name}`),
    ...status.failed.map((name) => `FAILED   ${name}`),
    ...status.pending.map((name) => `pending  ${name}`),
  ];
  const upToDate = status.pending.length === 0 && status.failed.length === 0;
  lines.push(
    upToDate
      ? 'Database is up to date'
      : status.failed.length > 0
        ? 'Run `presence-admin migrate`: it checks the tables of the interrupted migration, repairs its history and applies what is pending'
        : 'Run `presence-admin migrate` to apply pending migrations',
  );
  return { summary: lines.join('\n'), details: { ...status, upToDate }, exitCode: upToDate ? undefined : EXIT_PENDING };
}

/** `presence-admin prune-presence`: removes presences not seen for the max age. */
export async function prunePresenceCommand(options: CommandOptions & { maxAge?: number; dryRun?: boolean }): Promise<CommandResult> {
  return withTracker(options, async (presence) => {
    if (options.dryRun) {
      const { total, rooms } = await presence.rooms.stats();
      const affected = rooms.filter((room) => room.stale > 0).length;
      return {
        summary: `Would prune ${plural(total.stale, 'presence')} from ${plural(affected, 'room')} (dry run, nothing changed)`,
        details: { dryRun: true, presences: total.stale, rooms: affected, maxAge: presence.maxAge },
      };
    }
    const rooms = new Set<number>();
    // Only this command's own prune: with event sharing, other processes' changes arrive here too.
    presence.on('changed', (event) => void (event.remote || rooms.add(event.room.id)));
    const pruned = await presence.rooms.prunePresences();
    return {
      summary: `Pruned ${plural(pruned, 'presence')} from ${plural(rooms.size, 'room')}`,
      details: { dryRun: false, presences: pruned, rooms: rooms.size, maxAge: presence.maxAge },
    };
  });
}

/** `presence-admin prune-rooms`: removes rooms that have no presences. */
export async function pruneRoomsCommand(options: CommandOptions & { dryRun?: boolean }): Promise<CommandResult> {
  return withTracker(options, async (presence) => {
    if (options.dryRun) {
      const empty = (await presence.rooms.stats()).rooms.filter((room) => room.presences === 0).length;
      return { summary: `Would prune ${plural(empty, 'empty room')} (dry run, nothing changed)`, details: { dryRun: true, rooms: empty } };
    }
    const pruned = await presence.rooms.pruneRooms();
    return { summary: `Pruned ${plural(pruned, 'empty room')}`, details: { dryRun: false, rooms: pruned } };
  });
}

/** `presence-admin stats`: counts overall and per room. */
export async function statsCommand(options: CommandOptions & { room?: string[]; maxAge?: number }): Promise<CommandResult> {
  return withTracker(options, async (presence) => {
    const stats = await presence.rooms.stats(options.room);
    const rows = [...stats.rooms.map((room) => [room.room, room] as const), ['TOTAL', stats.total] as const];
    const width = Math.max(4, ...rows.map(([name]) => name.length));
    const line = (name: string, counts: PresenceCounts | null) =>
      [name.padEnd(width), ...(counts ? [counts.presences, counts.users, counts.anonymous, counts.stale].map((n) => String(n).padStart(9)) : ['presences', 'users', 'anonymous', `stale>${stats.maxAge}s`].map((h) => h.padStart(9)))].join(' ');
    const table = [line('room', null), ...rows.map(([name, counts]) => line(name, counts))];
    const servers = stats.servers.map(
      (server) => `server ${server.hostname}:${server.pid} ${server.id} ${server.alive ? 'alive' : 'dead'} ${plural(server.presences, 'presence')}`,
    );
    const log = `shared log: ${stats.log.entries} ${stats.log.entries === 1 ? 'entry' : 'entries'}${stats.log.oldest ? `, oldest ${stats.log.oldest.toISOString()}` : ''}`;
    return { summary: [...table, plural(stats.total.rooms, 'room'), ...servers, log].join('\n'), details: { ...stats } };
  });
}

async function withTracker(options: CommandOptions & { maxAge?: number }, work: (presence: PresenceTracker) => Promise<CommandResult>): Promise<CommandResult> {
  const presence = createPresence({ databaseUrl: options.databaseUrl, maxAge: options.maxAge });
  try {
    return await work(presence);
  } finally {
    await presence.close();
  }
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
