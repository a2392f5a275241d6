import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createPresence, PresenceError, type PresenceChangedEvent } from '../src/index.ts';
import { emptyDatabase, migratedDatabase, roomNames, snapshot, testEngines, useDatabase } from './support/databases.ts';
import { eventually } from './support/realtime.ts';
import { scratchDir } from './support/scratch.ts';
import { useTracker } from './support/tracker.ts';

const run = promisify(execFile);
const root = new URL('..', import.meta.url).pathname;

describe.each(testEngines())('startPruning on %s', (engine) => {
  const database = useDatabase(engine);
  const tracked = useTracker(database, { maxAge: 60 });

  it('prunes stale presences and empty rooms on its interval, with the usual events', async () => {
    const events: PresenceChangedEvent[] = [];
    tracked.presence.on('changed', (event) => void events.push(event));
    await tracked.presence.rooms.add('lobby', 'chan.stale', 'ghost');
    await tracked.presence.rooms.add('attic', 'chan.alone');
    tracked.clock.advance(50);
    await tracked.presence.rooms.add('lobby', 'chan.live');
    tracked.clock.advance(20);
    tracked.presence.startPruning({ every: 0.05 });
    await eventually(async () => (await roomNames(database.db)).length === 1, 5000, 'the pruner');
    expect(await snapshot(database.db)).toEqual(['lobby/chan.live=-']);
    const bulk = events.filter((event) => event.bulkChange).map((event) => [event.room.channelName, event.pruned.map((p) => p.channelName)]);
    expect(bulk.sort()).toEqual([
      ['attic', ['chan.alone']],
      ['lobby', ['chan.stale']],
    ]);
  });

  it('uses its own maxAge when given one', async () => {
    await tracked.presence.rooms.add('lobby', 'chan.1');
    tracked.clock.advance(20);
    tracked.presence.startPruning({ every: 0.05, maxAge: 10 });
    await eventually(async () => (await snapshot(database.db)).length === 0, 5000, 'the pruner');
  });

  it('the stop function and close() stop it; one pruner at a time', async () => {
    const stop = tracked.presence.startPruning({ every: 0.05 });
    expect(() => tracked.presence.startPruning()).toThrow(PresenceError);
    await stop();
    await tracked.presence.rooms.add('lobby', 'chan.1');
    tracked.clock.advance(120);
    // Allowed again after stop. This pruner keeps chan.1 (maxAge 1000) and deletes empty
    // rooms: once it has run two rounds, the stopped one (maxAge 60) would have run too.
    tracked.presence.startPruning({ every: 0.05, maxAge: 1000 });
    for (const empty of ['attic', 'cellar']) {
      await tracked.presence.rooms.add(empty, 'chan.passing');
      await tracked.presence.rooms.remove(empty, 'chan.passing');
      await eventually(async () => !(await roomNames(database.db)).includes(empty), 5000, `a round of the new pruner (${empty})`);
    }
    expect(await snapshot(database.db)).toEqual(['lobby/chan.1=-']);
    await tracked.presence.close();
    await expect(tracked.presence.rooms.add('lobby', 'chan.2')).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it.each([
    [{ every: 0 }, 'every must be a positive number of seconds, got 0'],
    [{ every: -1 }, 'every must be a positive number of seconds, got -1'],
    [{ every: '5' }, 'every must be a positive number of seconds, got "5"'],
    [{ every: 1e9 }, 'every must be at most 2147483 seconds, got 1000000000'],
    [{ maxAge: Number.NaN }, 'maxAge must be a positive number of seconds, got NaN'],
  ])('rejects %j with a clear error', (options, message) => {
    expect(() => tracked.presence.startPruning(options as never)).toThrow(new PresenceError('INVALID_ARGUMENT', message));
  });

  it('a failing round is reported as an error event and the next round still runs', async () => {
    const url = await emptyDatabase(engine);
    if (engine === 'sqlite') writeFileSync(url.slice('file:'.length), ''); // exists, without tables
    const unmigrated = createPresence({ databaseUrl: url, maxAge: 60 });
    const errors: Error[] = [];
    unmigrated.on('error', (error) => void errors.push(error));
    unmigrated.startPruning({ every: 0.05 });
    await eventually(() => errors.length >= 2, 5000, 'two reported failures');
    expect(errors[0]).toMatchObject({ code: 'MIGRATION_REQUIRED' });
    await unmigrated.close();
  });
});

describe('startPruning timer', () => {
  it('does not keep the process alive', async () => {
    const script = join(scratchDir('pruner'), 'script.ts');
    const databaseUrl = await migratedDatabase('sqlite');
    writeFileSync(
      script,
      `import { createPresence } from ${JSON.stringify(join(root, 'src/index.ts'))};
const presence = createPresence({ databaseUrl: ${JSON.stringify(databaseUrl)} });
presence.startPruning({ every: 3600 });
console.log('started');
`,
    );
    const started = Date.now();
    const { stdout } = await run(join(root, 'node_modules/.bin/tsx'), [script], { cwd: root, timeout: 20_000 });
    expect(stdout.trim()).toBe('started');
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});
