// `npm start`: the live demo. A Socket.IO chat whose member list comes from prisma-presence,
// stored in embedded SQLite. Open http://127.0.0.1:3000 in a few tabs, give them names,
// switch rooms, close a tab: every page follows. A tab that vanishes without closing (a
// laptop lid, a lost network) stops heartbeating and is pruned after the max age.
//
// Environment: PORT (default 3000), PRESENCE_DATABASE_URL (default file:./presence-demo.db),
// PRESENCE_MAX_AGE in seconds (default 30 here, so pruning is quick to watch).
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Server, type Socket } from 'socket.io';
import { createPresence, migrate } from '../../src/index.ts';
import { attachPresence } from '../../src/integrations/socketio.ts';

const port = Number(process.env.PORT || 3000);
const databaseUrl = process.env.PRESENCE_DATABASE_URL || 'file:./presence-demo.db';
const publicDir = fileURLToPath(new URL('./public/', import.meta.url)); // ends with a slash

/** The longest room name, display name and message the server accepts, in characters once trimmed. */
const LIMITS = { room: 32, name: 24, message: 500 };

await migrate({ databaseUrl });
// createPresence reads PRESENCE_MAX_AGE itself; the demo only lowers the default from 60 s.
// liveness: if this server crashes, the next prune (here or in any process) removes its visitors at once.
const presence = createPresence({ databaseUrl, maxAge: process.env.PRESENCE_MAX_AGE?.trim() ? undefined : 30, liveness: true });
const { maxAge } = presence;
presence.on('error', (error) => console.error(`presence error: ${error.message}`));
// Pruning in this process (no cron needed): silent connections leave within maxAge + every.
presence.startPruning({ every: Math.max(0.5, maxAge / 4) });

// Three heartbeats per max age, so one late heartbeat never gets a live tab pruned.
const config = { maxAge, heartbeatSeconds: maxAge / 3 };

const server = createServer((request, response) => {
  serve(request, response).catch((error: unknown) => {
    console.error(error);
    if (!response.headersSent) response.writeHead(500);
    response.end();
  });
});
const io = new Server(server); // also serves its client at /socket.io/socket.io.js

const integration = attachPresence(io, presence, {
  // A join request is { room, name }; the display name is the user id, empty means anonymous.
  authorize(socket, request) {
    const { room, name } = (request ?? {}) as { room?: unknown; name?: unknown };
    const roomName = cleanText(room, LIMITS.room);
    const userName = cleanText(name, LIMITS.name);
    if (!roomName || userName === undefined) return null;
    socket.data.name = userName;
    return { room: roomName, userId: userName || null };
  },
});

io.on('connection', (socket: Socket) => {
  // Chat is ordinary app traffic: the integration has already touched the sender's presence.
  socket.on('chat', (message: unknown) => {
    const { room, text } = (message ?? {}) as { room?: unknown; text?: unknown };
    const body = cleanText(text, LIMITS.message);
    // Only connections present in the room may talk in it (a pruned one has left its Socket.IO room).
    if (typeof room !== 'string' || !socket.rooms.has(room) || !body) return;
    io.to(room).emit('chat', { room, from: socket.data.name || null, sender: socket.id, text: body, at: Date.now() });
  });
});

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
};

async function serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
  if (request.method !== 'GET' && request.method !== 'HEAD') return send(response, 405, 'text/plain', 'Method not allowed');
  const { pathname } = new URL(request.url ?? '/', 'http://localhost');
  if (pathname === '/config.json') return send(response, 200, 'application/json', JSON.stringify(config));
  const file = resolve(join(publicDir, pathname === '/' ? 'index.html' : pathname));
  const type = contentTypes[extname(file)];
  // Nothing outside public/, and only the kinds of file listed above.
  if (!file.startsWith(publicDir) || !type) return send(response, 404, 'text/plain', 'Not found');
  let body: Buffer;
  try {
    body = await readFile(file);
  } catch {
    return send(response, 404, 'text/plain', 'Not found');
  }
  send(response, 200, type, body, request.method === 'HEAD');
}

function send(response: ServerResponse, status: number, type: string, body: string | Buffer, headOnly = false): void {
  response.writeHead(status, {
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-cache',
    'X-Content-Type-Options': 'nosniff',
  });
  response.end(headOnly ? undefined : body);
}

/** The trimmed text if `value` is a string of at most `max` characters once trimmed. */
function cleanText(value: unknown, max: number): string | undefined {
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  return text.length <= max ? text : undefined;
}

server.once('error', (error: NodeJS.ErrnoException) => {
  console.error(error.code === 'EADDRINUSE' ? `Error: port ${port} is in use; set PORT to another one` : `Error: ${error.message}`);
  process.exitCode = 1;
  void io.close();
  void presence.close();
});
server.listen(port, '127.0.0.1', () => {
  console.log(`prisma-presence demo on http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});

// Ctrl-C, or a process manager's stop: disconnect everyone (which removes their presences),
// let the broadcasts that caused finish, then close the database. Nothing else keeps the
// process alive, so it exits on its own.
let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await io.close();
  await integration.idle();
  await presence.close();
  console.log('prisma-presence demo stopped');
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    shutdown().catch((error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    });
  });
}
