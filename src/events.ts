import { AsyncLocalStorage } from 'node:async_hooks';
import type { PresenceEventMap, PresenceEventName, PresenceListener } from './types.js';

/**
 * A small typed emitter. A failing listener never fails the database operation that
 * triggered it: its error goes to `error` listeners, or becomes a process warning.
 */
export class PresenceEvents {
  private readonly listeners: { [E in PresenceEventName]: Set<PresenceListener<E>> } = {
    changed: new Set(),
    updated: new Set(),
    userJoined: new Set(),
    userLeft: new Set(),
    resync: new Set(),
    error: new Set(),
  };

  on<E extends PresenceEventName>(event: E, listener: PresenceListener<E>): void {
    this.listeners[event].add(listener);
  }

  off<E extends PresenceEventName>(event: E, listener: PresenceListener<E>): void {
    this.listeners[event].delete(listener);
  }

  /** Whether anyone listens, so callers can skip work whose only use is an event. */
  has(event: PresenceEventName): boolean {
    return this.listeners[event].size > 0;
  }

  /** Marks the code a listener runs, awaits included (see `inListener`). */
  private readonly listening = new AsyncLocalStorage<true>();

  /** Whether the caller is a listener of this emitter (or code it awaited). */
  inListener(): boolean {
    return this.listening.getStore() === true;
  }

  emit<E extends PresenceEventName>(event: E, payload: PresenceEventMap[E]): void {
    for (const listener of [...this.listeners[event]]) {
      try {
        const result = this.listening.run(true, () => listener(payload));
        if (result instanceof Promise) this.track(result.catch((error: unknown) => this.report(error, `a "${event}" listener`)));
      } catch (error) {
        this.report(error, `a "${event}" listener`);
      }
    }
  }

  /** Waits for async listeners still running (and for any they set off). */
  async settle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  private readonly pending = new Set<Promise<void>>();

  private track(running: Promise<void>): void {
    this.pending.add(running);
    void running.finally(() => this.pending.delete(running));
  }

  /** Hands a failure that has no caller to reject to `error` listeners, or makes it a process warning. */
  report(error: unknown, source: string): void {
    const failure = error instanceof Error ? error : new Error(String(error));
    if (this.listeners.error.size > 0 && !source.includes('"error"')) {
      this.emit('error', failure);
    } else {
      process.emitWarning(`prisma-presence: ${source} failed: ${failure.message}`, 'PresenceWarning');
    }
  }
}
