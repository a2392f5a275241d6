// The tracker most test files drive: a fresh one for each test, on a manual clock.
import { afterEach, beforeEach } from 'vitest';
import { createPresence, type PresenceOptions, type PresenceTracker } from '../../src/index.ts';
import { manualClock } from './clock.ts';

/**
 * Gives each test a tracker on `database` (see useDatabase) whose clock the test moves by
 * hand, closed after the test. Read `presence` and `clock` inside tests and hooks.
 */
export function useTracker(database: { readonly url: string }, options: PresenceOptions = {}) {
  const state = {} as { clock: ReturnType<typeof manualClock>; presence: PresenceTracker };
  beforeEach(() => {
    state.clock = manualClock();
    state.presence = createPresence({ databaseUrl: database.url, now: state.clock.now, ...options });
  });
  afterEach(() => state.presence.close());
  return state;
}
