import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPresence } from '../src/index.ts';
import { inspect, migratedDatabase } from './support/databases.ts';

describe('PostgreSQL connection handling', () => {
  let silent: Server;
  let port: number;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    // Accepts connections and never answers: a server that hangs.
    silent = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    port = (silent.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  it('gives up on a server that never answers after connectTimeout, with DATABASE_UNAVAILABLE and no password', async () => {
    const presence = createPresence({ databaseUrl: `postgresql://app:pa55word@127.0.0.1:${port}/app`, pool: { connectTimeout: 1000 } });
    const started = Date.now();
    const failure = await presence.rooms.getUsers('lobby').catch((error: unknown) => error);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(failure).toMatchObject({ name: 'PresenceError', code: 'DATABASE_UNAVAILABLE' });
    expect(String((failure as Error).message)).not.toContain('pa55word');
    await presence.close();
  });

  it('fails fast with DATABASE_UNAVAILABLE when nothing listens', async () => {
    const presence = createPresence({ databaseUrl: 'postgresql://app@127.0.0.1:1/app' });
    await expect(presence.rooms.add('lobby', 'chan.1')).rejects.toMatchObject({ code: 'DATABASE_UNAVAILABLE' });
    await presence.close();
  });
});

describe('SQLite file settings', () => {
  it('switches the file to WAL mode so that processes can read while one writes', async () => {
    const url = await migratedDatabase('sqlite');
    const presence = createPresence({ databaseUrl: url });
    await presence.rooms.add('lobby', 'chan.1');
    const db = await inspect(url);
    expect(await db.rows('PRAGMA journal_mode')).toEqual([{ journal_mode: 'wal' }]);
    await db.close();
    await presence.close();
  });
});
