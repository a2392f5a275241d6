import { PresenceError } from '../errors.js';
import type { PresenceEvents } from '../events.js';
import { MAX_TIMER_SECONDS, parseSeconds } from '../validation.js';
import type { PruningOptions, RoomsRepository } from '../types.js';

/**
 * Runs prunePresences then pruneRooms every `every` seconds, one round at a time.
 * The timer never keeps the process alive; a failing round is reported as an `error`
 * event and the next round runs as planned.
 */
export class Pruner {
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  private stopped = false;
  private readonly everyMs: number;
  private readonly maxAge: number | undefined;

  constructor(
    private readonly rooms: RoomsRepository,
    private readonly events: PresenceEvents,
    defaultMaxAge: number,
    options: PruningOptions = {},
  ) {
    if (typeof options !== 'object' || options === null) {
      throw new PresenceError('INVALID_ARGUMENT', 'startPruning takes an options object');
    }
    this.maxAge = options.maxAge === undefined ? undefined : parseSeconds(options.maxAge, 'maxAge');
    const every = options.every === undefined ? (this.maxAge ?? defaultMaxAge) / 2 : options.every;
    this.everyMs = parseSeconds(every, 'every', MAX_TIMER_SECONDS) * 1000;
    this.schedule();
  }

  /** Stops the timer and waits for a round in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.round;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.round = this.prune().finally(() => {
        this.round = undefined;
        this.schedule();
      });
    }, this.everyMs);
    this.timer.unref();
  }

  private async prune(): Promise<void> {
    try {
      await this.rooms.prunePresences(this.maxAge);
      await this.rooms.pruneRooms();
    } catch (error) {
      if (!this.stopped) this.events.report(error, 'the pruner');
    }
  }
}
