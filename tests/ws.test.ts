// What only the ws integration does: its channel names, its heartbeat forms and
// onMessage, and broadcast(); and its socket registry. What both integrations share is in
// integrations.test.ts.
import type { WebSocket } from 'ws';
import { describe, expect, it } from 'vitest';
import { SocketRegistry } from '../src/integrations/registry.ts';
import { testEngines, useDatabase } from './support/databases.ts';
import { eventually } from './support/realtime.ts';
import { useTracker } from './support/tracker.ts';
import { startWsServer, useServer } from './support/transports.ts';

describe.each(testEngines())('ws integration on %s', (engine) => {
  const database = useDatabase(engine);
  const tracked = useTracker(database, { maxAge: 60 });
  const start = useServer(tracked, startWsServer);

  it('each connection gets a channel name of its own, ws.<uuid>', async () => {
    const server = await start();
    const channels = [(await server.connect()).channel, (await server.connect()).channel];
    expect(channels.every((channel) => /^ws\.[0-9a-f-]{36}$/.test(channel!))).toBe(true);
    expect(channels[0]).not.toBe(channels[1]);
  });

  it('every message touches; exactly "heartbeat" (text or binary) reaches no handler, other messages reach onMessage', async () => {
    const appMessages: string[] = [];
    const server = await start({ onMessage: (_socket, data) => void appMessages.push(data.toString()) });
    const guest = await server.connect();
    await guest.join({ room: 'lobby' });
    tracked.clock.advance(30);
    guest.send('"heartbeat"');
    guest.socket.send(Buffer.from('"heartbeat"'));
    guest.send('hello');
    guest.send(' "heartbeat"');
    guest.send({ type: 'chat', text: 'hi' });
    await eventually(() => appMessages.length === 3, 5000, 'three app messages');
    await tracked.presence.presences.flush();
    const [row] = await database.db.rows<{ lastSeen: string }>('SELECT "lastSeen" FROM "Presence" WHERE "channelName" = ?', guest.channel);
    expect(new Date(row!.lastSeen).toISOString()).toBe(tracked.clock.now().toISOString());
    // Only the exact JSON string is a heartbeat: with a space around it, it is the app's.
    expect(appMessages).toEqual(['hello', ' "heartbeat"', JSON.stringify({ type: 'chat', text: 'hi' })]);
  });

  it("broadcast() sends an app message to the room's group", async () => {
    const server = await start();
    const member = await server.connect();
    await member.join({ room: 'lobby' });
    server.integration.broadcast('lobby', { type: 'chat', text: 'hi all' });
    const isChat = (message: unknown) => (message as { type: string }).type === 'chat';
    await expect(member.inbox.next(isChat)).resolves.toEqual({ type: 'chat', text: 'hi all' });
  });
});

describe('the ws socket registry', () => {
  /** Counts the steps of every Map and Set iteration while `work` runs. */
  function iterationSteps(work: () => void): number {
    const prototypes = [new Map().entries(), new Set().values()].map((iterator) => Object.getPrototypeOf(iterator) as { next: () => unknown });
    const originals = prototypes.map((prototype) => prototype.next);
    let steps = 0;
    prototypes.forEach((prototype, i) => {
      prototype.next = function (this: unknown) {
        steps++;
        return originals[i]!.call(this);
      };
    });
    try {
      work();
    } finally {
      prototypes.forEach((prototype, i) => (prototype.next = originals[i]!));
    }
    return steps;
  }

  it("a disconnect visits only its connection's rooms, however many rooms the process holds", () => {
    const registry = new SocketRegistry();
    const socket = () => ({ readyState: 1, send() {} }) as unknown as WebSocket;
    const other = registry.add(socket());
    for (let room = 0; room < 10_000; room++) registry.join(`room-${room}`, other);
    const leaving = registry.add(socket());
    registry.join('room-1', leaving);
    registry.join('room-2', leaving);
    expect(iterationSteps(() => registry.remove(leaving))).toBeLessThan(10);
    // The other connection is still in every room; the one that left is in none.
    let reached = 0;
    const counting = { readyState: 1, send: () => reached++ } as unknown as WebSocket;
    const third = registry.add(counting);
    registry.join('room-1', third);
    registry.sendToRoom('room-1', 'hello');
    expect(reached).toBe(1);
  });
});
