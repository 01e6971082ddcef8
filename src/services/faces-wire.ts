import { isAbsolute, relative, sep } from 'node:path';
import {
  type FaceDetectionSettings,
  type FaceEntry,
  type FaceExtractionProgress as CoreProgress,
  type FaceExtractionSummary,
} from '../core/faces/index.ts';
import type { FaceExtractionProgress, FaceIndexSettings, FaceItem } from '../shared/faces-schemas.ts';

/** The core's faces, progress and settings as the contract carries them: exactly the wire fields. */

/** Unreadable images listed in the UI; the count stays exact. */
export const MAX_LISTED_FAILURES = 200;

export function emptyProgress(): FaceExtractionProgress {
  return {
    stage: 'preparing',
    images: 0,
    skipped: 0,
    toProcess: 0,
    processed: 0,
    failed: 0,
    faces: 0,
    duplicates: 0,
    tooSmall: 0,
    totalFaces: 0,
    workers: 0,
  };
}

export function wireProgress(p: CoreProgress, started: number): FaceExtractionProgress {
  const seconds = (Date.now() - started) / 1000;
  const rate = p.processed > 0 && seconds > 0 ? p.processed / seconds : undefined;
  return {
    stage: p.phase,
    images: p.images,
    skipped: p.skipped,
    toProcess: p.toProcess,
    processed: p.processed,
    failed: p.failed,
    faces: p.faces,
    duplicates: p.duplicates,
    tooSmall: p.tooSmall,
    totalFaces: p.totalFaces,
    workers: p.workers,
    ...(p.current !== undefined ? { current: p.current } : {}),
    ...(rate !== undefined ? { imagesPerSec: rate, etaSeconds: (p.toProcess - p.processed) / rate } : {}),
  };
}

export function finalProgress(
  s: FaceExtractionSummary,
  cascadeFrom: FaceExtractionProgress['cascadeFrom'],
  started: number,
): FaceExtractionProgress {
  return {
    stage: 'done',
    images: s.images,
    skipped: s.skipped,
    toProcess: s.images - s.skipped,
    processed: s.processed,
    failed: s.failures.length,
    faces: s.faces,
    duplicates: s.duplicates,
    tooSmall: s.tooSmall,
    totalFaces: s.totalFaces,
    workers: s.workers,
    ...(s.processed > 0
      ? { imagesPerSec: s.processed / Math.max(0.001, (Date.now() - started) / 1000) }
      : {}),
    failures: s.failures.slice(-MAX_LISTED_FAILURES).map((f) => ({ ...f })),
    ...(s.prunedImages > 0 ? { pruned: s.pruned, prunedImages: s.prunedImages } : {}),
    ...(cascadeFrom ? { cascadeFrom } : {}),
    elapsedMs: s.elapsedMs,
  };
}

/** Paths relative to the data folder (forward slashes) for `mediaUrl`; undefined when outside it. */
function dataRelative(root: string, path: string): string | undefined {
  const rel = relative(root, path);
  if (!rel || rel.startsWith('..') || isAbsolute(rel)) return undefined;
  return rel.split(sep).join('/');
}

export function wireFace(entry: FaceEntry, root: string): FaceItem {
  const source = dataRelative(root, entry.source);
  return {
    id: entry.id,
    crop: dataRelative(root, entry.file) ?? '',
    version: entry.hash,
    ...(source ? { source } : {}),
    sourceName: entry.sourceRelative,
    box: { ...entry.box },
    cropBox: { ...entry.crop },
    imageWidth: entry.imageWidth,
    imageHeight: entry.imageHeight,
    excluded: entry.excluded,
  };
}

/** The five settings the Faces screen sets; the core's others keep their defaults there. */
export function indexSettingsOf(s: FaceDetectionSettings): FaceIndexSettings {
  return {
    size: s.size,
    margin: s.margin,
    scaleFactor: s.scaleFactor,
    minNeighbors: s.minNeighbors,
    minSize: s.minSize,
  };
}

export function describeIndexSettings(s: FaceIndexSettings): string {
  return `${s.size} px, margin ${s.margin}, scale factor ${s.scaleFactor}, min neighbours ${s.minNeighbors}, min size ${s.minSize}`;
}
