/**
 * How well named sliders work on a trained run, measured the way docs/attributes.md reports it: the shared
 * faces are tagged by rules measurable on any image (test/helpers/tagged-faces.ts: dark_hair, warm_hair),
 * the run's sliders are learned from them (timed), and each slider moved +2 on faces neither learning nor
 * its own check saw is measured twice — by the classifiers' scores and by the rules on the pixels.
 * Writes a picture: one row per slider, faces at −2 / 0 / +2.
 *
 *   node --import tsx scripts/attributes-check.ts --run DIR [--faces 1600] [--grid FILE.png]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { learnAttributes } from '../src/core/attributes/learn.ts';
import { selectBackend } from '../src/core/gan/backend.ts';
import { loadGenerator } from '../src/core/gan/generator-node.ts';
import { writeSampleGrid } from '../src/core/gan/images.ts';
import { Rng } from '../src/shared/rng.ts';
import { hairLuma, hairWarmth, makeTaggedFaceFolder } from '../test/helpers/tagged-faces.ts';

const { values } = parseArgs({
  options: { run: { type: 'string' }, faces: { type: 'string' }, grid: { type: 'string' } },
});
if (!values.run) throw new Error('usage: attributes-check.ts --run DIR [--faces 1600] [--grid FILE.png]');
const backend = await selectBackend('wasm');
const temp = await mkdtemp(join(tmpdir(), 'kao-attributes-check-'));
try {
  const facesDir = join(temp, 'faces');
  await makeTaggedFaceFolder(facesDir, Number(values.faces ?? 1600));
  const learned = await learnAttributes(values.run, { facesDir });
  const { generator, config } = await loadGenerator(values.run, { step: learned.step });
  const count = 200;
  const zDim = config.zDim;
  const base = new Rng(7777).normalArray(count * zDim);
  const measure = async (latents: Float32Array) => {
    const batch = await generator.generate(latents, { format: 'rgb' });
    const size = batch.width * batch.height * 3;
    return Array.from({ length: count }, (_, i) => {
      const pixels = batch.pixels.subarray(i * size, (i + 1) * size);
      return { luma: hairLuma(pixels, batch.width), warmth: hairWarmth(pixels, batch.width) };
    });
  };
  const before = await measure(base);
  const spread = (key: 'luma' | 'warmth') => {
    const v = before.map((m) => m[key]);
    const mean = v.reduce((s, x) => s + x, 0) / v.length;
    return Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / v.length);
  };
  const rules = {
    dark_hair: { key: 'luma' as const, sign: -1, other: 'warmth' as const },
    warm_hair: { key: 'warmth' as const, sign: 1, other: 'luma' as const },
  };
  const moved = (amount: number, vector: number[], latents: Float32Array) =>
    latents.map((v, i) => v + amount * vector[i % zDim]!);
  const rows = [];
  for (const a of learned.attributes) {
    const rule = rules[a.tag as keyof typeof rules];
    if (!rule) continue;
    const after = await measure(moved(2, a.vector, base));
    const own = after.map((m, i) => rule.sign * (m[rule.key] - before[i]![rule.key]));
    const other = after.map((m, i) => m[rule.other] - before[i]![rule.other]);
    const ownChange = own.reduce((s, d) => s + d, 0) / count / spread(rule.key);
    const otherChange = Math.abs(other.reduce((s, d) => s + d, 0) / count) / spread(rule.other);
    rows.push({
      tag: a.tag,
      accuracy: round(a.accuracy),
      features: a.features,
      positives: a.positives,
      negatives: a.negatives,
      heldOut: a.heldOut,
      classifier: {
        moved: round(a.effect.moved),
        change: round(a.effect.change),
        crossTalk: round(a.effect.crossTalk),
      },
      rule: {
        moved: round(own.filter((d) => d > 0).length / count),
        change: round(ownChange),
        crossTalk: round(otherChange / ownChange),
      },
    });
  }
  if (values.grid) {
    // One row per slider: six faces at −2, 0, +2 side by side.
    const faces = 6;
    const strip = new Float32Array(learned.attributes.length * faces * 3 * zDim);
    let k = 0;
    for (const a of learned.attributes) {
      for (let f = 0; f < faces; f++) {
        for (const amount of [-2, 0, 2]) {
          for (let i = 0; i < zDim; i++) strip[k * zDim + i] = base[f * zDim + i]! + amount * a.vector[i]!;
          k++;
        }
      }
    }
    const batch = await generator.generate(strip, { format: 'rgb' });
    await writeSampleGrid(batch, values.grid, { columns: faces * 3, scale: 2 });
  }
  generator.dispose();
  console.log(
    JSON.stringify(
      {
        run: values.run,
        step: learned.step,
        backend: backend.name,
        taggedFaces: learned.taggedFaces,
        seconds: round(learned.seconds),
        attributes: rows,
        skipped: learned.skipped,
      },
      null,
      1,
    ),
  );
} finally {
  await rm(temp, { recursive: true, force: true });
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
