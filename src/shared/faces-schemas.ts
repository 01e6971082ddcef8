/**
 * Wire schemas of the Faces screen: the extraction form, extraction progress, the cascade's status, pages
 * of crops and exclusions. Pure zod (the renderer imports it); contract.ts names the channels that use them.
 */
import { z } from 'zod';

/** Crop sides the trainer's presets understand. */
export const FACE_CROP_SIZES = [64, 96, 128] as const;
export const FACE_FILTERS = ['all', 'kept', 'excluded'] as const;
export const FaceFilter = z.enum(FACE_FILTERS);
export type FaceFilter = z.infer<typeof FaceFilter>;

/** Most ids one exclude/restore request may carry; the UI sends bigger selections in batches. */
export const MAX_IDS_PER_REQUEST = 20_000;

/**
 * How faces are found and cropped, as the user sets it (`settings.faces`, the extraction form, `kao faces`):
 * each option with its range. The faces index stores them: other values need a rebuild.
 */
export const FaceDetectionOptions = z.object({
  /** Side of the saved crops in pixels. */
  size: z.literal(FACE_CROP_SIZES),
  /** Fraction of the detected box side added on every side (0.25 → a crop 1.5× the box: hair and chin). */
  margin: z.number().min(0).max(1),
  /** The detector's pyramid step: smaller finds more faces, slower. */
  scaleFactor: z.number().min(1.01).max(2),
  /** Neighbouring detections a face needs: higher means fewer, surer faces. */
  minNeighbors: z.int().min(1).max(50),
  /** Smallest face looked for, in pixels of the (downscaled) detection image. */
  minSize: z.int().min(8).max(1024),
});

/** The same options with their defaults, where one left out takes its default (settings, `kao faces`). */
export const DefaultedFaceDetectionOptions = z.object({
  size: FaceDetectionOptions.shape.size.default(96),
  margin: FaceDetectionOptions.shape.margin.default(0.25),
  scaleFactor: FaceDetectionOptions.shape.scaleFactor.default(1.1),
  minNeighbors: FaceDetectionOptions.shape.minNeighbors.default(5),
  minSize: FaceDetectionOptions.shape.minSize.default(24),
});

/** The extraction form, field for field `settings.faces`, plus whether to start over. */
export const FaceExtractionForm = FaceDetectionOptions.extend({
  /** A local lbpcascade_animeface.xml; empty means the copy shipped with the app (or, without one, the download). */
  cascadePath: z.string().trim().max(4096),
  /** Deletes the existing crops first (needed to change the options of an existing faces folder). */
  rebuild: z.boolean().default(false),
}).strict();
export type FaceExtractionForm = z.input<typeof FaceExtractionForm>;

export const FaceFailure = z.object({ source: z.string(), error: z.string() });
export type FaceFailure = z.infer<typeof FaceFailure>;

/** Extraction progress as pushed to the UI (counts of this run unless said otherwise). */
export const FaceExtractionProgress = z.object({
  /** `cascade`: finding (or downloading) the detector; `preparing`: listing images, starting workers. */
  stage: z.enum(['cascade', 'preparing', 'extracting', 'saving', 'done']),
  /** Images in the dataset. */
  images: z.int(),
  /** Already processed by an earlier run. */
  skipped: z.int(),
  toProcess: z.int(),
  processed: z.int(),
  failed: z.int(),
  faces: z.int(),
  /** Faces dropped as near-duplicates of an earlier face. */
  duplicates: z.int(),
  /** Faces dropped because their crop would be a blurry upscale. */
  tooSmall: z.int(),
  /** Faces in the folder now, this run's included. */
  totalFaces: z.int(),
  workers: z.int(),
  /** The image processed last, relative to the dataset folder. */
  current: z.string().optional(),
  imagesPerSec: z.number().optional(),
  etaSeconds: z.number().optional(),
  /** Final snapshot only: images that could not be read (the newest, capped) and how the run went. */
  failures: z.array(FaceFailure).optional(),
  cascadeFrom: z.enum(['option', 'env', 'bundled', 'cache', 'download']).optional(),
  elapsedMs: z.number().optional(),
  /** Final snapshot only, when any: faces removed because their illustrations were deleted, and how many. */
  pruned: z.int().optional(),
  prunedImages: z.int().optional(),
});
export type FaceExtractionProgress = z.infer<typeof FaceExtractionProgress>;

/**
 * Where the face detector's cascade stands, without touching the network: `ready` (a verified copy is here),
 * `download` (none yet: the next extraction downloads it), `unavailable` (the last download failed: the user
 * must point at a local copy), `invalid` (the chosen file is missing or not the right cascade).
 */
