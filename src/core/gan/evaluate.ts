/** `kao eval`: SWD between a run's generator and a folder of real faces (Node). */
import { Rng, latentForSeed } from '../../shared/rng.ts';
import { loadGenerator } from './generator-node.ts';
import type { Generator } from './generator-web.ts';
import { decodeImageSet } from './data.ts';
import { deriveSeed } from './seeds.ts';
import { memorisation, type MemorisationResult } from './memorisation.ts';
import { slicedWassersteinDistance, type ImageSet, type SwdResult } from './swd.ts';

export interface EvaluationResult {
  step: number;
  images: number;
  imageSize: number;
  swd: SwdResult;
  warnings: string[];
}

/**
 * Generates `n` faces (latents from seeds seed…seed+n−1) and compares them with `n` real faces picked
 * from `realPaths` by the same seed, resized to the model's resolution.
 */
export async function evaluateRun(
  runDir: string,
  realPaths: string[],
  /** `raw`: evaluate the trained weights, not the run's weight average (when it keeps one). */
  options: { n?: number; step?: number; seed?: number; raw?: boolean } = {},
): Promise<EvaluationResult> {
  const { n = 1000, seed = 1 } = options;
  if (realPaths.length === 0) throw new Error('no real images to compare with');
  const { generator, config, step, warnings } = await loadGenerator(runDir, {
    step: options.step,
    raw: options.raw,
  });
  try {
    const picks = new Rng(deriveSeed(seed, 'eval-real')).shuffle([...realPaths]).slice(0, n);
    const real = await decodeImageSet(picks, config.imageSize, (m) => warnings.push(m));
    if (real.count < 2) throw new Error('fewer than 2 readable real images');
    if (real.count < n) warnings.push(`compared ${real.count} images (only that many real faces available)`);
    const fake = await generateSet(generator, real.count, seed);
    const swd = await slicedWassersteinDistance(real, fake, { seed });
    return { step, images: real.count, imageSize: config.imageSize, swd, warnings };
  } finally {
    generator.dispose();
  }
}

/** Faces for latents from seeds seed…seed+count−1, 8-bit like the reals (ProGAN measures uint8 images). */
async function generateSet(generator: Generator, count: number, seed: number): Promise<ImageSet> {
  const { zDim, imageSize } = generator.config;
  const z = new Float32Array(count * zDim);
  for (let i = 0; i < count; i++) z.set(latentForSeed(seed + i, zDim), i * zDim);
  const pixels = (await generator.generate(z, { format: 'rgb' })).pixels;
  return { data: Float32Array.from(pixels, (v) => v / 127.5 - 1), count, size: imageSize };
}

/**
 * The memorisation check (memorisation.ts) of a run's generator: `n` generated faces against `n` of the
 * faces it trained on and `n` it never saw.
 */
export async function evaluateMemorisation(
  runDir: string,
  trainPaths: string[],
  heldOutPaths: string[],
  options: { n?: number; seed?: number; raw?: boolean } = {},
): Promise<MemorisationResult & { step: number }> {
  const { n = 400, seed = 1 } = options;
  const { generator, config, step } = await loadGenerator(runDir, { raw: options.raw });
  try {
    const pick = (paths: string[], purpose: string) =>
      new Rng(deriveSeed(seed, purpose)).shuffle([...paths]).slice(0, n);
    const train = await decodeImageSet(pick(trainPaths, 'memorisation-train'), config.imageSize);
    const heldOut = await decodeImageSet(pick(heldOutPaths, 'memorisation-held-out'), config.imageSize);
    const samples = await generateSet(generator, n, seed);
    return { step, ...memorisation(samples, train, heldOut) };
  } finally {
    generator.dispose();
  }
}
