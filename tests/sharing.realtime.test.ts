// Event sharing through the integrations: a Socket.IO server and a ws server (both in
// this process, each on a tracker of its own with shareEvents) with real clients, while
// other trackers and the real presence-admin bin (run as cron would, with a minimal env)
// change the same database. What another process does must reach the clients.
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PresenceChangedEvent, PresenceTracker } from '../src/index.ts';
import { blockUntilExists } from './support/blocking.ts';
import { snapshot, testEngines, useDatabase } from './support/databases.ts';
import { eventually, Mailbox } from './support/realtime.ts';
import { scratchDir } from './support/scratch.ts';
import { roomState, startSocketIoServer, startWsServer, type Received, type TestClient, type TestServer } from './support/transports.ts';
import { presenceAdmin } from './support/cli.ts';
import { untilListening, useProcesses, Worker } from './support/workers.ts';

/** Two minutes: older than the bin's default max age (60 s), so such a presence is stale at once. */
const LAG_MS = 120_000;

describe.each(testEngines())('a cron prune reaches Socket.IO and ws clients through shared events on %s', (engine) => {
  const database = useDatabase(engine);
  const { tracker } = useProcesses(database, { shareEvents: true });
  let ioServer: TestServer;
  let wsServer: TestServer;
  let servers: TestServer[];
  let integrationErrors: Error[];
  /** Remote `changed` events each server's tracker heard. */
  let heard: Map<PresenceTracker, Mailbox<PresenceChangedEvent>>;
  /** Milliseconds the servers' clocks run behind: a presence written meanwhile is stale at once. */
  let serverLag: number;
  let ioPresence: PresenceTracker;
  let wsPresence: PresenceTracker;

  const authorize = (_connection: unknown, request: unknown) => request as { room: string; userId: string };

  /** The two servers, each on its own sharing tracker, whose clock lags by `serverLag`. */
  async function startServers(): Promise<void> {
    const errors = integrationErrors; // this test's: nothing a later one does lands here
    const onError = (error: Error) => void errors.push(error);
    const lagging = { now: () => new Date(Date.now() - serverLag) };
    ioPresence = tracker(lagging);
    wsPresence = tracker(lagging);
    for (const server of [ioPresence, wsPresence]) {
      const mailbox = new Mailbox<PresenceChangedEvent>();
      heard.set(server, mailbox);
      server.on('changed', (event) => {
        if (event.remote) mailbox.push(event);
      });
      server.on('error', onError);
    }

    ioServer = await startSocketIoServer(ioPresence, { authorize, onError });
    wsServer = await startWsServer(wsPresence, { authorize, onError });
    servers.push(ioServer, wsServer);
  }

  /** A request the server answers on this same connection: whatever it sent `client` before is received by then. */
  async function roundTrip(client: TestClient): Promise<void> {
    await expect(client.leave('nowhere')).resolves.toEqual(client.transport.replies.left('nowhere'));
  }

  /** The first message received after the first `from` ones (or still to come) that matches. */
  const receivedSince = (client: TestClient, from: number, match: (message: Received) => boolean, what: string) => {
    const seen = client.inbox.received.slice(from).find(match);
    return seen !== undefined ? Promise.resolve(seen) : client.inbox.wait(match, 5000, `${client.transport.name}: ${what}`);
  };

  const members = (room: string, names: string[]) => roomState(room, names, 0);

  /**
   * Waits until both servers hear a change made now by another tracker: a tracker reads
   * the shared log from the point it found when it started, so only from then on is
   * nothing missed.
   */
  async function serversListening(): Promise<void> {
    const writer = tracker();
    for (const server of [ioPresence, wsPresence]) {
      await untilListening(writer, (channel) => heard.get(server)!.next((event) => event.added?.channelName === channel, 1000));
    }
  }

  beforeEach(async () => {
    servers = [];
    integrationErrors = [];
    heard = new Map();
    serverLag = 0;
    await database.db.rows('DELETE FROM "PresenceEvent"');
  });
  afterEach(async () => {
    // Runs before useProcesses closes the trackers (after-hooks run in reverse order).
    for (const server of servers) await server.close(); // each closes its clients first
    // Every closed connection leaves its rooms (the servers' channels are the ones not named chan.*).
    await eventually(
      async () => (await database.db.rows('SELECT 1 FROM "Presence" WHERE "channelName" NOT LIKE ?', 'chan.%')).length === 0,
      5000,
      'the closed connections to leave their rooms',
    );
  });

  it('a stale presence added by another process shows on both servers’ clients; the real bin prunes it and both see it gone', async () => {
    await startServers();
    await serversListening();
    const alice = await ioServer.connect();
    const bob = await wsServer.connect();
    await expect(alice.join({ room: 'lobby', userId: 'alice' })).resolves.toEqual({ ok: true, room: 'lobby' });
    await expect(bob.join({ room: 'lobby', userId: 'bob' })).resolves.toEqual({ type: 'joined', room: 'lobby' });
    // Each server learns of the other's client from the shared log.
    for (const client of [alice, bob]) await client.inbox.next(members('lobby', ['alice', 'bob']), 5000, `${client.transport.name}: alice and bob`);

    // Another process, its clock two minutes behind, adds a presence that is stale at once.
    const stale = tracker({ now: () => new Date(Date.now() - LAG_MS) });
    await stale.rooms.add('lobby', 'chan.ghost', 'ghost');
    for (const client of [alice, bob]) await client.inbox.next(members('lobby', ['alice', 'bob', 'ghost']), 5000, `${client.transport.name}: ghost`);
    for (const server of [ioPresence, wsPresence]) {
      expect(await heard.get(server)!.next((event) => event.added?.channelName === 'chan.ghost')).toMatchObject({ remote: true, room: { channelName: 'lobby' } });
    }

    // Cron: the real bin, with nothing but PATH and the switch in its environment.
    const marks = [alice, bob].map((client) => client.inbox.received.length);
    const result = await presenceAdmin(['prune-presence', '--database-url', database.url], { env: { PRESENCE_SHARE_EVENTS: '1' } });
    expect(result).toEqual({ code: 0, stdout: 'Pruned 1 presence from 1 room\n', stderr: '' });
    for (const [i, client] of [alice, bob].entries()) await receivedSince(client, marks[i]!, members('lobby', ['alice', 'bob']), 'ghost gone');
    for (const server of [ioPresence, wsPresence]) {
      const prune = await heard.get(server)!.next((event) => event.bulkChange);
      expect(prune).toMatchObject({ remote: true, room: { channelName: 'lobby' }, added: null, removed: null });
      expect(prune.pruned.map((presence) => [presence.channelName, presence.userId])).toEqual([['chan.ghost', 'ghost']]);
    }
    // Live clients were not pruned, and nobody was told they were.
    for (const client of [alice, bob]) {
      expect(client.inbox.received.filter((message) => message.type === 'pruned')).toEqual([]);
      expect(client.connected()).toBe(true);
    }
    expect((await snapshot(database.db)).map((entry) => entry.replace(/\/.*=/, '/=')).sort()).toEqual(['lobby/=alice', 'lobby/=bob']);
    expect(integrationErrors).toEqual([]);
  });

  it('a client whose own presence the bin prunes is told so and no longer receives the room’s broadcasts', async () => {
    await startServers();
    await serversListening();
    // Joined while their servers' clocks ran two minutes behind: stale from the start.
    serverLag = LAG_MS;
    const vic = await ioServer.connect();
    const wanda = await wsServer.connect();
    await expect(vic.join({ room: 'lobby', userId: 'vic' })).resolves.toEqual({ ok: true, room: 'lobby' });
    await expect(wanda.join({ room: 'lobby', userId: 'wanda' })).resolves.toEqual({ type: 'joined', room: 'lobby' });
    serverLag = 0;
    const alice = await ioServer.connect();
    const bob = await wsServer.connect();
    await alice.join({ room: 'lobby', userId: 'alice' });
    await bob.join({ room: 'lobby', userId: 'bob' });
    const everyone = ['alice', 'bob', 'vic', 'wanda'];
    for (const client of [alice, bob, vic, wanda]) await client.inbox.next(members('lobby', everyone), 5000, `${client.transport.name}: all four`);

    const marks = [alice, bob].map((client) => client.inbox.received.length);
    const result = await presenceAdmin(['prune-presence', '--database-url', database.url], { env: { PRESENCE_SHARE_EVENTS: '1' } });
    expect(result).toEqual({ code: 0, stdout: 'Pruned 2 presences from 1 room\n', stderr: '' });
    for (const victim of [vic, wanda]) {
      await expect(victim.inbox.next((message) => message.type === 'pruned', 5000, `${victim.transport.name}: pruned`)).resolves.toEqual({ type: 'pruned', room: 'lobby' });
    }
    for (const [i, client] of [alice, bob].entries()) await receivedSince(client, marks[i]!, members('lobby', ['alice', 'bob']), 'vic and wanda gone');

    // The room changes again (another process joins it): the live clients hear it, the pruned ones do not.
    await tracker().rooms.add('lobby', 'chan.carol', 'carol');
    for (const client of [alice, bob]) await client.inbox.next(members('lobby', ['alice', 'bob', 'carol']), 5000, `${client.transport.name}: carol`);
    for (const victim of [vic, wanda]) {
      await roundTrip(victim); // anything the server sent it before this answer has arrived by now
      const afterPrune = victim.inbox.received.slice(victim.inbox.received.findIndex((message) => message.type === 'pruned') + 1);
      expect(afterPrune.filter((message) => message.type === 'presence')).toEqual([]);
      expect(victim.inbox.received.filter((message) => message.type === 'pruned')).toHaveLength(1);
      expect(victim.connected()).toBe(true); // onPruned 'notify': told, not disconnected
    }
    expect(integrationErrors).toEqual([]);
  });

  it('a connection that joins its room again as another user shows the new user to the other server’s clients', async () => {
    await startServers();
    await serversListening();
    const alice = await ioServer.connect();
    const bob = await wsServer.connect();
    await alice.join({ room: 'lobby', userId: 'alice' });
    await bob.join({ room: 'lobby', userId: 'bob' });
    // Each server has heard the other's join and sent what it made it send: from here on,
    // a server sends its clients members only for a change it hears of.
    await heard.get(wsPresence)!.next((event) => event.added?.userId === 'alice', 5000, 'the ws server to hear alice');
    await heard.get(ioPresence)!.next((event) => event.added?.userId === 'bob', 5000, 'the Socket.IO server to hear bob');
    for (const server of servers) await server.integration.idle();
    for (const client of [alice, bob]) await client.inbox.next(members('lobby', ['alice', 'bob']), 5000, `${client.transport.name}: alice and bob`);

    // Each server re-joins its client's connection to the room as another user, through its own join().
    await ioServer.integration.join(alice.connection, 'lobby', 'carol');
    await bob.inbox.next(members('lobby', ['bob', 'carol']), 5000, `${bob.transport.name}: carol in alice's place, from the other server`);
    expect(await heard.get(wsPresence)!.next((event) => event.added?.userId === 'carol')).toMatchObject({
      remote: true,
      room: { channelName: 'lobby' },
      removed: { userId: 'alice' },
    });
    await wsServer.integration.join(bob.connection, 'lobby', 'dave');
    await alice.inbox.next(members('lobby', ['carol', 'dave']), 5000, `${alice.transport.name}: dave in bob's place, from the other server`);
    expect(await heard.get(ioPresence)!.next((event) => event.added?.userId === 'dave')).toMatchObject({
      remote: true,
      room: { channelName: 'lobby' },
      removed: { userId: 'bob' },
    });

    await bob.inbox.next(members('lobby', ['carol', 'dave']), 5000, `${bob.transport.name}: carol and dave`);
    expect(await ioPresence.rooms.getUsers('lobby')).toEqual(['carol', 'dave']);
    expect(integrationErrors).toEqual([]);
  });

  it('when the servers could not read before the log was trimmed, resync re-sends both servers’ clients the full members list', async () => {
    await startServers();
    const resyncs: string[] = [];
    for (const server of [ioPresence, wsPresence]) server.on('resync', ({ reason }) => void resyncs.push(reason));
    await serversListening();
    const alice = await ioServer.connect();
    const bob = await wsServer.connect();
    await alice.join({ room: 'lobby', userId: 'alice' });
    await bob.join({ room: 'lobby', userId: 'bob' });
    for (const client of [alice, bob]) await client.inbox.next(members('lobby', ['alice', 'bob']), 5000, `${client.transport.name}: alice and bob`);

    // Another process adds ghost, waits a second, then prunes with a 1 s retention: ghost's
    // entry is trimmed while this process (both servers) is blocked and reads nothing.
    const other = await Worker.start(database.url, { SHARING_EVENT_RETENTION: '1' });
    try {
      // Queued in this order, and run in this order by the worker.
      const added = other.run('rooms.add', 'lobby', 'chan.ghost', 'ghost');
      other.block(1100); // ghost's entry outlives the 1 s retention
      const pruned = other.run('rooms.prunePresences');
      const trimmed = join(scratchDir('trimmed'), 'done');
      other.touch(trimmed);
      blockUntilExists(trimmed);
      await Promise.all([added, pruned]);
      for (const client of [alice, bob]) await client.inbox.next(members('lobby', ['alice', 'bob', 'ghost']), 5000, `${client.transport.name}: ghost after resync`);
    } finally {
      await other.stop();
    }
    expect(resyncs).toHaveLength(2);
    for (const server of [ioPresence, wsPresence]) expect(heard.get(server)!.received.filter((event) => event.added?.channelName === 'chan.ghost')).toEqual([]);
    expect(integrationErrors).toEqual([]);
  });
});
