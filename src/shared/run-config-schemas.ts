/**
 * A run's GAN config and its config.json, as the trainer writes them and the app, the CLI and the UI read
 * them. core/gan/config.ts holds the presets and the checks a schema cannot express (shapes that fit
 * together); core/gan/run-folder.ts reads and writes the file.
 */
import { z } from 'zod';
import { PresetName } from './contract-base.ts';

/**
 * How the generator doubles its resolution: 'transposed' (stride-2 transposed convolutions, the classic
 * DCGAN) or 'resize' (nearest-neighbour ×2 then a 3×3 convolution; Odena et al. 2016: no checkerboard).
 */
export const UpsampleKind = z.enum(['transposed', 'resize']);
export type UpsampleKind = z.infer<typeof UpsampleKind>;
/** 'bce': the non-saturating logistic loss; 'hinge': the hinge loss of SN-GAN / BigGAN. */
export const LossKind = z.enum(['bce', 'hinge']);
export type LossKind = z.infer<typeof LossKind>;
export const AugmentKind = z.enum(['color', 'translation', 'cutout']);
export type AugmentKind = z.infer<typeof AugmentKind>;

/**
 * DCGAN architecture and hyper-parameters. The recipe fields (from `upsample` on) default to the classic
 * values, so a run written before they existed parses, resumes and samples exactly as before.
 */
export const GanConfig = z.object({
  preset: PresetName,
  /** Side of the square RGB images the generator produces and the discriminator reads. */
  imageSize: z.number(),
  /** Side of the first feature map (the dense layer's output); imageSize = baseSize × 2^gChannels.length. */
  baseSize: z.number(),
  kernelSize: z.number(),
  zDim: z.number(),
  /** Generator feature maps from the dense layer down to the last hidden layer (the output layer has 3). */
  gChannels: z.array(z.number()),
  /** Discriminator conv widths, first to last (each conv halves the resolution). */
  dChannels: z.array(z.number()),
  batchSize: z.number(),
  lrG: z.number(),
  lrD: z.number(),
  beta1: z.number(),
  beta2: z.number(),
  /** Generator updates per discriminator update (the classic anime-face recipe uses 2). */
  gStepsPerD: z.number(),
  /** One-sided label smoothing: real images are labelled 1 − labelSmoothing. */
  labelSmoothing: z.number(),
  /** Random horizontal flips of the training faces. */
  flip: z.boolean(),
  leak: z.number(),
  bnEpsilon: z.number(),
  /** Weight of the newest batch in the generator's BN running statistics (used at inference). */
  bnMomentum: z.number(),
  upsample: UpsampleKind.default('transposed'),
  loss: LossKind.default('bce'),
  /**
   * DiffAugment (Zhao et al. 2020): the same random differentiable augmentations on every image the
   * discriminator sees, real and generated. Empty: none.
   */
  augment: z.array(AugmentKind).default(() => []),
  /** Decay of an exponential moving average of G's weights, used for sampling; 0 = no average. */
  emaDecay: z.number().default(0),
  /** Spectral normalisation of D's weights (Miyato et al. 2018); D then has biases instead of batch norm. */
  spectralNorm: z.boolean().default(false),
  /** A minibatch standard-deviation feature before D's output layer (Karras et al. 2018), groups of 4. */
  minibatchStd: z.boolean().default(false),
});
export type GanConfig = z.output<typeof GanConfig>;
/** A config as stored, perhaps before the recipe fields existed. */
export type StoredGanConfig = z.input<typeof GanConfig>;

/** What a caller (CLI, app settings) may change on top of a preset. Width multipliers scale channels. */
export const GanConfigOverrides = z.object({
  gWidth: z.number().optional(),
  dWidth: z.number().optional(),
  zDim: z.number().optional(),
  batchSize: z.number().optional(),
  lrG: z.number().optional(),
  lrD: z.number().optional(),
  beta1: z.number().optional(),
  beta2: z.number().optional(),
  gStepsPerD: z.number().optional(),
  labelSmoothing: z.number().optional(),
  flip: z.boolean().optional(),
  upsample: UpsampleKind.optional(),
  loss: LossKind.optional(),
  augment: z.array(AugmentKind).optional(),
  emaDecay: z.number().optional(),
  spectralNorm: z.boolean().optional(),
  minibatchStd: z.boolean().optional(),
});
export type GanConfigOverrides = z.infer<typeof GanConfigOverrides>;

export const RUN_FORMAT = 'kao-run';

/** A run folder's config.json. */
export const RunConfigFile = z.object({
  format: z.literal(RUN_FORMAT),
  version: z.literal(1),
  /** The run id is the folder's name. */
  runId: z.string(),
  createdAt: z.string(),
  seed: z.number(),
  preset: PresetName,
  overrides: GanConfigOverrides,
  config: GanConfig,
  data: z.object({ dir: z.string().optional(), count: z.number(), fingerprint: z.string() }),
  /** Backend of the process that created the run (resumes may use another). */
  backend: z.string().optional(),
});
export type RunConfigFile = z.output<typeof RunConfigFile>;

/** SWD at one pyramid level (×10³). */
export const SwdLevel = z.object({ resolution: z.int(), swd: z.number() });

/**
 * A run folder's best.json: the checkpoint whose in-training SWD (generated faces against the training
 * faces) was the lowest so far. Readers open it by default; training never rotates it away.
 */
export const BestCheckpointFile = z.object({
  step: z.int().min(1),
  swd: z.number().nonnegative(),
  swdLevels: z.array(SwdLevel).optional(),
  time: z.string(),
});
export type BestCheckpointFile = z.output<typeof BestCheckpointFile>;
