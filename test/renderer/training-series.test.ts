import { describe, expect, it } from 'vitest';
import {
  MetricSeries,
  canContinue,
  endedEarly,
  describeElsewhere,
  emaSmooth,
  holderKey,
  insertSample,
  isLiveState,
  lowerBound,
} from '../../src/renderer/src/lib/training-series.ts';
import type { MetricPoint } from '../../src/shared/training-schemas.ts';

function point(step: number, extra: Partial<MetricPoint> = {}): MetricPoint {
  return { step, lossD: step / 10, lossG: 2 * step, dReal: 0.5, dFake: 0.25, ...extra };
}

describe('MetricSeries', () => {
  it('keeps the columns aligned and SWD on its own sparse axis', () => {
    const series = new MetricSeries();
    series.appendAll([point(1), point(2, { swd: 0.9 }), point(3), point(4, { swd: 0.7 })]);
    expect(series.steps).toEqual([1, 2, 3, 4]);
    expect(series.lossG).toEqual([2, 4, 6, 8]);
    expect(series.dFake).toEqual([0.25, 0.25, 0.25, 0.25]);
    expect(series.swdSteps).toEqual([2, 4]);
    expect(series.swd).toEqual([0.9, 0.7]);
    expect(series.latest?.step).toBe(4);
    expect(series.lastStep).toBe(4);
  });

  it('drops the newer points when a run goes back to a checkpoint (continue after a crash)', () => {
    const series = new MetricSeries();
    series.appendAll([1, 2, 3, 4, 5, 6].map((s) => point(s, s % 2 === 0 ? { swd: s } : {})));
    // The run resumed from a checkpoint at step 4: step 5 is logged again with new values.
    series.append(point(5, { lossG: 99 }));
    expect(series.steps).toEqual([1, 2, 3, 4, 5]);
    expect(series.lossG.at(-1)).toBe(99);
    expect(series.swdSteps).toEqual([2, 4]);
    // A point equal to the newest replaces it rather than duplicating the step.
    series.append(point(5, { lossG: 7 }));
    expect(series.steps).toEqual([1, 2, 3, 4, 5]);
    expect(series.lossG.at(-1)).toBe(7);
  });

  it('halves by averaging pairs past its cap, keeping the newest point exact', () => {
    const series = new MetricSeries(8);
    for (let step = 1; step <= 9; step++) series.append(point(step));
    // 9 points > cap 8: pairs (1,2) (3,4) (5,6) (7,8) averaged, 9 kept as is.
    expect(series.steps).toEqual([1.5, 3.5, 5.5, 7.5, 9]);
    expect(series.lossG).toEqual([3, 7, 11, 15, 18]);
    expect(series.length).toBe(5);
    for (let step = 10; step <= 1000; step++) series.append(point(step));
    expect(series.length).toBeLessThanOrEqual(8);
    expect(series.steps.at(-1)).toBe(1000);
    expect(series.lossG.at(-1)).toBe(2000);
    const steps = series.steps;
    expect(steps.every((s, i) => i === 0 || s > steps[i - 1]!)).toBe(true);
    // Averages stay inside the range of what was logged.
    expect(Math.min(...series.lossG)).toBeGreaterThanOrEqual(2);
  });

  it('puts a line without losses (a new run’s step-0 SWD) on the SWD axis only', () => {
    const series = new MetricSeries();
    series.append({ step: 0, epoch: 0, swd: 1.5 });
    expect(series.swdSteps).toEqual([0]);
    expect(series.steps).toEqual([]);
    expect(series.lastStep).toBe(-1);
    expect(series.latest).toMatchObject({ step: 0, swd: 1.5 });
    series.appendAll([point(1), point(2, { swd: 0.9 })]);
    expect(series.steps).toEqual([1, 2]);
    expect(series.lossD).toEqual([0.1, 0.2]);
    expect(series.swdSteps).toEqual([0, 2]);
    expect(series.swd).toEqual([1.5, 0.9]);
    // The same line again (history reloaded while it was also relayed live) does not duplicate it.
    const again = new MetricSeries();
    again.appendAll([{ step: 0, swd: 1.5 }, { step: 0, swd: 1.5 }, point(1)]);
    expect(again.swdSteps).toEqual([0]);
  });

  it('rejects a cap too small to halve', () => {
    expect(() => new MetricSeries(2)).toThrow(/cap/);
  });
});

