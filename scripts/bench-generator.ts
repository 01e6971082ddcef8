/**
 * Single-image generator latency for the explorer (batch 1, after warm-up, median): is a slider drag
 * "instant" (≤ 16 ms per frame)? Measures the generator forward pass alone and the full path to RGBA bytes
 * (what the explorer draws), plus a 16-face variations grid, per backend and preset.
 *
 *   node_modules/.bin/node --import tsx scripts/bench-generator.ts [--backends wasm,cpu] [--presets anime-48,dcgan-64] [--runs 30] [--json]
 */
import * as tf from '@tensorflow/tfjs';
import { parseArgs } from 'node:util';
import type { BackendName } from '../src/shared/contract-base.ts';
import { selectBackend } from '../src/core/gan/backend.ts';
import { resolveGanConfig, type PresetName } from '../src/core/gan/config.ts';
import {
  generatorParamSpecs,
  generatorStatSpecs,
  initialValues,
  paramSetFromRecord,
} from '../src/core/gan/models.ts';
import { explorerGeneratorFromParams, generateImages } from '../src/core/explorer/generator.ts';
import { randomLatent, variations } from '../src/core/explorer/latent.ts';
import { Rng } from '../src/shared/rng.ts';

const { values } = parseArgs({
  options: {
    backends: { type: 'string', default: 'wasm,cpu' },
    presets: { type: 'string', default: 'anime-48,dcgan-64' },
    runs: { type: 'string', default: '30' },
    json: { type: 'boolean', default: false },
  },
});
const runs = Number(values.runs);

interface Row {
  backend: string;
  preset: string;
  imageSize: number;
  /** generator.forward + read back, batch 1 */
  forwardMs: number;
  /** generateImages (forward + to RGBA bytes), batch 1: what one slider frame costs */
  imageMs: number;
  /** generateImages for the 16 faces of a variations grid, one batch */
  grid16Ms: number;
  /** grid16Ms / 16 */
  perImageInGridMs: number;
}

async function median(times: number, fn: () => Promise<unknown>, warmup = 3): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn(); // warm-up: kernel setup, weight uploads, allocator
  const samples: number[] = [];
  for (let i = 0; i < times; i++) {
    const start = performance.now();
    await fn();
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!;
}

const rows: Row[] = [];
for (const backend of values.backends.split(',') as BackendName[]) {
  const info = await selectBackend(backend);
  for (const preset of values.presets.split(',') as PresetName[]) {
    const config = resolveGanConfig(preset);
    const rng = new Rng(1);
    const params = paramSetFromRecord(
      generatorParamSpecs(config),
      initialValues(generatorParamSpecs(config), rng),
      false,
    );
    const stats = paramSetFromRecord(
      generatorStatSpecs(config),
      initialValues(generatorStatSpecs(config), rng),
      false,
    );
    const generator = explorerGeneratorFromParams(config, params, stats, true);
    const z = randomLatent(7, config.zDim);
    const grid = variations(z, { seed: 3, amount: 0.5 });
    // The cpu backend is slow on the big preset: fewer runs keep the script short, the median stays honest.
    const n = backend === 'cpu' ? Math.max(5, Math.round(runs / 3)) : runs;
    const forwardMs = await median(n, async () => {
      const out = generator.forward(tf.tensor2d(z, [1, config.zDim]));
      await out.data();
      out.dispose();
    });
    const imageMs = await median(n, () => generateImages(generator, [z]));
    // A 16-face batch on the cpu backend takes a minute for dcgan-64: one warm-up, three runs.
    const grid16Ms =
      backend === 'cpu'
        ? await median(3, () => generateImages(generator, grid), 1)
        : await median(Math.max(3, Math.round(n / 3)), () => generateImages(generator, grid));
    generator.dispose();
    const row = {
      backend: info.name,
      preset,
      imageSize: config.imageSize,
      forwardMs,
      imageMs,
      grid16Ms,
      perImageInGridMs: grid16Ms / 16,
    };
    rows.push(row);
    if (!values.json) {
      console.log(
        `${row.backend.padEnd(6)} ${preset.padEnd(9)} ${config.imageSize}×${config.imageSize}  forward ${forwardMs.toFixed(1)} ms  ` +
          `image ${imageMs.toFixed(1)} ms  grid16 ${grid16Ms.toFixed(1)} ms (${row.perImageInGridMs.toFixed(1)} ms/face)`,
      );
    }
  }
}
if (values.json) console.log(JSON.stringify(rows, null, 2));
