/**
 * Pure helpers behind the Training screen: columnar metric series for the charts, EMA smoothing,
 * the sample-grid list, and number formatting. No Svelte, no DOM: unit-tested in Node.
 */
import type { MetricPoint, RunHolder, RunState, RunSummary } from '../../../shared/training-schemas.ts';
import { formatSince } from '../../../shared/format-since.ts';

export interface SampleRef {
  step: number;
  /** Data-folder-relative path of the grid image. */
  path: string;
  /** Changes when the file is rewritten under the same name: part of the image URL, so no stale cache. */
  version: string;
}

/**
 * A run's logged steps as parallel arrays (what uPlot draws). Steps only grow; a step at or below the
 * last one means the run went back to a checkpoint (continue after a crash), so the newer points are
 * dropped before it is appended. Past `cap` points, neighbouring pairs are averaged, which keeps the
 * curve's shape while bounding memory and draw time on long runs.
 */
export class MetricSeries {
  readonly steps: number[] = [];
  readonly lossD: number[] = [];
  readonly lossG: number[] = [];
  readonly dReal: number[] = [];
  readonly dFake: number[] = [];
  /** SWD is computed every `swdEvery` steps only: its own, sparse x axis. */
  readonly swdSteps: number[] = [];
  readonly swd: number[] = [];
  /** The newest point as logged (not averaged), for the stats strip. */
  latest: MetricPoint | undefined;

  constructor(readonly cap = 4000) {
    if (!(cap >= 4)) throw new Error('MetricSeries cap must be at least 4');
  }

  get length(): number {
    return this.steps.length;
  }

  get lastStep(): number {
    return this.steps.at(-1) ?? -1;
  }

  append(point: MetricPoint): void {
    if (!Number.isFinite(point.step)) return;
    if (point.step <= this.lastStep) this.truncateFrom(point.step);
    if (point.swd !== undefined && Number.isFinite(point.swd)) {
      if (point.step <= (this.swdSteps.at(-1) ?? -1)) this.#truncateSwd(point.step);
      this.swdSteps.push(point.step);
      this.swd.push(point.swd);
    }
    this.latest = point;
    // A line without losses (a new run's step-0 SWD, before any training step) is on the SWD axis only.
    const { lossD, lossG, dReal, dFake } = point;
    if (lossD === undefined || lossG === undefined || dReal === undefined || dFake === undefined) return;
    this.steps.push(point.step);
    this.lossD.push(lossD);
    this.lossG.push(lossG);
    this.dReal.push(dReal);
    this.dFake.push(dFake);
    if (this.steps.length > this.cap) this.#halve();
  }

  appendAll(points: Iterable<MetricPoint>): void {
    for (const point of points) this.append(point);
  }

  /** Drops every point at or after `step`. */
  truncateFrom(step: number): void {
    const keep = lowerBound(this.steps, step);
    for (const column of this.#columns()) column.length = keep;
    this.#truncateSwd(step);
    if (this.latest && this.latest.step >= step) this.latest = undefined;
  }

  #truncateSwd(step: number): void {
    const keep = lowerBound(this.swdSteps, step);
    this.swdSteps.length = keep;
    this.swd.length = keep;
  }

  #columns(): number[][] {
    return [this.steps, this.lossD, this.lossG, this.dReal, this.dFake];
  }

  /** Averages neighbouring pairs (the newest point stays exact, so the live end of the curve is true). */
  #halve(): void {
    const n = this.steps.length;
    const last = n - 1;
    for (const column of this.#columns()) {
      let out = 0;
      for (let i = 0; i + 1 < last; i += 2) {
        column[out++] = (column[i]! + column[i + 1]!) / 2;
      }
      if (last % 2 === 1) column[out++] = column[last - 1]!;
      column[out++] = column[last]!;
      column.length = out;
    }
  }
}

/** Index of the first element ≥ value in an ascending array. */
export function lowerBound(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Exponential moving average with TensorBoard's debiasing (the first points are not pulled towards 0).
 * `weight` 0 returns the values unchanged; non-finite values are carried over as gaps (null).
 */
export function emaSmooth(values: ArrayLike<number>, weight: number): Array<number | null> {
  const w = Math.min(Math.max(weight, 0), 0.999);
  const out: Array<number | null> = new Array<number | null>(values.length);
  let last = 0;
  let count = 0;
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!;
    if (!Number.isFinite(value)) {
      out[i] = null;
      continue;
    }
    if (w === 0) {
      out[i] = value;
      continue;
    }
    last = last * w + (1 - w) * value;
    count++;
    out[i] = last / (1 - w ** count);
  }
  return out;
}

/** Inserts a sample grid in step order; a grid for a step already listed replaces it. */
export function insertSample(samples: readonly SampleRef[], sample: SampleRef): SampleRef[] {
  const steps = samples.map((s) => s.step);
  const at = lowerBound(steps, sample.step);
  const next = samples.slice();
  if (samples[at]?.step === sample.step) next[at] = sample;
  else next.splice(at, 0, sample);
  return next;
}

/** A run the trainer is working on right now. */
export function isLiveState(state: RunState): boolean {
  return state === 'running' || state === 'paused';
}

/** A run that finished before its total: its patience ended it. It can train on, but is not offered. */
export function endedEarly(run: Pick<RunSummary, 'state' | 'step' | 'totalSteps'>): boolean {
  return run.state === 'finished' && run.step < run.totalSteps;
}

/**
 * Runs that were stopped by the user or cut off (the app closed mid-run) can go on; so can a failed run
 * (a trainer crash) that left a checkpoint to go on from.
 */
export function canContinue(run: Pick<RunSummary, 'state' | 'checkpointStep'>): boolean {
  return (
    run.state === 'stopped' ||
    run.state === 'interrupted' ||
    (run.state === 'failed' && run.checkpointStep > 0)
  );
}

/**
 * Who trains a run in another process: "kao train, pid 1234, since 12:03" ("… pid 1234 on otherhost, …"
 * for a lock taken on another machine).
 */
export function describeElsewhere(holder: RunHolder, now = new Date()): string {
  const where = holder.thisHost ? '' : ` on ${holder.hostname}`;
  return `${holder.command}, pid ${holder.pid}${where}, since ${formatSince(holder.startedAt, now)}`;
}

/** Tells one trainer-elsewhere from another (or from none: ''), to notice when one comes or goes. */
export function holderKey(holder: RunHolder | undefined): string {
  return holder ? `${holder.hostname}:${holder.pid}:${holder.startedAt}` : '';
}

export const presetLabels: Record<string, string> = {
  'kao-48': 'Anime faces, 48×48',
  'anime-48': 'Classic DCGAN, 48×48',
  'dcgan-64': 'DCGAN, 64×64',
  tiny: 'Quick test (16×16)',
};

export const runStateLabels: Record<RunState, string> = {
  running: 'Running',
  paused: 'Paused',
  stopped: 'Stopped',
  finished: 'Finished',
  interrupted: 'Interrupted',
  failed: 'Failed',
};
