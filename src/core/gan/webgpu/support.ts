/**
 * Which GanConfigs the WebGPU engine trains. It implements the classic DCGAN (anime-48, dcgan-64, tiny,
 * any gWidth/dWidth): G with BN + ReLU and a tanh output, strided-conv D with LeakyReLU and BN from the
 * second layer, sigmoid cross-entropy, Adam; of the recipe options, both upsampling kinds (transposed
 * convolutions, resize-convolution) and the average of G's weights (emaDecay), so the default kao-48
 * trains on it. A config field it does not know (a new recipe option) is refused unless it is off
 * (undefined, false, 0, '', 'none', 'off'), so the caller falls back to the tfjs path instead of training
 * a different model. A new feature becomes supported by implementing it and listing the field (or its
 * values) here.
 */
import type { GanConfig } from '../config.ts';

/** The fields the engine implements, all values allowed (validated by validateGanConfig). */
const IMPLEMENTED = new Set([
  'preset',
  'imageSize',
  'baseSize',
  'kernelSize',
  'zDim',
  'gChannels',
  'dChannels',
  'batchSize',
  'lrG',
  'lrD',
  'beta1',
  'beta2',
  'gStepsPerD',
  'labelSmoothing',
  // Flips are applied by the data pipeline before a batch reaches any engine.
  'flip',
  'leak',
  'bnEpsilon',
  'bnMomentum',
  // The average of G's weights: off (0) or any decay (ema.ts).
  'emaDecay',
]);

/** Recipe fields (config.ts' classicRecipe) the engine implements at these values only. */
const IMPLEMENTED_VALUES: Array<{ field: string; values: unknown[] }> = [
  // Transposed convolutions, or resize-convolution as a derived 4×4 transposed convolution (resize-conv.ts).
  { field: 'upsample', values: ['transposed', 'resize'] },
  { field: 'loss', values: ['bce'] },
  { field: 'augment', values: [[]] },
  { field: 'spectralNorm', values: [false] },
  { field: 'minibatchStd', values: [false] },
];

const OFF_VALUES: unknown[] = [undefined, null, false, 0, '', 'none', 'off'];

export type Support = { ok: true } | { ok: false; reason: string };

export function webGpuEngineSupport(config: GanConfig): Support {
  const unsupported: string[] = [];
  for (const [field, value] of Object.entries(config)) {
    if (IMPLEMENTED.has(field) || OFF_VALUES.includes(value)) continue;
    const known = IMPLEMENTED_VALUES.find((c) => c.field === field);
    if (known?.values.some((v) => JSON.stringify(v) === JSON.stringify(value))) continue;
    unsupported.push(`${field}=${JSON.stringify(value)}`);
  }
  if (unsupported.length)
    return { ok: false, reason: `the WebGPU engine does not implement ${unsupported.join(', ')}` };
  if (config.imageSize % 2 ** config.dChannels.length !== 0)
    return { ok: false, reason: 'imageSize must be divisible by 2^dChannels.length' };
  return { ok: true };
}
