import { copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaceBatchSource, listImageFiles } from '../../../src/core/gan/data.ts';
import { facesDir } from '../../helpers/shared-data.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';

let faces: string[];
let temp: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  faces = (await listImageFiles(facesDir)).slice(0, 40);
  temp = await makeTempDir('kao-gan-data-');
});
afterAll(() => temp.cleanup());

const options = (paths: string[], flip = true) => ({
  paths,
  imageSize: 16,
  batchSize: 8,
  seed: 4,
  flip,
  prefetch: 2,
});

describe('face batch source', () => {
  it('lists the real face files', async () => {
    expect((await listImageFiles(facesDir)).length).toBe(1600);
  });

  it('lists links to images as images, and trains on them', async () => {
    const linked = join(temp.dir, 'linked');
    await mkdir(linked);
    for (const face of faces.slice(0, 8)) await symlink(face, join(linked, face.split('/').pop()!));
    const listed = await listImageFiles(linked);
    expect(listed).toHaveLength(8);
    const warnings: string[] = [];
    const batch = await new FaceBatchSource({
      ...options(listed),
      onWarning: (m) => warnings.push(m),
    }).next();
    expect(batch.data.length).toBe(8 * 16 * 16 * 3);
    expect(new Set(batch.data).size).toBeGreaterThan(100);
    expect(warnings).toEqual([]);
  });

  it('yields [-1, 1] batches in a seeded per-epoch order, and resumes from a position', async () => {
    const source = new FaceBatchSource(options(faces));
    expect(source.batchesPerEpoch).toBe(5);
    const batches = [];
    for (let i = 0; i < 7; i++) batches.push(await source.next());
    for (const b of batches) {
      expect(b.data.length).toBe(8 * 16 * 16 * 3);
      expect(Math.min(...b.data)).toBeGreaterThanOrEqual(-1);
      expect(Math.max(...b.data)).toBeLessThanOrEqual(1);
      expect(new Set(b.data).size).toBeGreaterThan(100); // real image content, not a constant
    }
    expect(batches.map((b) => b.epoch)).toEqual([0, 0, 0, 0, 0, 1, 1]);
    expect(batches[4]!.next).toEqual({ epoch: 1, index: 0 });
    // Each epoch visits every image once (40 images, 5 batches of 8).
    const plan0 = source.epochPlan(0).order;
    expect(new Set(plan0).size).toBe(40);
    expect(Array.from(source.epochPlan(1).order)).not.toEqual(Array.from(plan0));

    const again = new FaceBatchSource(options(faces), batches[2]!.next);
    expect((await again.next()).data).toEqual(batches[3]!.data);
    expect((await again.next()).data).toEqual(batches[4]!.data);
    expect((await again.next()).data).toEqual(batches[5]!.data);
  });

  it('flips horizontally when asked, from the same seeded plan', async () => {
    const plain = new FaceBatchSource(options(faces, false));
    const flipped = new FaceBatchSource(options(faces, true));
    const a = (await plain.next()).data;
    const b = (await flipped.next()).data;
    const flips = flipped.epochPlan(0).flips;
    const row = 16 * 3;
    for (let i = 0; i < 8; i++) {
      const base = i * 16 * row;
      // Compare the first row's first pixel with the (possibly mirrored) last pixel.
      const mirroredPixel = Array.from(b.subarray(base + 15 * 3, base + 16 * 3));
      const samePixel = Array.from(b.subarray(base, base + 3));
      const original = Array.from(a.subarray(base, base + 3));
      expect(flips[i] ? mirroredPixel : samePixel).toEqual(original);
    }
    expect([...flips].some((f) => f === 1)).toBe(true);
  });

  it('reports an unreadable file once and keeps training on the good ones', async () => {
    const paths: string[] = [];
    for (let i = 0; i < 8; i++) {
      const p = join(temp.dir, `face-${i}.jpg`);
      await copyFile(faces[i]!, p);
      paths.push(p);
    }
    await writeFile(join(temp.dir, 'face-8.jpg'), 'not a jpeg');
    paths.push(join(temp.dir, 'face-8.jpg'));
    const warnings: string[] = [];
    const source = new FaceBatchSource({ ...options(paths), onWarning: (m) => warnings.push(m) });
    for (let i = 0; i < 3; i++) expect((await source.next()).data.every(Number.isFinite)).toBe(true);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('face-8.jpg');
  });

  it('rejects a set smaller than one batch with a clear error', () => {
    expect(() => new FaceBatchSource(options(faces.slice(0, 3)))).toThrow(/fewer than one batch/);
    expect(() => new FaceBatchSource(options([]))).toThrow(/empty/);
  });
});
