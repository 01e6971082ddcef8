import { copyFile, mkdir, readdir, readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FACES_LOG_FILE } from '../../src/core/faces/index-store.ts';
import { generatedIllustrationsDir, illustrationsDir, sharedDataDir } from './shared-data.ts';

export interface ReferenceImage {
  width: number;
  height: number;
  faces: Array<[number, number, number, number]>;
}
export interface FacesReference {
  opencv: string;
  cascadeSha256: string;
  params: { scaleFactor: number; minNeighbors: number; minSize: number; maxDetectSide: number };
  totalFaces: number;
  images: Record<string, ReferenceImage>;
}

/** Native OpenCV's detections (scripts/faces-reference.py), keyed "illustrations/<file>" etc. */
export const facesReference = JSON.parse(
  readFileSync(resolve(import.meta.dirname, '../fixtures/faces-reference.json'), 'utf8'),
) as FacesReference;

export const sharedFolders = {
  illustrations: illustrationsDir,
  'generated-illustrations': generatedIllustrationsDir,
} as const;

/** Copies shared images into a temp input folder (tests add broken files there, never to the shared data). */
export async function copyImages(
  into: string,
  folder: keyof typeof sharedFolders,
  pick: (name: string, index: number) => boolean = () => true,
): Promise<string[]> {
  const names = (await readdir(sharedFolders[folder])).sort().filter(pick);
  await mkdir(join(into, folder), { recursive: true });
  for (const name of names) await copyFile(join(sharedFolders[folder], name), join(into, folder, name));
  return names.map((name) => `${folder}/${name}`);
}

export { sharedDataDir };

/** How many records an extraction has appended to its faces log so far (0 before it starts one). */
export async function faceLogLines(facesDir: string): Promise<number> {
  const text = await readFile(join(facesDir, FACES_LOG_FILE), 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l.trim()).length;
}
