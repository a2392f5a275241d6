import { createPresence } from '../createPresence.js';
import { migrate } from '../migrate.js';

/** Options every command takes. */
export interface CommandOptions {
  databaseUrl?: string;
}

/** `presence-admin migrate`: applies the bundled migrations the database lacks. */
export async function migrateCommand(options: CommandOptions): Promise<string> {
  const applied = await migrate({ databaseUrl: options.databaseUrl });
  return applied.length === 0
    ? 'Database is up to date, no migration to apply'
    : `Applied ${plural(applied.length, 'migration')}: ${applied.join(', ')}`;
}

/** `presence-admin prune-presence`: removes presences not seen for the max age. */
export async function prunePresenceCommand(options: CommandOptions & { maxAge?: number }): Promise<string> {
  const presence = createPresence({ databaseUrl: options.databaseUrl, maxAge: options.maxAge });
  const rooms = new Set<number>();
  presence.on('changed', (event) => void rooms.add(event.room.id));
  try {
    const pruned = await presence.rooms.prunePresences();
    return `Pruned ${plural(pruned, 'presence')} from ${plural(rooms.size, 'room')}`;
  } finally {
    await presence.close();
  }
}

/** `presence-admin prune-rooms`: removes rooms that have no presences. */
export async function pruneRoomsCommand(options: CommandOptions): Promise<string> {
  const presence = createPresence({ databaseUrl: options.databaseUrl });
  try {
    return `Pruned ${plural(await presence.rooms.pruneRooms(), 'empty room')}`;
  } finally {
    await presence.close();
  }
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