export const CascadeStatus = z.object({
  state: z.enum(['ready', 'download', 'unavailable', 'invalid']),
  /** The file in use or chosen. */
  path: z.string().optional(),
  from: z.enum(['option', 'env', 'bundled', 'cache']).optional(),
  /** Why it is unavailable or invalid, in words. */
  message: z.string().optional(),
  /** Where it is downloaded from, for the user who has to fetch it by hand. */
  url: z.string(),
  /** The file name to save it under. */
  fileName: z.string(),
});
export type CascadeStatus = z.infer<typeof CascadeStatus>;

export const FaceCounts = z.object({
  /** Illustrations processed (with or without faces). */
  images: z.int(),
  failedImages: z.int(),
  faces: z.int(),
  kept: z.int(),
  excluded: z.int(),
  duplicatesDropped: z.int(),
  tooSmallDropped: z.int(),
  /** Kept faces that carry their illustration's tags (the only face found there, or tagged solo). */
  tagged: z.int(),
});
export type FaceCounts = z.infer<typeof FaceCounts>;

/** The detection options the existing crops were made with (a different set needs a rebuild). */
export const FaceIndexSettings = FaceDetectionOptions;
export type FaceIndexSettings = z.infer<typeof FaceIndexSettings>;

/** A rectangle in a source illustration's pixels. */
export const FaceBox = z.object({ x: z.int(), y: z.int(), width: z.int(), height: z.int() });
export type FaceBox = z.infer<typeof FaceBox>;

export const FaceItem = z.object({
  id: z.string(),
  /** The crop, relative to the data folder (for `mediaUrl`). */
  crop: z.string(),
  /** Changes when the crop's pixels do: a cache-buster for the crop's URL. */
  version: z.string(),
  /** The source illustration relative to the data folder; absent when it lives outside it. */
  source: z.string().optional(),
  /** The source illustration relative to the dataset folder (its name, for people). */
  sourceName: z.string(),
  /** The detected face and the square cropped around it, in the source's pixels. */
  box: FaceBox,
  cropBox: FaceBox,
  imageWidth: z.int(),
  imageHeight: z.int(),
  excluded: z.boolean(),
});
export type FaceItem = z.infer<typeof FaceItem>;

/** Which faces a list request reads: a filter and where in that list it starts. */
const faceListStart = {
  filter: FaceFilter.default('all'),
  offset: z.int().min(0).max(100_000_000).default(0),
};

export const FacesListRequest = z
  .object({ ...faceListStart, limit: z.int().min(1).max(1000).default(200) })
  .strict();

export const FacesPage = z.object({
  filter: FaceFilter,
  total: z.int(),
  offset: z.int(),
  faces: z.array(FaceItem),
  counts: FaceCounts,
});
export type FacesPage = z.infer<typeof FacesPage>;

/** The ids of a range of the list (a shift-click range, Ctrl+A), without the rest of each face. */
export const FacesIdsRequest = z
  .object({ ...faceListStart, limit: z.int().min(1).max(1_000_000).default(1_000_000) })
  .strict();

const FaceId = z.string().min(1).max(100);

export const SetExcludedRequest = z
  .object({
    ids: z.array(FaceId).min(1).max(MAX_IDS_PER_REQUEST),
    /** true excludes the faces from training, false restores them. */
    excluded: z.boolean(),
  })
  .strict();

export const UseCascadeRequest = z
  .object({
    /** Full path of a local lbpcascade_animeface.xml; empty goes back to the shipped (or downloaded) copy. */
    path: z.string().trim().max(4096),
  })
  .strict();

/** Faces removed because their illustrations were deleted from the dataset (their exclusions went too). */
export const FacesPruned = z.object({ faces: z.int(), images: z.int(), exclusions: z.int() });
export type FacesPruned = z.infer<typeof FacesPruned>;

/** What the Faces screen needs when it opens. */
export const FacesState = z.object({
  counts: FaceCounts,
  cascade: CascadeStatus,
  indexSettings: FaceIndexSettings.optional(),
  /** Images the extraction could not read (the newest, capped), and how many there are. */
  failures: z.array(FaceFailure),
  failuresTotal: z.int(),
  /** Whether the dataset folder holds any illustration to extract from. */
  datasetHasImages: z.boolean(),
  datasetDir: z.string(),
  facesDir: z.string(),
  /** Told once, by the state request that removed them. */
  pruned: FacesPruned.optional(),
  /** Why the faces of deleted illustrations could not be removed (nothing was); not an error. */
  pruneProblem: z.string().optional(),
});
export type FacesState = z.infer<typeof FacesState>;

/** Pushed when the faces change outside the asking window's own request: an extraction, exclusions. */
export const FacesChanged = z.object({
  reason: z.enum(['extraction', 'exclusions', 'pruned']),
  counts: FaceCounts,
});
