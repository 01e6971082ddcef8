import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { listImageFiles } from '../gan/data.ts';
import { FACES_INDEX_FILE, FACES_LOG_FILE, listTrainingFaces } from './index-store.ts';

/**
 * A folder `kao faces` (or the app's Faces screen) extracts into. The log alone counts: an extraction
 * stopped before its first compaction leaves records, crops and exclusions but no `faces-index.json`.
 */
export function isFacesFolder(dir: string): boolean {
  return existsSync(join(dir, FACES_INDEX_FILE)) || existsSync(join(dir, FACES_LOG_FILE));
}

/**
 * The images a run trains on, for the app and `kao train --data` alike: a faces folder gives its kept faces
 * (exclusions applied, faces of deleted illustrations skipped); any other folder every image in it,
 * subfolders included, sorted. A missing folder is an error (`no such folder: …`).
 */
export async function listTrainingImages(dir: string): Promise<string[]> {
  return isFacesFolder(dir) ? listTrainingFaces(dir) : listImageFiles(dir);
}
