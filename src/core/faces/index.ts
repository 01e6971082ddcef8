/** Face extraction: detect anime faces with OpenCV.js + lbpcascade_animeface, crop, dedupe, index, review. */
export {
  faceDetectionSettingsSchema,
  faceExtractionOptionsSchema,
  type FaceDetectionSettings,
  type FaceExtractionOptions,
  type ResolvedFaceExtractionOptions,
} from './options.ts';
export {
  extractFaces,
  listImages,
  IMAGE_EXTENSIONS,
  type FaceExtractionHooks,
  type FaceExtractionProgress,
  type FaceExtractionSummary,
} from './extract.ts';
export {
  FaceDataset,
  listTrainingFaces,
  readStoredIndex,
  FACES_INDEX_FILE,
  FACES_LOG_FILE,
  FACES_EXCLUDED_FILE,
  FACES_PRUNE_FILE,
  FACES_LOCK,
  FACES_LOCK_FILE,
  type FaceBox,
  type FaceCounts,
  type FaceEntry,
  type FaceFilter,
  type FaceListQuery,
  type FacePage,
  type FaceRecord,
  type ImageRecord,
} from './index-store.ts';
export {
  resolveCascade,
  bundledCascadePath,
  CASCADE_URL,
  CASCADE_SHA256,
  CASCADE_FILE_NAME,
  type ResolveCascadeOptions,
  type ResolvedCascade,
} from './cascade.ts';
export { isFacesFolder, listTrainingImages } from './training-set.ts';
export { pruneDeletedSources, type PruneResult, type PruneOptions, type PruneStep } from './prune.ts';
export { findDeletedSources, type SourceFs } from './source-files.ts';
export { FacesFolder, type FacesFolderOptions, type PrunedFaces } from './faces-folder.ts';
export { FacesError, describeFacesProblem, type FacesProblem, type FacesProblemCode } from './errors.ts';
export { setFaceWorkerUrl } from './worker-pool.ts';
export { FaceDetector, type Box, type DetectParams } from './opencv.ts';
export { extractImageFaces, squareCrop, type ImageFaces, type CroppedFace } from './process-image.ts';
export { perceptualHash, hammingDistance, NearDuplicateIndex } from './phash.ts';
