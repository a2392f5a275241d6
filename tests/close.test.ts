// close() is a clean boundary: calls in flight finish first, later calls reject with
// CLOSED, a second close() does nothing; and no method ever throws synchronously.
import { describe, expect, it } from 'vitest';
import { createPresence, type PresenceTracker } from '../src/index.ts';
import { snapshot, testEngines, useDatabase } from './support/databases.ts';

/** Every asynchronous entry point of a tracker, called with arguments of the right shape. */
function everyCall(presence: PresenceTracker): [string, () => Promise<unknown>][] {
  return [
    ['rooms.add', () => presence.rooms.add('lobby', 'chan.x')],
    ['rooms.remove', () => presence.rooms.remove('lobby', 'chan.x')],
    ['rooms.getUsers', () => presence.rooms.getUsers('lobby')],
    ['rooms.getPresences', () => presence.rooms.getPresences('lobby')],
    ['rooms.getAnonymousCount', () => presence.rooms.getAnonymousCount('lobby')],
    ['rooms.prunePresences', () => presence.rooms.prunePresences()],
    ['rooms.pruneRooms', () => presence.rooms.pruneRooms()],
    ['rooms.stats', () => presence.rooms.stats()],
    ['presences.touch', () => presence.presences.touch('chan.x')],
    ['presences.leaveAll', () => presence.presences.leaveAll('chan.x')],
    ['presences.disconnect', () => presence.presences.disconnect('chan.x')],
    ['presences.update', () => presence.presences.update('chan.x', { a: 1 })],
    ['presences.flush', () => presence.presences.flush()],
    ['touchPresence wrapper', () => presence.touchPresence(() => 'handled')('chan.x', 'hello')],
    ['removePresence wrapper', () => presence.removePresence(() => 'handled')('chan.x')],
  ];
}

describe.each(testEngines())('close() on %s', (engine) => {
  const database = useDatabase(engine);

  it('lets 50 adds in flight finish before it resolves', async () => {
    const presence = createPresence({ databaseUrl: database.url });
    const settled: string[] = [];
    const adds = Array.from({ length: 50 }, (_, i) =>
      presence.rooms.add(`room.${i % 5}`, `chan.${i}`).then(
        () => void settled.push('ok'),
        (error: { code?: string }) => void settled.push(error.code ?? 'raw'),
      ),
    );
    await presence.close();
    expect(settled).toHaveLength(50);
    expect(settled.every((outcome) => outcome === 'ok' || outcome === 'CLOSED')).toBe(true);
    await Promise.all(adds);
    expect(await snapshot(database.db)).toHaveLength(settled.filter((outcome) => outcome === 'ok').length);
  });

  it('after close(), every method rejects with CLOSED, startPruning throws it, and a second close() is a quiet no-op', async () => {
    const presence = createPresence({ databaseUrl: database.url });
    const errors: Error[] = [];
    presence.on('error', (error) => void errors.push(error));
    await presence.rooms.add('lobby', 'chan.x');
    await presence.close();
    for (const [name, call] of everyCall(presence)) {
      await expect(call(), name).rejects.toMatchObject({ name: 'PresenceError', code: 'CLOSED' });
    }
    expect(() => presence.startPruning()).toThrow(expect.objectContaining({ code: 'CLOSED' }));
    await expect(presence.close()).resolves.toBeUndefined();
    expect(errors).toEqual([]);
  });

  it('with liveness on, a second close() is a quiet no-op too: the server is not shut down again', async () => {
    const presence = createPresence({ databaseUrl: database.url, liveness: true });
    const errors: Error[] = [];
    presence.on('error', (error) => void errors.push(error));
    await presence.rooms.add('lobby', 'chan.x');
    await presence.close();
    await expect(presence.close()).resolves.toBeUndefined();
    expect(errors).toEqual([]);
  });

  it('an async listener still running when close() is called may still query; close() waits for it', async () => {
    const presence = createPresence({ databaseUrl: database.url });
    const seen: unknown[] = [];
    presence.on('changed', async ({ room }) => {
      const users = await presence.rooms.getUsers(room.channelName);
      seen.push(users, await presence.rooms.getAnonymousCount(room.channelName));
    });
    await presence.rooms.add('lobby', 'chan.1', 'alice');
    await presence.close();
    expect(seen).toEqual([['alice'], 0]);
    await expect(presence.rooms.getUsers('lobby')).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('no method throws synchronously: bad arguments reject with INVALID_ARGUMENT', async () => {
    const presence = createPresence({ databaseUrl: database.url });
    const bad = 5 as unknown as string;
    const calls: [string, () => Promise<unknown>][] = [
      ['rooms.add', () => presence.rooms.add(bad, 'chan.x')],
      ['rooms.remove', () => presence.rooms.remove(bad, 'chan.x')],
      ['rooms.getUsers', () => presence.rooms.getUsers(bad)],
      ['rooms.prunePresences', () => presence.rooms.prunePresences(-1)],
      ['presences.touch', () => presence.presences.touch(bad)],
      ['presences.disconnect', () => presence.presences.disconnect(bad)],
      ['presences.update', () => presence.presences.update('chan.x', bad as never)],
      ['touchPresence wrapper', () => presence.touchPresence(() => 'handled')(bad, 'hello')],
      ['removePresence wrapper', () => presence.removePresence(() => 'handled')(bad)],
    ];
    for (const [name, call] of calls) {
      let result: Promise<unknown> | undefined;
      expect(() => (result = call()), name).not.toThrow();
      await expect(result, name).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
    await presence.close();
  });
});
