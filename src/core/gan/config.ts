/**
 * DCGAN presets, and the checks of a config a schema cannot make (the config's fields are declared once,
 * in shared/run-config-schemas.ts). Browser-safe: imported by the sandboxed renderer through
 * generator-web.ts, so nothing here may touch Node.
 */
import {
  AugmentKind,
  LossKind,
  UpsampleKind,
  type GanConfig,
  type GanConfigOverrides,
  type StoredGanConfig,
} from '../../shared/run-config-schemas.ts';
import { PresetName } from '../../shared/contract-base.ts';

// Core code names these types from here, beside the presets; they are declared in src/shared.
export type { AugmentKind, GanConfig, GanConfigOverrides, LossKind, PresetName, UpsampleKind };

export const presetNames = PresetName.options;
export const upsampleKinds = UpsampleKind.options;
export const lossKinds = LossKind.options;
export const augmentKinds = AugmentKind.options;

/** The recipe fields, as the classic DCGAN has them (and every run made before they existed). */
export const classicRecipe = {
  upsample: 'transposed',
  loss: 'bce',
  augment: [] as AugmentKind[],
  emaDecay: 0,
  spectralNorm: false,
  minibatchStd: false,
} satisfies Pick<GanConfig, 'upsample' | 'loss' | 'augment' | 'emaDecay' | 'spectralNorm' | 'minibatchStd'>;

const common = {
  lrG: 2e-4,
  lrD: 2e-4,
  beta1: 0.5,
  beta2: 0.999,
  labelSmoothing: 0,
  flip: true,
  leak: 0.2,
  bnEpsilon: 1e-5,
  bnMomentum: 0.1,
  ...classicRecipe,
} as const;

/** The preset a new run gets when none is named (app, CLI). */
export const DEFAULT_PRESET: PresetName = 'kao-48';

/**
 * A preset of the DCGAN family with the common training settings: the discriminator mirrors the
 * generator's widths, the generator starts from imageSize / 2^layers pixels, and z has DCGAN's 100
 * dimensions unless given.
 */
function dcgan(
  preset: PresetName,
  spec: Pick<GanConfig, 'imageSize' | 'kernelSize' | 'gChannels' | 'batchSize' | 'gStepsPerD'> & {
    zDim?: number;
  },
): GanConfig {
  const { imageSize, kernelSize, zDim = 100, gChannels, batchSize, gStepsPerD } = spec;
  return {
    preset,
    imageSize,
    baseSize: imageSize / 2 ** gChannels.length,
    kernelSize,
    zDim,
    gChannels,
    dChannels: [...gChannels].reverse(),
    batchSize,
    gStepsPerD,
    ...common,
  };
}

// The classic anime-face recipe: 96×96 crops downscaled to 48×48, 5×5 stride-2 (de)convolutions.
const anime48 = dcgan('anime-48', {
  imageSize: 48,
  kernelSize: 5,
  gChannels: [512, 256, 128, 64],
  batchSize: 64,
  gStepsPerD: 2,
});

export const presets: Record<PresetName, GanConfig> = {
  // The default: faces within minutes on a CPU. Chosen by measurement (docs/quality.md): anime-48 at a
  // quarter of its width, with resize-convolution upsampling and an averaged G, one G update per D
  // update. (DiffAugment did not help at the screened budgets; `--augment` adds it.)
  'kao-48': {
    ...anime48,
    preset: 'kao-48',
    gChannels: [128, 64, 32, 16],
    dChannels: [16, 32, 64, 128],
    gStepsPerD: 1,
    upsample: 'resize',
    emaDecay: 0.999,
  },
  'anime-48': anime48,
  // Radford et al. 2015: 64×64, 4×4 kernels, 4×4×1024 projection.
  'dcgan-64': dcgan('dcgan-64', {
    imageSize: 64,
    kernelSize: 4,
    gChannels: [1024, 512, 256, 128],
    batchSize: 128,
    gStepsPerD: 1,
  }),
  // A narrow 16×16 model for tests and smoke runs (4×4 kernels: fewer checkerboard artefacts early on).
  tiny: {
    ...dcgan('tiny', {
      imageSize: 16,
      kernelSize: 4,
      zDim: 32,
      gChannels: [64, 32, 16],
      batchSize: 32,
      gStepsPerD: 1,
    }),
    // A narrow net learns slowly at 2e-4; tests need visible progress within ~100 steps.
    lrG: 5e-4,
    lrD: 5e-4,
  },
};

export function isPresetName(name: string): name is PresetName {
  return (presetNames as readonly string[]).includes(name);
}

/**
 * A stored config with any recipe field it lacks filled in with the classic value (runs written before
 * the recipe options existed). Other fields are left for validateGanConfig to judge.
 */
export function withRecipeDefaults(config: StoredGanConfig): GanConfig {
  const filled = { ...config } as GanConfig & Record<string, unknown>;
  for (const [key, value] of Object.entries(classicRecipe)) {
    if (filled[key] === undefined) filled[key] = Array.isArray(value) ? [...value] : value;
  }
  return filled;
}

