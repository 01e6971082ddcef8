/**
 * The quality harness's fixed split of the shared faces: a seeded order of the files; the last 400 are held
 * out (never trained on), the first `trainCount` train. The held-out faces never depend on `trainCount`.
 */
import { Rng } from '../src/shared/rng.ts';
import { listImageFiles } from '../src/core/gan/data.ts';
import { deriveSeed } from '../src/core/gan/seeds.ts';

export const HELD_OUT = 400;

export async function qualitySplit(
  facesDir: string,
  trainCount: number,
): Promise<{ trainFaces: string[]; heldOut: string[] }> {
  const allFaces = await listImageFiles(facesDir);
  if (allFaces.length < HELD_OUT + trainCount)
    throw new Error(`${allFaces.length} faces in ${facesDir}, need ${HELD_OUT + trainCount}`);
  const ordered = new Rng(deriveSeed(0, 'quality-split')).shuffle([...allFaces]);
  return { trainFaces: ordered.slice(0, trainCount), heldOut: ordered.slice(ordered.length - HELD_OUT) };
}
