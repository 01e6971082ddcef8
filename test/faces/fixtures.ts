import { copyFile, mkdir, readdir } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { generatedIllustrationsDir, illustrationsDir, sharedDataDir } from '../helpers/shared-data.ts';

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
