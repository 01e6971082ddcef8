/**
 * Principal directions per checkpoint, cached on disk (Node). Computing them takes seconds on the CPU, and
 * they only change with the checkpoint, so the app computes them once per (run, step, settings).
 */
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { readJsonIfExists, writeJsonAtomic } from '../util/atomic-file.ts';
import {
  directionsForGenerator,
  principalDirectionsFromJson,
  principalDirectionsToJson,
  type PrincipalDirections,
  type PrincipalDirectionsOptions,
} from '../explorer/directions.ts';
import { loadRunGenerator } from './model.ts';

export interface CachedDirectionsOptions extends Pick<
  PrincipalDirectionsOptions,
  'samples' | 'components' | 'seed' | 'onProgress' | 'signal'
> {
  /** Checkpoint step; the newest when omitted. */
  step?: number;
  /** Where cached directions live, normally `<data>/cache/directions`. */
  cacheDir: string;
}

export interface CachedDirections {
  directions: PrincipalDirections;
  step: number;
  /** True when read from the cache rather than computed now. */
  cached: boolean;
  path: string;
}

/** Directions of a run's checkpoint: from the cache when present and valid, else computed and cached. */
export async function getCheckpointDirections(
  runDir: string,
  options: CachedDirectionsOptions,
): Promise<CachedDirections> {
  const { samples = 2048, components = 16, seed = 0 } = options;
  const model = await loadRunGenerator(runDir, options.step);
  try {
    const key = createHash('sha256')
      .update(JSON.stringify([resolve(runDir), model.step, samples, components, seed]))
      .digest('hex')
      .slice(0, 16);
    const path = join(options.cacheDir, `${model.runId}-step${model.step}-${key}.json`);
    try {
      const cached = await readJsonIfExists(path);
      if (cached !== undefined) {
        const directions = principalDirectionsFromJson(cached);
        if (directions.zDim === model.generator.zDim)
          return { directions, step: model.step, cached: true, path };
      }
    } catch {
      // A torn or outdated cache file is simply recomputed and overwritten.
    }
    const directions = await directionsForGenerator(model.generator, {
      samples,
      components,
      seed,
      onProgress: options.onProgress,
      signal: options.signal,
    });
    await writeJsonAtomic(path, principalDirectionsToJson(directions));
    return { directions, step: model.step, cached: false, path };
  } finally {
    model.generator.dispose();
  }
}
