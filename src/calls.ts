import { PresenceError } from './errors.js';

/**
 * The boundary of a tracker's public calls: every call returns a promise (a bad argument
 * rejects, it never throws), calls after `close()` reject with CLOSED, and `close()`
 * can wait for the calls already running.
 */
export class CallBoundary {
  private readonly running = new Set<Promise<unknown>>();
  private closed = false;

  /** Runs `call` unless closed, and remembers it until it settles. */
  run<R>(call: () => Promise<R>): Promise<R> {
    if (this.closed) return Promise.reject(closedError());
    let result: Promise<R>;
    try {
      result = call();
    } catch (error) {
      return Promise.reject(error);
    }
    this.running.add(result);
    const forget = () => void this.running.delete(result);
    result.then(forget, forget);
    return result;
  }

  /** The same functions, each call going through `run`. */
  wrap<T extends object>(methods: T): T {
    return Object.fromEntries(
      Object.entries(methods).map(([name, method]) => [name, (...args: unknown[]) => this.run(() => (method as (...a: unknown[]) => Promise<unknown>)(...args))]),
    ) as T;
  }

  /** Refuses new calls from now on. */
  close(): void {
    this.closed = true;
  }

  /** Throws CLOSED once closed (for the synchronous methods). */
  assertOpen(): void {
    if (this.closed) throw closedError();
  }

  /** Resolves when every call started before `close()` has settled. */
  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }
}

function closedError(): PresenceError {
  return new PresenceError('CLOSED', 'This presence instance is closed');
}