describe('emaSmooth', () => {
  it('returns the values unchanged at weight 0', () => {
    expect(emaSmooth([3, 1, 4], 0)).toEqual([3, 1, 4]);
  });

  it('is debiased: a constant series stays constant from the first point', () => {
    const smoothed = emaSmooth([5, 5, 5, 5], 0.9);
    for (const value of smoothed) expect(value).toBeCloseTo(5, 10);
  });

  it('follows the TensorBoard recurrence', () => {
    const w = 0.5;
    const [a, b] = emaSmooth([2, 4], w);
    expect(a).toBeCloseTo(2, 10);
    // last = 0.5·(0.5·2) + 0.5·4 = 2.5; debias by 1 − 0.25 → 3.333…
    expect(b).toBeCloseTo(2.5 / 0.75, 10);
  });

  it('smooths a noisy series towards its mean and leaves gaps for non-finite values', () => {
    const noisy = Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? 0 : 2));
    const smoothed = emaSmooth(noisy, 0.95);
    expect(Math.abs(smoothed.at(-1)! - 1)).toBeLessThan(0.1);
    expect(emaSmooth([1, Number.NaN, 3], 0.5)[1]).toBeNull();
  });
});

describe('samples and run states', () => {
  it('inserts sample grids in step order and replaces a grid for the same step', () => {
    let samples = insertSample([], { step: 20, path: 'b', version: '1' });
    samples = insertSample(samples, { step: 10, path: 'a', version: '1' });
    samples = insertSample(samples, { step: 30, path: 'c', version: '1' });
    // A resumed run redrew step 20's grid under the same name: the new version replaces the old.
    samples = insertSample(samples, { step: 20, path: 'b', version: '2' });
    expect(samples).toEqual([
      { step: 10, path: 'a', version: '1' },
      { step: 20, path: 'b', version: '2' },
      { step: 30, path: 'c', version: '1' },
    ]);
  });

  it('offers Continue for stopped or interrupted runs, failed ones with a checkpoint; a run patience ended can go on', () => {
    expect(canContinue({ state: 'stopped', checkpointStep: 0 })).toBe(true);
    expect(canContinue({ state: 'interrupted', checkpointStep: 40 })).toBe(true);
    expect(canContinue({ state: 'failed', checkpointStep: 40 })).toBe(true);
    expect(canContinue({ state: 'failed', checkpointStep: 0 })).toBe(false);
    expect(canContinue({ state: 'finished', checkpointStep: 40 })).toBe(false);
    expect(canContinue({ state: 'running', checkpointStep: 40 })).toBe(false);
    expect(endedEarly({ state: 'finished', step: 3_500, totalSteps: 10_000 })).toBe(true);
    expect(endedEarly({ state: 'finished', step: 10_000, totalSteps: 10_000 })).toBe(false);
    expect(endedEarly({ state: 'stopped', step: 3_500, totalSteps: 10_000 })).toBe(false);
    expect(isLiveState('paused')).toBe(true);
    expect(isLiveState('failed')).toBe(false);
  });

  it('describes a trainer in another process, and tells one from another', () => {
    const now = new Date(2026, 2, 14, 15, 0);
    const holder = {
      pid: 1234,
      hostname: 'studio',
      command: 'kao train',
      startedAt: new Date(2026, 2, 14, 12, 3).toISOString(),
      thisHost: true,
    };
    expect(describeElsewhere(holder, now)).toBe('kao train, pid 1234, since 12:03');
    expect(describeElsewhere({ ...holder, hostname: 'gpu-box', thisHost: false }, now)).toBe(
      'kao train, pid 1234 on gpu-box, since 12:03',
    );
    expect(describeElsewhere(holder, new Date(2026, 2, 15, 9, 0))).toBe(
      'kao train, pid 1234, since 2026-03-14 12:03',
    );
    expect(holderKey(undefined)).toBe('');
    expect(holderKey(holder)).toBe(holderKey({ ...holder }));
    expect(holderKey(holder)).not.toBe(holderKey({ ...holder, pid: 1235 }));
    expect(holderKey(holder)).not.toBe(holderKey({ ...holder, startedAt: new Date(now).toISOString() }));
  });

  it('finds insertion points', () => {
    expect(lowerBound([1, 3, 5], 0)).toBe(0);
    expect(lowerBound([1, 3, 5], 3)).toBe(1);
    expect(lowerBound([1, 3, 5], 4)).toBe(2);
    expect(lowerBound([1, 3, 5], 9)).toBe(3);
  });
});
