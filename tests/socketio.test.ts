// What only the Socket.IO integration does: bare room names as join requests, its
// heartbeat events, and detach. What both integrations share is in integrations.test.ts.
import { describe, expect, it } from 'vitest';
import { testEngines, useDatabase } from './support/databases.ts';
import { eventually } from './support/realtime.ts';
import { useTracker } from './support/tracker.ts';
import { roomState, startSocketIoServer, useServer } from './support/transports.ts';

describe.each(testEngines())('Socket.IO integration on %s', (engine) => {
  const database = useDatabase(engine);
  const tracked = useTracker(database, { maxAge: 60 });
  const start = useServer(tracked, startSocketIoServer);

  it('a join request may be a bare room name; one that is neither a name nor an object is refused', async () => {
    const guest = await (await start()).connect();
    await expect(guest.join('lobby')).resolves.toEqual({ ok: true, room: 'lobby' });
    await guest.inbox.next(roomState('lobby', [], 1));
    await expect(guest.join(42)).resolves.toMatchObject({ ok: false, error: 'room must be a string, got 42' });
  });

  it('every event touches the presence; a heartbeat touches and reaches no handler', async () => {
    const server = await start();
    const appEvents: unknown[][] = [];
    server.io.on('connection', (socket) => {
      for (const event of ['heartbeat', 'message', 'chat']) socket.on(event, (...args: unknown[]) => appEvents.push([event, ...args]));
    });
    const guest = await server.connect();
    await guest.join('lobby');
    tracked.clock.advance(30);
    guest.socket.emit('heartbeat');
    guest.socket.send('heartbeat');
    await eventually(async () => {
      await tracked.presence.presences.flush();
      const [row] = await database.db.rows<{ lastSeen: string }>('SELECT "lastSeen" FROM "Presence" WHERE "channelName" = ?', guest.channel);
      return new Date(row!.lastSeen).getTime() === tracked.clock.now().getTime();
    }, 5000, 'the heartbeat touch');
    guest.socket.emit('chat', 'hello');
    await eventually(() => appEvents.some(([event]) => event === 'chat'), 5000, 'the chat event');
    guest.socket.send('not a heartbeat');
    await eventually(() => appEvents.some(([event]) => event === 'message'), 5000, 'the message event');
    expect(appEvents).toEqual([
      ['chat', 'hello'],
      ['message', 'not a heartbeat'],
    ]);
  });

  it('detach stops handling new connections and changes', async () => {
    const server = await start();
    server.integration.detach();
    const a = await server.connect();
    await expect(a.socket.timeout(300).emitWithAck('presence:join', 'lobby')).rejects.toThrow();
    await tracked.presence.rooms.add('lobby', 'chan.other');
    expect(a.inbox.received).toEqual([]);
  });
});
