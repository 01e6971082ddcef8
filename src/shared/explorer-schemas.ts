/**
 * Explorer and favorites schemas for the contract. Pure zod (the renderer imports this module): no Node,
 * no tfjs. The GANSpace directions JSON mirrors `principalDirectionsJsonSchema` of src/core/explorer, with
 * bounds, so it can cross IPC and the web bridge without pulling tfjs into the contract.
 */
import { z } from 'zod';
import { RunId } from './training-schemas.ts';

/** The longest z any preset may use; also bounds every z crossing the contract. */
export const MAX_Z_DIM = 1024;
export const ZVector = z.array(z.number().finite()).min(1).max(MAX_Z_DIM);
export const CheckpointStep = z.int().min(0).max(1_000_000_000);
export const Truncation = z.number().min(0).max(10);

// ---------------------------------------------------------------- explorer

/** A run the explorer can open: it has at least one checkpoint. */
export const ExplorerRun = z.object({
  id: RunId,
  /** The app's name for the run (run.json), else the folder name. */
  name: z.string(),
  preset: z.string(),
  createdAt: z.string(),
  zDim: z.int(),
  imageSize: z.int(),
  /** Checkpoint steps, ascending (training keeps the last few). */
  steps: z.array(z.int()),
  /** The checkpoint with the lowest in-training SWD (one of `steps`): what opens when no step is asked for. */
  bestStep: z.int().optional(),
  /** Faces the run trained on, when its config says (for "how trained is this"). */
  faces: z.int().optional(),
});
export type ExplorerRun = z.infer<typeof ExplorerRun>;

export const ExplorerModelRequest = z.object({ runId: RunId, step: CheckpointStep.optional() }).strict();

/** One tensor inside the weights file: `new Float32Array(buffer, byteOffset, length)`. */
export const GeneratorTensor = z.object({
  name: z.string(),
  shape: z.array(z.int()),
  byteOffset: z.int(),
  length: z.int(),
});

export const DirectionJson = z.object({
  index: z.int().min(0).max(1000),
  vector: z.array(z.number().finite()).min(1).max(MAX_Z_DIM),
  variance: z.number(),
  varianceShare: z.number(),
  sigma: z.number(),
  min: z.number(),
  max: z.number(),
  label: z.string().max(100),
});
export const DirectionsJson = z.object({
  zDim: z.int().min(1).max(MAX_Z_DIM),
  featureSize: z.int().min(1),
  sampleCount: z.int().min(2),
  seed: z.number(),
  totalVariance: z.number(),
  directions: z.array(DirectionJson).max(64),
});
export type DirectionsJson = z.infer<typeof DirectionsJson>;

/**
 * What the renderer needs to build the generator itself: the GAN config, where the float32 weights file
 * is (data-folder relative, fetch it through `kao.mediaUrl`), and the tensors inside it.
 */
export const GeneratorManifest = z.object({
  runId: RunId,
  step: z.int(),
  /** The run's GanConfig (validated again by `generatorFromWeights`). */
  config: z.record(z.string(), z.unknown()),
  weightsPath: z.string(),
  byteLength: z.int(),
  tensors: z.array(GeneratorTensor),
  /** GANSpace directions cached for this checkpoint by an earlier visit, when there are any. */
  directions: DirectionsJson.optional(),
});
export type GeneratorManifest = z.infer<typeof GeneratorManifest>;

export const SaveDirectionsRequest = z
  .object({ runId: RunId, step: CheckpointStep, directions: DirectionsJson })
  .strict();

export const AnimationFormat = z.enum(['webp', 'gif']);
export const InterpolationMode = z.enum(['linear', 'spherical']);

