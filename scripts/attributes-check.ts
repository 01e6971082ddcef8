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
import { generateImages } from '../src/core/explorer/generator.ts';
import { loadRunGenerator } from '../src/core/library/model.ts';
import { writeSampleGrid } from '../src/core/gan/images.ts';
import { Rng } from '../src/shared/rng.ts';
import { makeTaggedFaceFolder, ruleEffects } from '../test/helpers/tagged-faces.ts';

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
  const { generator, config } = await loadRunGenerator(values.run, learned.step);
  const zDim = config.zDim;
  // 200 faces neither learning nor its own effect check saw.
  const base = Array.from({ length: 200 }, (_, i) => Float32Array.from(new Rng(7777 + i).normalArray(zDim)));
  const byRule = await ruleEffects(generator, learned.attributes, base);
  const rows = learned.attributes.map((a) => {
    const rule = byRule.find((e) => e.tag === a.tag);
    return {
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
      ...(rule
        ? { rule: { moved: round(rule.rose), change: round(rule.change), crossTalk: round(rule.crossTalk) } }
        : {}),
    };
  });
  if (values.grid) {
    // One row per slider: six faces at −2, 0, +2 side by side.
    const strip = learned.attributes.flatMap((a) =>
      base.slice(0, 6).flatMap((z) => [-2, 0, 2].map((amount) => z.map((v, i) => v + amount * a.vector[i]!))),
    );
    const images = await generateImages(generator, strip);
    const size = images[0]!.width;
    const pixels = new Uint8Array(images.length * size * size * 4);
    images.forEach((image, i) => pixels.set(image.data, i * size * size * 4));
    await writeSampleGrid(
      { count: images.length, width: size, height: size, channels: 4, pixels },
      values.grid,
      { columns: 18, scale: 2 },
    );
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
