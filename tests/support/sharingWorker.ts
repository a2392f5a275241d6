// A separate OS process with its own tracker and event sharing on, driven over stdin
// and reporting over stdout, one JSON object per line:
//   in:  {"op":"add","args":["lobby","chan.1","alice"]}  (any rooms/presences method)
//        {"op":"block","until":"/tmp/x"}                  (event loop blocked until the file exists: reads nothing)
//        {"op":"block","ms":1100}                         (the same, for a time)
//        {"op":"touch","path":"/tmp/x"}                   (creates the file)
// Commands run one after another, in the order they arrive.
// SHARING_LIVENESS=1 registers it as a server (liveness interval 0.2 s, timeout 0.6 s);
// SHARING_EVENT_RETENTION sets eventRetention (seconds) for its prunes.
//   out: {"ready":true}, {"blocking":true} (written before a block starts), {"done":<op>},
//        {"error":...}, and every event it hears:
//        {"event":"changed","room":"lobby","added":"chan.1","removed":null,"pruned":[],"remote":true,"at":<ms>}
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { createPresence, type PresenceChangedEvent } from '../../src/index.ts';
import { blockUntilExists } from './blocking.ts';

const presence = createPresence({
  databaseUrl: process.env.SHARING_DATABASE_URL!,
  shareEvents: true,
  maxAge: 60,
  liveness: process.env.SHARING_LIVENESS === '1' ? { interval: 0.2, timeout: 0.6 } : false,
  eventRetention: process.env.SHARING_EVENT_RETENTION ? Number(process.env.SHARING_EVENT_RETENTION) : undefined,
});
const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);

presence.on('changed', (event: PresenceChangedEvent) =>
  print({
    event: 'changed',
    room: event.room.channelName,
    added: event.added?.channelName ?? null,
    removed: event.removed?.channelName ?? null,
    pruned: event.pruned.map((presence) => `${presence.channelName}=${presence.userId ?? '-'}`).sort(),
    bulkChange: event.bulkChange,
    remote: event.remote,
    at: Date.now(),
  }),
);
for (const name of ['userJoined', 'userLeft'] as const) {
  presence.on(name, (event) => print({ event: name, room: event.room.channelName, userId: event.userId, remote: event.remote, at: Date.now() }));
}
presence.on('updated', (event) =>
  print({ event: 'updated', room: event.room.channelName, channel: event.presence.channelName, metadata: event.presence.metadata, remote: event.remote }),
);
presence.on('resync', (event) => print({ event: 'resync', reason: event.reason }));
presence.on('error', (error) => print({ error: error.message }));

const lines = createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on('line', (line) => void (queue = queue.then(() => run(line))));

async function run(line: string): Promise<void> {
  const command = JSON.parse(line) as { op: string; args?: unknown[]; ms?: number; until?: string; path?: string };
  try {
    if (command.op === 'block') {
      print({ blocking: true }); // a pipe write is synchronous on Linux: it is out before the loop stops
      if (command.until) blockUntilExists(command.until);
      else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, command.ms);
    } else if (command.op === 'touch') {
      writeFileSync(command.path!, '');
    } else {
      const [repository, method] = command.op.split('.') as ['rooms' | 'presences', string];
      await (presence[repository] as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>)[method]!(...(command.args ?? []));
    }
    print({ done: command.op });
  } catch (error) {
    print({ error: (error as Error).message, op: command.op });
  }
}
lines.on('close', async () => {
  await queue;
  await presence.close();
  process.exit(0);
});

print({ ready: true });