export const InterpolationExportRequest = z
  .object({
    runId: RunId,
    step: CheckpointStep,
    from: ZVector,
    to: ZVector,
    frames: z.int().min(2).max(120),
    mode: InterpolationMode.default('spherical'),
    format: AnimationFormat.default('webp'),
    /** Frame side in pixels; 4× the model's image size when omitted. */
    size: z.int().min(16).max(512).optional(),
    truncation: Truncation.default(1),
    /** Play a → b → a for a seamless loop. */
    pingPong: z.boolean().default(false),
    /** A full folder or .webp/.gif file path; default `<data>/exports/`. */
    outPath: z.string().trim().min(1).max(4096).optional(),
    /** Replace an existing file at `outPath` (otherwise such a request fails with code `exists`). */
    overwrite: z.boolean().optional(),
  })
  .strict();

export const InterpolationExportResult = z.object({
  path: z.string(),
  /** Data-folder-relative path when the file is inside the data folder (show it with `kao.mediaUrl`). */
  mediaPath: z.string().optional(),
  format: AnimationFormat,
  frames: z.int(),
  size: z.int(),
  bytes: z.int(),
});
export type InterpolationExportResult = z.infer<typeof InterpolationExportResult>;

export const ExportProgress = z.object({ done: z.int(), total: z.int() });

// ---------------------------------------------------------------- attributes (named sliders)

/** A tag as the tag store keeps it (`blonde_hair`). */
export const AttributeTag = z.string().min(1).max(200);
/** Positions of named sliders, tag → offset along the attribute's direction in standard deviations of z. */
export const AttributeOffsets = z.record(AttributeTag, z.number().finite().min(-10).max(10));
export type AttributeOffsets = z.infer<typeof AttributeOffsets>;

/** What the attribute's classifier looks at: the face's colours on a coarse grid, or the run's own D. */
export const AttributeFeatures = z.enum(['pixels', 'discriminator']);
export type AttributeFeatures = z.infer<typeof AttributeFeatures>;

/** An attribute's effect on random generated faces with its slider at +2 (what the slider is trusted for). */
export const AttributeEffect = z.object({
  /** Share of faces whose score for this attribute went up. */
  moved: z.number().min(0).max(1),
  /** Mean change of this attribute's score, in standard deviations of the score over random faces. */
  change: z.number(),
  /** The largest |mean change| of another attribute's score, as a share of `change` (0 = only this one moves). */
  crossTalk: z.number().min(0),
  /** The attribute whose score moved most with it, when there are others. */
  mostAffected: AttributeTag.optional(),
});
export type AttributeEffect = z.infer<typeof AttributeEffect>;

export const AttributeDirection = z.object({
  tag: AttributeTag,
  /** The tag in words (`blonde hair`). */
  label: z.string().max(200),
  /**
   * Unit vector in z that the slider moves along (1 = one standard deviation of z along it), already
   * projected to leave the other listed attributes' scores unchanged (InterFaceGAN's conditional edit).
   */
  vector: ZVector,
  /** Tagged training faces with and without the tag that the classifier learned from. */
  positives: z.int().min(0),
  negatives: z.int().min(0),
  /** Balanced accuracy of the classifier on tagged faces it did not learn from (0.5 = chance). */
  accuracy: z.number().min(0).max(1),
  /** Tagged faces held out to measure `accuracy`. */
  heldOut: z.int().min(0),
  features: AttributeFeatures,
  effect: AttributeEffect,
});
export type AttributeDirection = z.infer<typeof AttributeDirection>;

export const AttributeDirections = z.object({
  runId: RunId,
  step: CheckpointStep,
  zDim: z.int().min(1).max(MAX_Z_DIM),
  /** Training faces found for the run, and how many of them carry tags. */
  faces: z.int().min(0),
  taggedFaces: z.int().min(0),
  /** Best first (highest held-out accuracy). Empty when `note` says why. */
  attributes: z.array(AttributeDirection).max(64),
  /** Tags considered but not made sliders, with the reason (too few faces, not recognisable). */
  skipped: z.array(z.object({ tag: AttributeTag, reason: z.string().max(300) })).max(200),
  /** Why there are no named sliders, in words for the user; absent when there are some. */
  note: z.string().max(500).optional(),
  /** Wall-clock seconds the learning took (0 when read from the cache). */
  seconds: z.number().min(0),
  /** True when read from the run folder's cache. */
  cached: z.boolean(),
});
export type AttributeDirections = z.infer<typeof AttributeDirections>;

