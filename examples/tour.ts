// `npm run tour`: a short console tour of prisma-presence on the embedded SQLite default.
// Connections join rooms, send heartbeats, leave cleanly or vanish, and get pruned.
// The tour drives its own clock so that "70 seconds later" takes no time. It starts from
// an empty database each run; the live web demo (`npm start`) keeps its own file.
import { rmSync } from 'node:fs';
import { createPresence, migrate, type PresenceChangedEvent } from '../src/index.ts';

const databaseUrl = process.env.PRESENCE_DATABASE_URL ?? 'file:./presence-tour.db';
let clock = Date.now();
const now = () => new Date(clock);
const wait = (seconds: number) => {
  clock += seconds * 1000;
  step(`(${seconds} seconds pass)`);
};
const step = (text: string) => console.log(`\n${text}`);

if (databaseUrl.startsWith('file:')) {
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${databaseUrl.slice('file:'.length)}${suffix}`, { force: true });
}

step(`Migrating ${databaseUrl}`);
console.log('  applied:', (await migrate({ databaseUrl })).join(', '));

const presence = createPresence({ databaseUrl, now, maxAge: 60 });
presence.on('changed', ({ room, added, removed, bulkChange }: PresenceChangedEvent) => {
  if (added) console.log(`  event: ${added.channelName} (${added.userId ?? 'anonymous'}) joined ${room.channelName}`);
  if (removed) console.log(`  event: ${removed.channelName} (${removed.userId ?? 'anonymous'}) left ${room.channelName}`);
  if (bulkChange) console.log(`  event: stale presences pruned from ${room.channelName}`);
});

async function showRooms() {
  for (const room of ['lobby', 'kitchen']) {
    const users = await presence.rooms.getUsers(room);
    const anonymous = await presence.rooms.getAnonymousCount(room);
    console.log(`  ${room}: users [${users.join(', ')}], anonymous ${anonymous}`);
  }
}

// What a websocket server would do with each message and each disconnect.
const onMessage = presence.touchPresence((channel: string, message: string) => {
  console.log(`  handler: ${channel} says ${message}`);
});
const onDisconnect = presence.removePresence((channel: string) => {
  console.log(`  handler: ${channel} disconnected`);
});

step('Four connections join two rooms');
await presence.rooms.add('lobby', 'chan.alice', 'alice');
await presence.rooms.add('lobby', 'chan.bob', 'bob');
await presence.rooms.add('lobby', 'chan.guest');
await presence.rooms.add('kitchen', 'chan.bob-phone', 'bob');
await showRooms();

wait(40);
step('Traffic: heartbeats only touch lastSeen, other messages reach the handler');
await onMessage('chan.alice', '"heartbeat"');
await onMessage('chan.bob', '"heartbeat"');
await onMessage('chan.bob-phone', 'hello from the kitchen');
console.log('  (the guest sends nothing: its connection dropped without a goodbye)');

step('Alice closes her tab: a clean leave');
await onDisconnect('chan.alice');
await showRooms();

wait(30);
step('The cron job runs prune-presence (max age 60 s): the silent guest is gone');
console.log(`  pruned ${await presence.rooms.prunePresences()} presence(s)`);
await showRooms();

step('Bob leaves the kitchen, then prune-rooms removes rooms nobody is in');
await presence.rooms.remove('kitchen', 'chan.bob-phone');
console.log(`  pruned ${await presence.rooms.pruneRooms()} empty room(s)`);
await showRooms();

await presence.close();
step('Done. Run `npm start` for the live web demo, and see README.md to wire this into a websocket server.');
