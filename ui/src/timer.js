// The turn timer's arithmetic, kept apart from the page so it is tested on
// its own. It counts from the elapsed time the engine reported (not from
// the turn's start time, which another member's clock wrote).

/** Seconds before the end of an allotment when the timer warns (as the engine does). */
export function warnBeforeEnd(allottedSecs) {
  return Math.min(Math.floor(allottedSecs / 5), 120);
}

/** "m:ss" for a number of seconds. */
export function mmss(secs) {
  const s = Math.max(0, Math.floor(secs));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/**
 * Where a running turn stands `sinceSecs` after the engine reported it
 * (where it was, if it is paused):
 * `{ elapsed, remaining, over, warning, text }`.
 */
export function turnClock(turn, sinceSecs) {
  const allotted = turn.allotted * 60;
  // A paused turn's clock stands still.
  const elapsed = turn.elapsed_secs + (turn.paused ? 0 : Math.max(0, sinceSecs));
  const remaining = Math.max(0, allotted - elapsed);
  const over = Math.max(0, elapsed - allotted);
  const warning = allotted > 0 && remaining <= warnBeforeEnd(allotted);
  const text = over > 0
    ? `${mmss(over)} over ${turn.allotted} min`
    : `${mmss(remaining)} left of ${turn.allotted} min`;
  return { elapsed, remaining, over, warning, text };
}
