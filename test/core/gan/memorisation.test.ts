import { beforeAll, describe, expect, it } from 'vitest';
import { decodeImageSet, listImageFiles } from '../../../src/core/gan/data.ts';
import { memorisation } from '../../../src/core/gan/memorisation.ts';
import type { ImageSet } from '../../../src/core/gan/swd.ts';
import { facesDir } from '../../helpers/shared-data.ts';

let train: ImageSet;
let heldOut: ImageSet;
let unseen: ImageSet;
beforeAll(async () => {
  const faces = await listImageFiles(facesDir);
  // Three disjoint sets of real faces at 24 px: "training", held out, and a third playing the samples.
  train = await decodeImageSet(faces.slice(0, 120), 24);
  heldOut = await decodeImageSet(faces.slice(600, 720), 24);
  unseen = await decodeImageSet(faces.slice(1200, 1260), 24);
});

function mirrored(set: ImageSet): ImageSet {
  const { size } = set;
  const data = new Float32Array(set.data.length);
  for (let i = 0; i < set.count; i++)
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++)
        for (let c = 0; c < 3; c++)
          data[((i * size + y) * size + x) * 3 + c] =
            set.data[((i * size + y) * size + (size - 1 - x)) * 3 + c]!;
  return { data, count: set.count, size };
}

function slice(set: ImageSet, from: number, to: number): ImageSet {
  const pixels = set.size * set.size * 3;
  return { data: set.data.slice(from * pixels, to * pixels), count: to - from, size: set.size };
}

describe('memorisation check (nearest training face vs nearest held-out face)', () => {
  it('calls unseen real faces generalising: about as near to held-out faces as to training faces', () => {
    const r = memorisation(unseen, train, heldOut);
    expect(r.samples).toBe(60);
    expect(r.ratio).toBeGreaterThan(0.8);
    expect(r.ratio).toBeLessThan(1.25);
    expect(r.nearCopies).toBeLessThan(0.1);
  });

  it('calls copies of training faces copies, mirrored ones included', () => {
    const copies = slice(train, 10, 40);
    const flipped = mirrored(slice(train, 50, 80));
    for (const samples of [copies, flipped]) {
      const r = memorisation(samples, train, heldOut);
      expect(r.nearestTrain).toBe(0);
      expect(r.ratio).toBe(0);
      expect(r.nearCopies).toBe(1);
    }
  });

  it('counts a partly copying generator by its share of copies', () => {
    const pixels = 24 * 24 * 3;
    const mix = new Float32Array(40 * pixels);
    mix.set(slice(train, 0, 10).data, 0); // 10 copies
    mix.set(slice(unseen, 0, 30).data, 10 * pixels); // 30 new faces
    const r = memorisation({ data: mix, count: 40, size: 24 }, train, heldOut);
    expect(r.nearCopies).toBeGreaterThanOrEqual(0.25);
    expect(r.nearCopies).toBeLessThan(0.35);
  });

  it('refuses sets of different sizes or empty sets', () => {
    const other = { data: new Float32Array(16 * 16 * 3), count: 1, size: 16 };
    expect(() => memorisation(other, train, heldOut)).toThrow(/different sizes/);
    expect(() => memorisation({ data: new Float32Array(0), count: 0, size: 24 }, train, heldOut)).toThrow(
      /empty/,
    );
  });
});
