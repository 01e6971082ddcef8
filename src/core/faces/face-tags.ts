import type { ImageRecord } from './index-store.ts';

/** The tag that says an illustration shows one character: its tags then describe each face found in it. */
export const SOLO_TAG = 'solo';

/**
 * The tags a face inherits from its illustration, or undefined where they cannot be trusted to describe it:
 * an illustration's tags name what is in the whole picture, so with two characters `blonde_hair` may be
 * either's. They are trusted when the detector found exactly one face there, or the illustration is tagged
 * `solo` (a second detection is then a false one, or the same character drawn twice).
 */
export function trustedFaceTags(
  imageTags: readonly string[] | undefined,
  detections: number,
): string[] | undefined {
  if (!imageTags?.length) return undefined;
  return detections === 1 || imageTags.includes(SOLO_TAG) ? [...imageTags] : undefined;
}

/** Every face the detector found in an illustration: kept, dropped as a near-duplicate or as too small. */
export function detectionCount(record: ImageRecord): number {
  return record.faces.length + record.duplicates.length + record.tooSmall.length;
}

/**
 * The record with each face carrying the tags it inherits from `imageTags` (and none where they are not
 * trusted); the same object when nothing changes, so a caller can tell.
 */
export function withFaceTags(record: ImageRecord, imageTags: readonly string[] | undefined): ImageRecord {
  const trusted = trustedFaceTags(imageTags, detectionCount(record));
  const wanted = trusted?.join(' ');
  if (record.faces.every((face) => face.tags?.join(' ') === wanted)) return record;
  return {
    ...record,
    faces: record.faces.map(({ tags: _previous, ...face }) => (trusted ? { ...face, tags: trusted } : face)),
  };
}
