/**
 * Named sliders per checkpoint, cached in the run folder (`attributes-step-<N>.json`): learning takes
 * seconds, and the result only changes with the checkpoint and the tags. The cache is keyed by the faces
 * folder and a fingerprint of every tagged face's path and tags, so tagging more faces learns again.
 */
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { AttributeDirections } from '../../shared/explorer-schemas.ts';
import { readJsonIfExists, writeJsonAtomic } from '../util/atomic-file.ts';
import { readBestCheckpoint } from '../gan/best-checkpoint.ts';
import { listCheckpoints } from '../gan/checkpoint.ts';
import { readRunConfig } from '../gan/run-folder.ts';
import { learnAttributes, type LearnAttributesOptions } from './learn.ts';
import { readTaggedImages, type TaggedImages } from './tagged-images.ts';

/** Bumped when learning changes in a way that makes older cached sliders wrong. */
const CACHE_VERSION = 1;

const CacheFile = z.object({
  version: z.literal(CACHE_VERSION),
  key: z.string(),
  result: AttributeDirections,
});

export function attributesCachePath(runDir: string, step: number): string {
  return join(runDir, `attributes-step-${step}.json`);
}

export interface CheckpointAttributesOptions extends LearnAttributesOptions {
  /** Learn again even when a valid cache is there. */
  recompute?: boolean;
}

/** The checkpoint's sliders from the cache when it still matches the tags, else learned and cached. */
export async function getCheckpointAttributes(
  runDir: string,
  options: CheckpointAttributesOptions = {},
): Promise<AttributeDirections> {
  const dir = resolve(runDir);
  const steps = await listCheckpoints(dir);
  // As the Explorer and `kao sample` do: the run's best checkpoint unless a step is named.
  const step = options.step ?? (await readBestCheckpoint(dir, steps))?.step ?? steps.at(-1);
  if (step === undefined) throw new Error(`${runDir} has no checkpoint yet`);
  if (!steps.includes(step)) {
    throw new Error(`no checkpoint at step ${step} (available: ${steps.join(', ') || 'none'})`);
  }
  const facesDir = options.facesDir ?? (await readRunConfig(dir))?.data.dir;
  // Read once: the key needs the tags, and learning (on a miss) the same list.
  const tagged = facesDir ? await readTaggedImages(facesDir).catch(() => undefined) : undefined;
  const key = cacheKey(facesDir, tagged, options);
  const path = attributesCachePath(dir, step);
  if (!options.recompute) {
    try {
      const cached = CacheFile.safeParse(await readJsonIfExists(path));
      if (cached.success && cached.data.key === key)
        return { ...cached.data.result, cached: true, seconds: 0 };
    } catch {
      // A torn or foreign file is learned again and overwritten.
    }
  }
  const result = await learnAttributes(dir, {
    ...options,
    step,
    ...(facesDir ? { facesDir } : {}),
    ...(tagged ? { taggedImages: tagged } : {}),
  });
  await writeJsonAtomic(path, { version: CACHE_VERSION, key, result });
  return result;
}

/** What the sliders depend on besides the checkpoint: the faces, their tags, and the learning settings. */
function cacheKey(
  facesDir: string | undefined,
  tagged: TaggedImages | undefined,
  options: LearnAttributesOptions,
): string {
  const hash = createHash('sha256');
  hash.update(
    JSON.stringify([
      facesDir ?? null,
      options.samples,
      options.checkFaces,
      options.minFaces,
      options.minAccuracy,
      options.maxAttributes,
      options.maxCandidates,
      options.maxFaces,
      options.seed,
    ]),
  );
  if (facesDir) {
    hash.update(String(tagged?.total ?? -1));
    for (const image of tagged?.images ?? []) hash.update(`${image.path}\n${image.tags.join(' ')}\n`);
  }
  return hash.digest('hex').slice(0, 24);
}
