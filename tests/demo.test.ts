import { execFile } from 'node:child_process';
import { get } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { io as connect } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { root, startDemo, type DemoProcess } from './support/browser.ts';
import { inspect, snapshot } from './support/databases.ts';
import { eventually } from './support/realtime.ts';
import { scratchDir } from './support/scratch.ts';

const run = promisify(execFile);

describe('npm run tour', () => {
  it('runs the console tour on SQLite to the end and exits 0', async () => {
    const databaseUrl = `file:${join(scratchDir('tour'), 'tour.db')}`;
    const { stdout } = await run('npm', ['run', 'tour', '--silent'], {
      cwd: root,
      env: { ...process.env, PRESENCE_DATABASE_URL: databaseUrl },
      timeout: 60_000,
    });
    expect(stdout).toContain('event: chan.alice (alice) joined lobby');
    expect(stdout).toContain('lobby: users [alice, bob], anonymous 1');
    expect(stdout).toContain('event: stale presences pruned from lobby');
    expect(stdout).toContain('lobby: users [bob], anonymous 0');
    expect(stdout).toContain('pruned 1 empty room(s)');
    expect(stdout).toContain('Done.');
  });
});

describe('npm start', () => {
  let demo: DemoProcess | undefined;
  afterEach(() => demo?.kill());

  it('serves the room page and the Socket.IO client, and exits cleanly on SIGTERM', async () => {
    const databaseUrl = `file:${join(scratchDir('demo'), 'demo.db')}`;
    demo = await startDemo('npm', ['start', '--silent'], { PORT: '0', PRESENCE_DATABASE_URL: databaseUrl, PRESENCE_MAX_AGE: '9' });
    expect(demo.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const page = await fetch(`${demo.url}/`);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await page.text();
    expect(html).toContain('<script src="/socket.io/socket.io.js"');
    expect(html).toContain('<script src="/app.js" type="module">');
    const client = await fetch(`${demo.url}/socket.io/socket.io.js`);
    expect(client.status).toBe(200);
    expect(client.headers.get('content-type')).toMatch(/^application\/javascript/);
    expect((await fetch(`${demo.url}/style.css`)).headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(await (await fetch(`${demo.url}/config.json`)).json()).toEqual({ maxAge: 9, heartbeatSeconds: 3 });
    expect(await statusOf(demo.url, '/../../package.json')).toBe(404);
    expect(await statusOf(demo.url, '/../server.ts')).toBe(404);

    // A connected visitor, whose presence the shutdown must remove.
    const socket = connect(demo.url, { transports: ['websocket'], reconnection: false });
    const db = await inspect(databaseUrl);
    try {
      await expect(socket.timeout(5000).emitWithAck('presence:join', { room: 'lobby', name: 'alice' })).resolves.toEqual({ ok: true, room: 'lobby' });
      expect(await snapshot(db)).toEqual([`lobby/${socket.id}=alice`]);

      // What Ctrl-C in a terminal or a service manager's stop does: signal every process of
      // `npm start` (npm alone does not pass a signal on through its shell to the server).
      await demo.stop('SIGTERM', { group: true });
      await eventually(() => !demo!.groupAlive(), 15_000, 'every process of npm start to exit');
      expect(demo.output()).toContain('prisma-presence demo stopped');
      expect(demo.output()).not.toMatch(/Error|PresenceWarning/);
      expect(await snapshot(db)).toEqual([]);
    } finally {
      socket.disconnect();
      await db.close();
    }
  });
});

/** The status of a GET for a raw path, sent as is (fetch would normalize `..` away). */
function statusOf(url: string, path: string): Promise<number> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    get({ hostname, port, path }, (response) => {
      response.resume();
      resolve(response.statusCode!);
    }).on('error', reject);
  });
}
