import { beforeEach, describe, expect, it } from 'vitest';
import { snapshot, testEngines, useDatabase } from './support/databases.ts';
import { useTracker } from './support/tracker.ts';

describe.each(testEngines())('handler wrappers on %s', (engine) => {
  const database = useDatabase(engine);
  const tracked = useTracker(database);
  beforeEach(async () => {
    await tracked.presence.rooms.add('lobby', 'chan.1');
    tracked.clock.advance(30);
  });

  const lastSeenOf = async (channel: string) => {
    await tracked.presence.presences.flush();
    const [row] = await database.db.rows<{ lastSeen: string }>('SELECT "lastSeen" FROM "Presence" WHERE "channelName" = ?', channel);
    return new Date(row!.lastSeen).toISOString();
  };

  describe('touchPresence', () => {
    it('touches, then calls the handler with every argument and returns its result', async () => {
      const calls: unknown[][] = [];
      const onMessage = tracked.presence.touchPresence((channel: string, message: string, socket: { id: number }, extra: string) => {
        calls.push([channel, message, socket, extra]);
        return `handled ${message}`;
      });
      await expect(onMessage('chan.1', 'hello', { id: 1 }, 'x')).resolves.toBe('handled hello');
      expect(calls).toEqual([['chan.1', 'hello', { id: 1 }, 'x']]);
      expect(await lastSeenOf('chan.1')).toBe(tracked.clock.now().toISOString());
    });

    it.each([
      ['a string', '"heartbeat"'],
      ['a Buffer', Buffer.from('"heartbeat"')],
      ['a Uint8Array', new TextEncoder().encode('"heartbeat"')],
    ])('a heartbeat as %s touches and stops before the handler', async (_kind, message) => {
      let called = false;
      const onMessage = tracked.presence.touchPresence(() => {
        called = true;
      });
      await expect(onMessage('chan.1', message)).resolves.toBeUndefined();
      expect(called).toBe(false);
      expect(await lastSeenOf('chan.1')).toBe(tracked.clock.now().toISOString());
    });

    it.each([
      ['heartbeat'],
      ['"heartbeat!"'],
      ['{"type":"heartbeat"}'],
      [{ text: '"heartbeat"' }],
      [' "heartbeat"'],
      ['"heartbeat"\n'],
      [Buffer.from(' "heartbeat" ')],
    ])(
      '%j is not a heartbeat: the handler runs',
      async (message) => {
        let received: unknown;
        const onMessage = tracked.presence.touchPresence((_channel: string, payload: unknown) => {
          received = payload;
        });
        await onMessage('chan.1', message);
        expect(received).toEqual(message);
      },
    );

    it('awaits an async handler and passes its rejection through', async () => {
      const onMessage = tracked.presence.touchPresence(async () => {
        throw new Error('handler failed');
      });
      await expect(onMessage('chan.1', 'hello')).rejects.toThrow('handler failed');
      expect(await lastSeenOf('chan.1')).toBe(tracked.clock.now().toISOString());
    });

    it('rejects without calling the handler when the channel name is invalid', async () => {
      let called = false;
      const onMessage = tracked.presence.touchPresence(() => {
        called = true;
      });
      await expect(onMessage('', 'hello')).rejects.toMatchObject({ name: 'PresenceError', code: 'INVALID_ARGUMENT' });
      expect(called).toBe(false);
    });
  });

  describe('removePresence', () => {
    it('leaves every room before the handler runs, then returns its result', async () => {
      await tracked.presence.rooms.add('kitchen', 'chan.1');
      await tracked.presence.rooms.add('kitchen', 'chan.2');
      let seenByHandler: string[] = [];
      const onDisconnect = tracked.presence.removePresence(async (channel: string, code: number) => {
        seenByHandler = await snapshot(database.db);
        return `${channel} closed ${code}`;
      });
      await expect(onDisconnect('chan.1', 1000)).resolves.toBe('chan.1 closed 1000');
      expect(seenByHandler).toEqual(['kitchen/chan.2=-']);
    });
  });
});
