// Where prisma-presence's time goes on PostgreSQL in two steps of `npm run bench`, and
// what other SQL would cost, on a throwaway server (or --postgres-url):
//   heartbeat   the 10N messages through touchPresence, timed apart from the final flush;
//               then the flush's UPDATE alone in several shapes;
//   pruneRooms  R empty rooms removed by: the naive single DELETE (the raw side's, which
//               races concurrent adds), the library, the library's locking transaction
//               on raw pg, and the same two statements in one PL/pgSQL function call.
// Medians of --reps repetitions. Nothing here is part of the library.
//
//   tsx scripts/bench-postgres-designs.ts [--n 10000] [--reps 15] [--postgres-url <server url>]
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createPresence, migrate, type PresenceTracker } from '../src/index.ts';
import { createDatabase, dropDatabase, startPostgresServer, type PostgresServer } from '../tests/support/postgresServer.ts';
import { channelName, HEARTBEAT, HEARTBEAT_ROUNDS, MAX_AGE, roomCount, roomName, roomOf } from './bench-workload.ts';

const { values } = parseArgs({
  options: { n: { type: 'string', default: '10000' }, reps: { type: 'string', default: '15' }, 'postgres-url': { type: 'string' } },
});
const n = Number(values.n);
const reps = Number(values.reps);
const rooms = roomCount(n);
const channels = Array.from({ length: n }, (_, i) => channelName(i));

const median = (samples: number[]) => [...samples].sort((a, b) => a - b)[Math.floor(samples.length / 2)]!;

async function timeMedian(prepare: () => Promise<unknown>, work: () => Promise<unknown>): Promise<number> {
  const samples: number[] = [];
  for (let rep = 0; rep < reps; rep++) {
    await prepare();
    const start = performance.now();
    await work();
    samples.push(performance.now() - start);
  }
  return median(samples);
}

const print = (what: string, ms: number, ops: number, unit: string) =>
  console.log(`  ${what.padEnd(46)} ${ms.toFixed(2).padStart(9)} ms  ${Math.round((ops * 1000) / ms).toLocaleString('en-US').padStart(11)} ${unit}/s`);

async function heartbeats(presence: PresenceTracker, db: pg.Client): Promise<void> {
  console.log(`heartbeat: N=${n}, ${HEARTBEAT_ROUNDS * n} messages, then presences.flush() (${n} rows)`);
  const onMessage = presence.touchPresence(async () => 'handled');
  const loop: number[] = [];
  const flush: number[] = [];
  for (let rep = 0; rep < reps; rep++) {
    await db.query('VACUUM "Presence"');
    const start = performance.now();
    for (let round = 0; round < HEARTBEAT_ROUNDS; round++) for (const channel of channels) await onMessage(channel, HEARTBEAT);
    const looped = performance.now();
    await presence.presences.flush();
    loop.push(looped - start);
    flush.push(performance.now() - looped);
  }
  print('messages through touchPresence (no I/O)', median(loop), HEARTBEAT_ROUNDS * n, 'msg');
  print('presences.flush()', median(flush), n, 'row');
  print('whole step', median(loop) + median(flush), HEARTBEAT_ROUNDS * n, 'msg');

  console.log('  the flush statement alone, on raw pg:');
  const chunks = (size: number) => Array.from({ length: Math.ceil(n / size) }, (_, k) => channels.slice(k * size, (k + 1) * size));
  const vacuum = () => db.query('VACUUM "Presence"');
  const now = () => new Date().toISOString();
  const shapes: [string, () => Promise<void>][] = [
    ['IN ($2, ..., $501) per 500 (the library)', async () => {
      for (const chunk of chunks(500)) {
        const list = chunk.map((_, i) => `$${i + 2}`).join(', ');
        await db.query(`UPDATE "Presence" SET "lastSeen" = $1 WHERE "channelName" IN (${list})`, [now(), ...chunk]);
      }
    }],
    ...[500, 5000, n].map((size): [string, () => Promise<void>] => [`= ANY($2::text[]) per ${size}`, async () => {
      for (const chunk of chunks(size)) {
        await db.query({ name: 'touch_any', text: 'UPDATE "Presence" SET "lastSeen" = $1 WHERE "channelName" = ANY($2::text[])', values: [now(), chunk] });
      }
    }]),
  ];
  for (const [what, write] of shapes) print(what, await timeMedian(vacuum, write), n, 'row');
}