export const ExplorerAttributesRequest = z
  .object({
    runId: RunId,
    step: CheckpointStep.optional(),
    /** Learn again even when the run folder has them cached (e.g. after tagging more faces). */
    recompute: z.boolean().optional(),
  })
  .strict();

/** Cancels the learning in flight, or only when it is for this run (and checkpoint): one client cannot stop another's. */
export const CancelAttributesRequest = z
  .object({ runId: RunId.optional(), step: CheckpointStep.optional() })
  .strict();

export const AttributesProgress = z.object({
  runId: RunId,
  phase: z.enum(['faces', 'classifiers', 'sampling', 'directions', 'checking']),
  done: z.int().min(0),
  total: z.int().min(0),
});
export type AttributesProgress = z.infer<typeof AttributesProgress>;

// ---------------------------------------------------------------- favorites

export const FavoriteId = z.string().regex(/^[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$/, 'not a favorite id');
export const FavoriteName = z.string().trim().min(1).max(120);

export const Favorite = z.object({
  id: FavoriteId,
  name: z.string(),
  createdAt: z.string(),
  runId: z.string(),
  /** The run's name as the Training screen shows it, while its run.json is there. */
  runName: z.string().optional(),
  step: z.int(),
  truncation: z.number(),
  z: z.array(z.number()),
  /** Named-slider positions the face was saved with (its z already includes them). */
  attributes: AttributeOffsets.optional(),
  /** Data-folder-relative path of the saved PNG (for `kao.mediaUrl`). */
  imagePath: z.string(),
  imageSize: z.int(),
  /** False when the run or its checkpoint is gone: the face cannot be regenerated any more. */
  modelAvailable: z.boolean(),
});
export type Favorite = z.infer<typeof Favorite>;

export const FavoritesListing = z.object({
  /** Newest first. */
  favorites: z.array(Favorite),
  /** Files in the favorites folder that are not valid favorites (skipped, never deleted). */
  problems: z.array(z.object({ file: z.string(), reason: z.string() })),
  /** What this adapter can do natively (Electron: copy to the clipboard, show in the file manager). */
  canCopy: z.boolean(),
  canReveal: z.boolean(),
});
export type FavoritesListing = z.infer<typeof FavoritesListing>;

export const SaveFavoriteRequest = z
  .object({
    runId: RunId,
    step: CheckpointStep,
    z: ZVector,
    truncation: Truncation.default(1),
    name: FavoriteName.optional(),
    /** Named-slider positions to remember (`z` already includes their effect). */
    attributes: AttributeOffsets.optional(),
  })
  .strict();

export const FavoriteExportRequest = z
  .object({
    id: FavoriteId,
    size: z.int().min(64).max(2048),
    /** A full folder or .png file path; default: Downloads (desktop) or `<data>/exports/` (browser). */
    to: z.string().trim().min(1).max(4096).optional(),
    /** Replace an existing `.png` at `to` (otherwise such a request fails with code `exists`). */
    overwrite: z.boolean().optional(),
    /** Browser: produce the file for a download (`downloadUrl`) instead of saving it on the server. */
    download: z.boolean().optional(),
  })
  .strict();

export const FavoriteExportResult = z.object({
  path: z.string(),
  size: z.int(),
  /** `model`: re-rendered from z; `saved-image`: the checkpoint is gone, the saved PNG was resized. */
  source: z.enum(['model', 'saved-image']),
  mediaPath: z.string().optional(),
  /** Downloads: the one-time URL the page fetches the file from, and the file's (shell-safe) name. */
  downloadUrl: z.string().optional(),
  fileName: z.string().optional(),
});

export const FavoritesChanged = z.object({
  reason: z.enum(['saved', 'renamed', 'deleted']),
  id: FavoriteId,
});
