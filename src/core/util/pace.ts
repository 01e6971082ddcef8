/** Elapsed time, rate and time-left figures for a long job's progress reports. */

export interface Pace {
  durationMs: number;
  imagesPerSec: number | undefined;
  etaSeconds: number | undefined;
}

/**
 * A job's pace at this moment: how long it has run since `startedAt`, `done` items per second (left out
 * while `done` is undefined, i.e. before the job counts anything) and the seconds `secondsToGo` predicts.
 */
export function paceSince(
  startedAt: number,
  done: number | undefined,
  secondsToGo: (seconds: number) => number | undefined,
): Pace {
  const durationMs = Date.now() - startedAt;
  const seconds = durationMs / 1000;
  return {
    durationMs,
    imagesPerSec: done === undefined || seconds <= 0 ? undefined : Math.round((done / seconds) * 100) / 100,
    etaSeconds: seconds > 0 ? secondsToGo(seconds) : undefined,
  };
}

/** Whole seconds until `remaining` more items are done at the pace of `done` items in `seconds`. */
export function secondsLeft(remaining: number, done: number, seconds: number): number | undefined {
  if (done <= 0 || seconds <= 0) return undefined;
  return Math.round(Math.max(0, remaining) / (done / seconds));
}