/** The library's two statements in one call: a volatile function's statements each take a fresh snapshot. */
const PRUNE_ROOMS_FUNCTION = `
CREATE FUNCTION bench_prune_rooms() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  empty integer[];
  removed integer;
BEGIN
  SELECT array_agg("id") INTO empty FROM (
    SELECT "id" FROM "Room" r WHERE NOT EXISTS (SELECT 1 FROM "Presence" p WHERE p."roomId" = r."id")
    FOR UPDATE SKIP LOCKED) locked;
  IF empty IS NULL THEN RETURN 0; END IF;
  DELETE FROM "Room" r WHERE r."id" = ANY(empty) AND NOT EXISTS (SELECT 1 FROM "Presence" p WHERE p."roomId" = r."id");
  GET DIAGNOSTICS removed = ROW_COUNT;
  RETURN removed;
END $$`;

const EMPTY_ROOMS = 'SELECT "id" FROM "Room" r WHERE NOT EXISTS (SELECT 1 FROM "Presence" p WHERE p."roomId" = r."id") FOR UPDATE SKIP LOCKED';
const DELETE_LOCKED = 'DELETE FROM "Room" r WHERE r."id" = ANY($1::int[]) AND NOT EXISTS (SELECT 1 FROM "Presence" p WHERE p."roomId" = r."id")';
const DELETE_EMPTY = 'DELETE FROM "Room" r WHERE NOT EXISTS (SELECT 1 FROM "Presence" p WHERE p."roomId" = r."id")';

async function pruneRooms(presence: PresenceTracker, db: pg.Client): Promise<void> {
  console.log(`pruneRooms: ${rooms} empty rooms`);
  await db.query(PRUNE_ROOMS_FUNCTION);
  const refill = async () => {
    await db.query('DELETE FROM "Presence"');
    await db.query('DELETE FROM "Room"');
    await db.query('INSERT INTO "Room" ("channelName") SELECT unnest($1::text[])', [Array.from({ length: rooms }, (_, r) => roomName(r))]);
  };
  const designs: [string, () => Promise<unknown>][] = [
    ['single DELETE (raw side; races adds)', () => db.query({ name: 'delete_empty', text: DELETE_EMPTY })],
    ['library pruneRooms (createPresence databaseUrl)', () => presence.rooms.pruneRooms()],
    ['locking transaction, 4 round trips, raw pg', async () => {
      await db.query('BEGIN');
      const { rows } = await db.query<{ id: number }>({ name: 'empty_rooms', text: EMPTY_ROOMS });
      await db.query({ name: 'delete_locked', text: DELETE_LOCKED, values: [rows.map((row) => row.id)] });
      await db.query('COMMIT');
    }],
    ['SELECT bench_prune_rooms() (same, one call)', () => db.query({ name: 'prune_function', text: 'SELECT bench_prune_rooms()' })],
  ];
  for (const [what, prune] of designs) print(what, await timeMedian(refill, prune), rooms, 'room');
}

async function main(): Promise<void> {
  let server: PostgresServer | undefined;
  const serverUrl = values['postgres-url'] ?? (server = await startPostgresServer()).url;
  const name = `bench_designs_${process.pid}`;
  try {
    const url = await createDatabase(serverUrl, name);
    await migrate({ databaseUrl: url });
    const presence = createPresence({ databaseUrl: url, maxAge: MAX_AGE });
    for (let i = 0; i < n; i++) await presence.rooms.add(roomName(roomOf(i, n, rooms)), channels[i]!, null);
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    try {
      await heartbeats(presence, db);
      await pruneRooms(presence, db);
    } finally {
      await db.end();
      await presence.close();
    }
  } finally {
    await dropDatabase(serverUrl, name);
    await server?.stop();
  }
}

await main();
