import { availableParallelism } from 'node:os';
import { z } from 'zod';

/** Crop sizes the trainer's presets understand. */
export const faceCropSizes = [64, 96, 128] as const;
export type FaceCropSize = (typeof faceCropSizes)[number];

/**
 * Everything that decides which faces come out and how they look. Stored in the faces index: a faces folder
 * holds crops made with one set of these, so a re-run with different values is refused unless `rebuild`.
 */
export const faceDetectionSettingsSchema = z.object({
  /** Output crop side in pixels. */
  size: z.union([z.literal(64), z.literal(96), z.literal(128)]).default(96),
  /** Fraction of the detected box side added on every side (0.25 → a crop 1.5× the box: hair and chin). */
  margin: z.number().min(0).max(1).default(0.25),
  /** detectMultiScale's pyramid step. */
  scaleFactor: z.number().min(1.01).max(2).default(1.1),
  /** detectMultiScale's neighbour votes a box needs; higher means fewer, surer faces. */
  minNeighbors: z.int().min(1).max(50).default(5),
  /** Smallest face the detector looks for, in pixels of the (downscaled) detection image. */
  minSize: z.int().min(8).max(1024).default(24),
  /** Images are downscaled so their long side is at most this before detection (the wasm heap never shrinks). */
  maxDetectSide: z.int().min(256).max(4096).default(1024),
  /** Crops whose side in source pixels is below this are rejected (they would be blurry upscales). */
  minSourceSize: z.int().min(1).max(4096).default(48),
  /** Two crops whose 64-bit pHashes differ in at most this many bits are near-duplicates; the later is dropped. -1 keeps all. */
  duplicateDistance: z.int().min(-1).max(20).default(8),
});
export type FaceDetectionSettings = z.infer<typeof faceDetectionSettingsSchema>;

/** Options of one extraction run: the detection settings plus where and how to run. */
export const faceExtractionOptionsSchema = faceDetectionSettingsSchema.extend({
  /** Folder of illustrations (searched recursively). */
  inputDir: z.string().min(1),
  /** Faces folder: crops, index, exclusions. */
  outputDir: z.string().min(1),
  /** A local lbpcascade_animeface.xml; empty means $KAO_CASCADE, then the cached download. */
  cascadePath: z.string().default(''),
  /** Where the cascade is downloaded to and looked up (the data folder's cache/). */
  cacheDir: z.string().optional(),
  /** Worker threads, each with its own OpenCV instance. Default: one per core. */
  workers: z
    .int()
    .min(1)
    .max(64)
    .default(() => availableParallelism()),
  /** Clears the faces folder's index and crops first (needed to change detection settings). */
  rebuild: z.boolean().default(false),
});
export type FaceExtractionOptions = z.input<typeof faceExtractionOptionsSchema>;
export type ResolvedFaceExtractionOptions = z.output<typeof faceExtractionOptionsSchema>;

/** The settings that make two extractions comparable (everything that changes the crops). */
export function detectionSettingsOf(options: FaceDetectionSettings): FaceDetectionSettings {
  return faceDetectionSettingsSchema.parse({
    size: options.size,
    margin: options.margin,
    scaleFactor: options.scaleFactor,
    minNeighbors: options.minNeighbors,
    minSize: options.minSize,
    maxDetectSide: options.maxDetectSide,
    minSourceSize: options.minSourceSize,
    duplicateDistance: options.duplicateDistance,
  });
}
