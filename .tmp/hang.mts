import { createPresence, migrate } from '/work/main/src/index.ts';
const url = 'file:/tmp/hang.db';
await migrate({ databaseUrl: url });
const presence = createPresence({ databaseUrl: url, maxAge: 60 });
const step = (s: string) => console.log(s);
await presence.rooms.getAnonymousCount('connect'); step('connect');
const onMessage = presence.touchPresence(async () => 'handled');
for (let i = 0; i < 50; i++) {
  await presence.rooms.add('warm-up', `warm.${i}`, i % 2 ? null : `warm-${i}`);
  await presence.presences.touch(`warm.${i}`);
  await presence.rooms.getUsers('warm-up');
  await onMessage(`warm.${i}`, '"heartbeat"');
}
step('loop');
await presence.presences.flush(); step('flush');
for (let i = 0; i < 50; i++) await presence.presences.leaveAll(`warm.${i}`);
step('leaveAll');
await presence.rooms.pruneRooms(); step('pruneRooms');
await presence.rooms.prunePresences(); step('prune');
await presence.close(); step('closed');
