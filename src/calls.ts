import { closedError } from './errors.js';

/**
 * The boundary of a tracker's public calls: every call returns a promise (a bad argument
 * rejects, it never throws), calls after `close()` reject with CLOSED, and `close()`
 * can wait for the calls already running. While closing, the tracker's own listeners
 * (`admitWhileClosing`) may still call: they react to the last changes.
 */
export class CallBoundary {
  private readonly running = new Set<Promise<unknown>>();
  private state: 'open' | 'closing' | 'closed' = 'open';

  constructor(private readonly admitWhileClosing: () => boolean) {}

  /** Runs `call` unless closed, and remembers it until it settles. */
  run<R>(call: () => Promise<R>): Promise<R> {
    if (this.state === 'closed' || (this.state === 'closing' && !this.admitWhileClosing())) return Promise.reject(closedError());
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

  /** Refuses new calls from now on, but those of listeners until `closed()`. */
  closing(): void {
    this.state = 'closing';
  }

  /** Refuses every call from now on. */
  closed(): void {
    this.state = 'closed';
  }

  /** Throws CLOSED once closing (for the synchronous methods). */
  assertOpen(): void {
    if (this.state !== 'open') throw closedError();
  }

  /** Resolves when every call started before `close()` has settled. */
  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }
}
