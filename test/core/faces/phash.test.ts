import { describe, expect, it } from 'vitest';
import { hammingDistance, NearDuplicateIndex, perceptualHash } from '../../../src/core/faces/phash.ts';
import { squareCrop } from '../../../src/core/faces/process-image.ts';
import { Rng } from '../../../src/shared/rng.ts';

function randomHash(rng: Rng): string {
  return rng.nextU32().toString(16).padStart(8, '0') + rng.nextU32().toString(16).padStart(8, '0');
}

function flipBits(hash: string, bits: number[]): string {
  let value = BigInt('0x' + hash);
  for (const bit of bits) value ^= 1n << BigInt(bit);
  return value.toString(16).padStart(16, '0');
}

describe('perceptual hash', () => {
  it('counts differing bits', () => {
    expect(hammingDistance('0000000000000000', 'ffffffffffffffff')).toBe(64);
    expect(hammingDistance('8000000000000001', '0000000000000000')).toBe(2);
    expect(hammingDistance('0123456789abcdef', '0123456789abcdef')).toBe(0);
  });

  it('ignores brightness but not structure', () => {
    const rng = new Rng(3);
    const gradient = new Uint8Array(32 * 32).map((_, i) => (i % 32) * 3 + rng.int(100));
    const brighter = gradient.map((v) => v + 40);
    const mirrored = gradient.map((_, i) => gradient[Math.floor(i / 32) * 32 + 31 - (i % 32)]!);
    expect(perceptualHash(brighter)).toBe(perceptualHash(gradient));
    expect(hammingDistance(perceptualHash(mirrored), perceptualHash(gradient))).toBeGreaterThan(16);
    expect(() => perceptualHash(new Uint8Array(10))).toThrow(/32×32/);
  });

  it('the chunked index finds exactly what a brute-force scan finds', () => {
    const rng = new Rng(42);
    for (const maxDistance of [0, 3, 8]) {
      const index = new NearDuplicateIndex<number>(maxDistance);
      const stored: string[] = [];
      for (let i = 0; i < 2000; i++) {
        const hash = randomHash(rng);
        stored.push(hash);
        index.add(hash, i);
      }
      for (let q = 0; q < 200; q++) {
        const base = stored[rng.int(stored.length)]!;
        const flips = Array.from({ length: rng.int(12) }, () => rng.int(64));
        const query = q % 4 === 0 ? randomHash(rng) : flipBits(base, flips);
        let bestDistance = Infinity;
        for (const hash of stored) bestDistance = Math.min(bestDistance, hammingDistance(query, hash));
        const found = index.findNear(query);
        if (bestDistance <= maxDistance) expect(found?.distance).toBe(bestDistance);
        else expect(found).toBeUndefined();
      }
    }
  });
});

describe('squareCrop', () => {
  it('grows the box by the margin on every side', () => {
    expect(squareCrop({ x: 100, y: 100, width: 40, height: 40 }, 0.25, 500, 400)).toEqual({
      x: 90,
      y: 90,
      width: 60,
      height: 60,
    });
  });
  it('slides the square inside the image at the edges instead of stretching it', () => {
    expect(squareCrop({ x: 0, y: 5, width: 40, height: 40 }, 0.25, 500, 400)).toEqual({
      x: 0,
      y: 0,
      width: 60,
      height: 60,
    });
    expect(squareCrop({ x: 470, y: 370, width: 30, height: 30 }, 0.5, 500, 400)).toEqual({
      x: 440,
      y: 340,
      width: 60,
      height: 60,
    });
  });
  it('shrinks to the short side when the grown square would not fit', () => {
    expect(squareCrop({ x: 10, y: 20, width: 90, height: 90 }, 0.5, 300, 120)).toEqual({
      x: 0,
      y: 0,
      width: 120,
      height: 120,
    });
  });
});
