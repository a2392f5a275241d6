import { existsSync } from 'node:fs';

/**
 * Blocks this process's event loop (nothing is read, no timer fires) until `path` exists,
 * as a process stuck in long synchronous work would be.
 */
export function blockUntilExists(path: string, timeoutMs = 30_000): void {
  const deadline = Date.now() + timeoutMs;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`Blocked for ${timeoutMs} ms: ${path} never appeared`);
    Atomics.wait(pause, 0, 0, 5);
  }
}
