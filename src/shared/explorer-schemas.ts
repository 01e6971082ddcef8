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
