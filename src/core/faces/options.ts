import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { DefaultedFaceDetectionOptions } from '../../shared/faces-schemas.ts';

/**
 * Everything that decides which faces come out and how they look. Stored in the faces index: a faces folder
 * holds crops made with one set of these, so a re-run with different values is refused unless `rebuild`.
 */
export const faceDetectionSettingsSchema = DefaultedFaceDetectionOptions.extend({
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
