/**
 * The in-training SWD evaluator (Node: decodes the real faces with sharp).
 */
import { Rng } from '../../shared/rng.ts';
import type { GanConfig } from './config.ts';
import { decodeImageSet } from './data.ts';
import type { Gan } from './models.ts';
import { generateFloats } from './sampling.ts';
import { deriveSeed } from './seeds.ts';
import { swdDescriptors, swdFromDescriptors, type SwdDescriptors, type SwdResult } from './swd.ts';

/**
 * The in-training SWD: real-face descriptors computed once per run, and `evaluate` generating the same n
 * fakes from fixed noise each time, so successive values are comparable.
 */
export async function createSwdEvaluator(
  faces: string[],
  config: GanConfig,
  seed: number,
  wanted: number,
  warn: (message: string) => void,
): Promise<{ evaluate(gan: Gan): Promise<SwdResult> }> {
  const picks = new Rng(deriveSeed(seed, 'swd-real')).shuffle([...faces]).slice(0, wanted);
  const real = await decodeImageSet(picks, config.imageSize, warn);
  if (real.count < wanted) warn(`SWD uses ${real.count} real images (fewer than the ${wanted} asked for)`);
  const realDesc: SwdDescriptors = swdDescriptors(real, { seed, stream: 'swd-patches-real' });
  const noise = new Rng(deriveSeed(seed, 'swd-noise')).normalArray(real.count * config.zDim);
  return {
    evaluate: async (gan) => {
      const fake = await generateFloats(gan, noise);
      const fakeDesc = swdDescriptors(fake, { seed, stream: 'swd-patches-fake' });
      return await swdFromDescriptors(realDesc, fakeDesc, { seed });
    },
  };
}
