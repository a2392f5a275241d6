// Real servers and clients for the integration tests: an HTTP server on a free
// loopback port, and a mailbox that records what a client receives so a test can wait
// for the message it expects (never for a fixed time).
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export async function listen(): Promise<{ server: HttpServer; port: number; close(): Promise<void> }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Messages a client received, in order, with a way to wait for one that matches. */
export class Mailbox<T> {
  readonly received: T[] = [];
  private waiters: { match: (message: T) => boolean; resolve: (message: T) => void }[] = [];

  push(message: T): void {
    this.received.push(message);
    for (const waiter of [...this.waiters]) {
      if (waiter.match(message)) {
        this.waiters = this.waiters.filter((other) => other !== waiter);
        waiter.resolve(message);
      }
    }
  }

  /** The first message (already received or still to come) that matches, within `timeoutMs`. */
  next(match: (message: T) => boolean, timeoutMs = 5000, what = 'a matching message'): Promise<T> {
    const seen = this.received.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return this.wait(match, timeoutMs, what);
  }

  /** The next message from now on that matches. */
  wait(match: (message: T) => boolean, timeoutMs = 5000, what = 'a matching message'): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter.resolve !== done);
        reject(new Error(`Timed out after ${timeoutMs} ms waiting for ${what}; received: ${JSON.stringify(this.received)}`));
      }, timeoutMs);
      const done = (message: T) => {
        clearTimeout(timer);
        resolve(message);
      };
      this.waiters.push({ match, resolve: done });
    });
  }

  clear(): void {
    this.received.length = 0;
  }
}

/** Resolves when `condition` holds, checking every 20 ms, or rejects after `timeoutMs`. */
export async function eventually(condition: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'a condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A promise a test resolves by hand: `await gate.opened` waits until `gate.open()`. */
export function gate(): { opened: Promise<void>; open(): void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}
