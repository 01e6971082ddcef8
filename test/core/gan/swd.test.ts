import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../../src/core/gan/backend.ts';
import { listImageFiles } from '../../../src/core/gan/data.ts';
import { decodeImageSet } from '../../../src/core/gan/data.ts';
import { pyramidResolutions, slicedWassersteinDistance, type ImageSet } from '../../../src/core/gan/swd.ts';
import { Rng } from '../../../src/shared/rng.ts';
import { facesDir } from '../../helpers/shared-data.ts';

let halfA: ImageSet;
let halfB: ImageSet;
beforeAll(async () => {
  await selectBackend('wasm');
  const faces = await listImageFiles(facesDir);
  // Two disjoint sets of real faces, at 32 px (two pyramid levels: 32 and 16).
  halfA = await decodeImageSet(faces.slice(0, 64), 32);
  halfB = await decodeImageSet(faces.slice(800, 864), 32);
});

// ProGAN's 128 patches per image per level and 128 directions per repeat; 2 repeats instead of 4 for speed.
const options = { seed: 3, dirRepeats: 2 };

describe('sliced Wasserstein distance (ProGAN, Laplacian pyramid patches)', () => {
  it('uses pyramid levels from full size down to 16 px', () => {
    expect(pyramidResolutions(48)).toEqual([48, 24]);
    expect(pyramidResolutions(64)).toEqual([64, 32, 16]);
    expect(pyramidResolutions(16)).toEqual([16]);
    expect(() => pyramidResolutions(8)).toThrow(/too small/);
  });

  it('is far smaller between two halves of the real faces than between faces and noise or blur', async () => {
    const rng = new Rng(1);
    const noise: ImageSet = { ...halfB, data: Float32Array.from(halfB.data, () => rng.next() * 2 - 1) };
    // Real faces with detail removed (each image replaced by its mean colour plus faint noise).
    const flat: ImageSet = { ...halfB, data: new Float32Array(halfB.data.length) };
    const per = 32 * 32 * 3;
    for (let n = 0; n < halfB.count; n++) {
      for (let c = 0; c < 3; c++) {
        let mean = 0;
        for (let p = c; p < per; p += 3) mean += halfB.data[n * per + p]!;
        mean /= per / 3;
        for (let p = c; p < per; p += 3) flat.data[n * per + p] = mean + 0.01 * (rng.next() - 0.5);
      }
    }
    const realReal = await slicedWassersteinDistance(halfA, halfB, options);
    const realNoise = await slicedWassersteinDistance(halfA, noise, options);
    const realFlat = await slicedWassersteinDistance(halfA, flat, options);
    expect(realReal.levels.map((l) => l.resolution)).toEqual([32, 16]);
    expect(realReal.average).toBeGreaterThan(0);
    expect(realNoise.average).toBeGreaterThan(3 * realReal.average);
    expect(realFlat.average).toBeGreaterThan(3 * realReal.average);
    for (let i = 0; i < 2; i++) expect(realNoise.levels[i]!.swd).toBeGreaterThan(2 * realReal.levels[i]!.swd);
  });

  it('is deterministic for a seed and symmetric-ish, zero-sized sets are refused', async () => {
    const a = await slicedWassersteinDistance(halfA, halfB, options);
    const b = await slicedWassersteinDistance(halfA, halfB, options);
    expect(b).toEqual(a);
    const self = await slicedWassersteinDistance(halfA, halfA, options);
    // Same images, different random patches: small, but not zero.
    expect(self.average).toBeLessThan(a.average);
    await expect(
      slicedWassersteinDistance(halfA, {
        ...halfB,
        count: 47,
        data: halfB.data.subarray(0, 47 * 32 * 32 * 3),
      }),
    ).rejects.toThrow(/same image size and count/);
  });
});