/** The recipe in a few words, for a run's header ("resize-conv · DiffAugment · EMA"); '' when classic. */
export function recipeSummary(config: Partial<GanConfig>): string {
  const parts = [
    config.upsample === 'resize' ? 'resize-conv' : '',
    config.augment?.length ? 'DiffAugment' : '',
    config.emaDecay ? 'EMA' : '',
    config.loss === 'hinge' ? 'hinge loss' : '',
    config.spectralNorm ? 'spectral norm' : '',
    config.minibatchStd ? 'minibatch stddev' : '',
  ];
  return parts.filter(Boolean).join(' · ');
}

export function resolveGanConfig(preset: PresetName, overrides: GanConfigOverrides = {}): GanConfig {
  const base = presets[preset];
  if (!base) throw new Error(`unknown preset "${String(preset)}" (known: ${presetNames.join(', ')})`);
  const { gWidth = 1, dWidth = 1, ...rest } = overrides;
  const scale = (channels: number[], width: number) =>
    channels.map((c) => Math.max(1, Math.round(c * width)));
  const defined = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
  const config: GanConfig = {
    ...base,
    ...defined,
    augment: [...(rest.augment ?? base.augment)],
    gChannels: scale(base.gChannels, gWidth),
    dChannels: scale(base.dChannels, dWidth),
  };
  validateGanConfig(config);
  return config;
}

/** Throws a readable error for a config that cannot build or train (hand-edited config.json, bad flags). */
export function validateGanConfig(config: GanConfig): void {
  const problems: string[] = [];
  const positiveInt = (v: unknown, name: string) => {
    if (!Number.isInteger(v) || (v as number) < 1) problems.push(`${name} must be a positive integer`);
  };
  if (!isPresetName(config.preset)) problems.push(`unknown preset "${config.preset}"`);
  positiveInt(config.imageSize, 'imageSize');
  positiveInt(config.baseSize, 'baseSize');
  positiveInt(config.kernelSize, 'kernelSize');
  positiveInt(config.zDim, 'zDim');
  positiveInt(config.batchSize, 'batchSize');
  positiveInt(config.gStepsPerD, 'gStepsPerD');
  for (const [name, list] of [
    ['gChannels', config.gChannels],
    ['dChannels', config.dChannels],
  ] as const) {
    if (!Array.isArray(list) || list.length === 0) problems.push(`${name} must be a non-empty list`);
    else list.forEach((c, i) => positiveInt(c, `${name}[${i}]`));
  }
  if (
    Array.isArray(config.gChannels) &&
    config.baseSize * 2 ** config.gChannels.length !== config.imageSize
  ) {
    problems.push(`baseSize × 2^${config.gChannels.length} must equal imageSize ${config.imageSize}`);
  }
  if (Array.isArray(config.dChannels) && config.imageSize % 2 ** config.dChannels.length !== 0) {
    problems.push(`imageSize must be divisible by 2^${config.dChannels.length}`);
  }
  for (const key of ['lrG', 'lrD'] as const) {
    if (!(config[key] > 0 && config[key] < 1)) problems.push(`${key} must be in (0, 1)`);
  }
  for (const key of ['beta1', 'beta2'] as const) {
    if (!(config[key] >= 0 && config[key] < 1)) problems.push(`${key} must be in [0, 1)`);
  }
  if (!(config.labelSmoothing >= 0 && config.labelSmoothing < 0.5))
    problems.push('labelSmoothing must be in [0, 0.5)');
  if (!(config.leak >= 0 && config.leak < 1)) problems.push('leak must be in [0, 1)');
  if (!(config.bnEpsilon > 0)) problems.push('bnEpsilon must be > 0');
  if (!(config.bnMomentum > 0 && config.bnMomentum <= 1)) problems.push('bnMomentum must be in (0, 1]');
  if (typeof config.flip !== 'boolean') problems.push('flip must be true or false');
  if (!upsampleKinds.includes(config.upsample))
    problems.push(`upsample must be one of ${upsampleKinds.join(', ')}`);
  if (!lossKinds.includes(config.loss)) problems.push(`loss must be one of ${lossKinds.join(', ')}`);
  if (
    !Array.isArray(config.augment) ||
    !config.augment.every((a) => augmentKinds.includes(a)) ||
    new Set(config.augment).size !== config.augment.length
  ) {
    problems.push(`augment must be a list of distinct kinds from ${augmentKinds.join(', ')}`);
  }
  if (!(config.emaDecay === 0 || (config.emaDecay >= 0.5 && config.emaDecay < 1)))
    problems.push('emaDecay must be 0 (off) or in [0.5, 1)');
  if (typeof config.spectralNorm !== 'boolean') problems.push('spectralNorm must be true or false');
  if (typeof config.minibatchStd !== 'boolean') problems.push('minibatchStd must be true or false');
  if (problems.length) throw new Error(`invalid GAN config: ${problems.join('; ')}`);
}

/** The fields that define the model and its training; two configs that differ here are different runs. */
export function configDifferences(a: GanConfig, b: GanConfig): Array<keyof GanConfig> {
  const keys = Object.keys(presets.tiny) as Array<keyof GanConfig>;
  return keys.filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
}
