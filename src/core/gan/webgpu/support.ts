/**
 * Which GanConfigs the WebGPU engine trains. It implements the classic DCGAN (anime-48, dcgan-64, tiny,
 * any gWidth/dWidth): transposed-conv G with BN + ReLU and a tanh output, strided-conv D with LeakyReLU
 * and BN from the second layer, sigmoid cross-entropy, Adam. A config field it does not know (a new
 * recipe option) is refused unless it is off (undefined, false, 0, '', 'none', 'off'), so the caller
 * falls back to the tfjs path instead of training a different model. A new feature becomes supported by
 * implementing it and listing the field here.
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
]);

/** Recipe fields (config.ts' classicRecipe) at the values of the classic DCGAN this engine implements. */
const CLASSIC_VALUES: Array<{ field: string; value: unknown }> = [
  { field: 'upsample', value: 'transposed' },
  { field: 'loss', value: 'bce' },
  { field: 'augment', value: [] },
  { field: 'emaDecay', value: 0 },
  { field: 'spectralNorm', value: false },
  { field: 'minibatchStd', value: false },
];

const OFF_VALUES: unknown[] = [undefined, null, false, 0, '', 'none', 'off'];

export type Support = { ok: true } | { ok: false; reason: string };

export function webGpuEngineSupport(config: GanConfig): Support {
  const unsupported: string[] = [];
  for (const [field, value] of Object.entries(config)) {
    if (IMPLEMENTED.has(field) || OFF_VALUES.includes(value)) continue;
    if (CLASSIC_VALUES.some((c) => c.field === field && JSON.stringify(c.value) === JSON.stringify(value)))
      continue;
    unsupported.push(`${field}=${JSON.stringify(value)}`);
  }
  if (unsupported.length)
    return { ok: false, reason: `the WebGPU engine does not implement ${unsupported.join(', ')}` };
  if (config.imageSize % 2 ** config.dChannels.length !== 0)
    return { ok: false, reason: 'imageSize must be divisible by 2^dChannels.length' };
  return { ok: true };
}
