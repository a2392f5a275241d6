/** A clock the test moves by hand: `now` for createPresence, `advance` in seconds. */
export function manualClock(start = '2026-01-01T12:00:00.000Z') {
  let current = new Date(start).getTime();
  return {
    now: () => new Date(current),
    advance(seconds: number) {
      current += seconds * 1000;
    },
  };
}
