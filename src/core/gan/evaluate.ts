/** `kao eval`: SWD between a run's generator and a folder of real faces (Node). */
import { Rng, latentForSeed } from '../../shared/rng.ts';
import { loadGenerator } from './generator-node.ts';
import { decodeImageSet } from './data.ts';
import { deriveSeed } from './seeds.ts';
import { slicedWassersteinDistance, type SwdResult } from './swd.ts';

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
    const z = new Float32Array(real.count * config.zDim);
    for (let i = 0; i < real.count; i++) z.set(latentForSeed(seed + i, config.zDim), i * config.zDim);
    // 8-bit like the reals (and like ProGAN, which measures uint8 images), generated in chunks.
    const pixels = (await generator.generate(z, { format: 'rgb' })).pixels;
    const fake = {
      data: Float32Array.from(pixels, (v) => v / 127.5 - 1),
      count: real.count,
      size: config.imageSize,
    };
    const swd = await slicedWassersteinDistance(real, fake, { seed });
    return { step, images: real.count, imageSize: config.imageSize, swd, warnings };
  } finally {
    generator.dispose();
  }
}
