import type { PresenceEvents } from '../events.js';

/**
 * Disconnects waiting out the grace period: each runs `leave` when its timer fires,
 * unless the same channel joins again first (then it is cancelled) or the tracker closes
 * (then it runs at once).
 */
export class Departures {
  private readonly pending = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly graceSeconds: number,
    private readonly events: PresenceEvents,
    private readonly leave: (channelName: string) => Promise<void>,
  ) {}

  /** Leaves at once without a grace period, else when it ends. */
  async depart(channelName: string): Promise<void> {
    if (this.graceSeconds === 0) return this.leave(channelName);
    if (this.pending.has(channelName)) return;
    const timer = setTimeout(() => {
      this.pending.delete(channelName);
      this.leave(channelName).catch((error: unknown) => this.events.report(error, 'removing a disconnected channel'));
    }, this.graceSeconds * 1000).unref();
    this.pending.set(channelName, timer);
  }

  /** The channel is back: it stays. */
  cancel(channelName: string): void {
    clearTimeout(this.pending.get(channelName));
    this.pending.delete(channelName);
  }

  /** Runs every pending departure now. */
  async flush(): Promise<void> {
    const channels = [...this.pending.keys()];
    channels.forEach((channel) => this.cancel(channel));
    await Promise.all(channels.map((channel) => this.leave(channel).catch((error: unknown) => this.events.report(error, 'removing a disconnected channel'))));
  }
}
