/**
 * Recorded measurement (not a test: minutes, not seconds): does splitting each batch over worker
 * threads (ghost batch norm, averaged gradients) change training quality at equal steps?
 *
 * Trains the same GAN (same init, same batches, same z) in this thread and with N workers, then
 * compares the sliced Wasserstein distance of each generator to real faces; a second in-thread run
 * with another seed shows how much SWD varies anyway. Results go to docs/performance.md.
 *
 *   node_modules/.bin/node --import tsx bench/parallel-quality.ts [preset] [steps] [workers] [eval images]
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/core/gan/backend.ts';
import { isPresetName, resolveGanConfig, type PresetName } from '../src/core/gan/config.ts';
import { FaceBatchSource, listImageFiles } from '../src/core/gan/data.ts';
import { createGan, disposeGan, generatorForward, type Gan } from '../src/core/gan/models.ts';
import { decodeImageSet } from '../src/core/gan/data.ts';
import { trainStep } from '../src/core/gan/step.ts';
import { slicedWassersteinDistance } from '../src/core/gan/swd.ts';
import { ParallelTrainer } from '../src/core/gan/parallel/trainer.ts';
import { Rng } from '../src/shared/rng.ts';
import { facesDir } from '../test/helpers/shared-data.ts';

const preset = (process.argv[2] ?? 'tiny') as PresetName;
if (!isPresetName(preset)) throw new Error(`unknown preset ${preset}`);
const steps = Number(process.argv[3] ?? 300);
const workers = Number(process.argv[4] ?? 2);
const evalCount = Number(process.argv[5] ?? 256);

await selectBackend('wasm');
const config = resolveGanConfig(preset, { batchSize: 64 });
const paths = await listImageFiles(facesDir);
const reals = await decodeImageSet(new Rng(3).shuffle([...paths]).slice(0, evalCount), config.imageSize);

function fakes(gan: Gan) {
  const z = new Rng(4).normalArray(evalCount * config.zDim);
  const images = tf.tidy(
    () => generatorForward(config, gan.g, gan.gStats, tf.tensor2d(z, [evalCount, config.zDim]), false).images,
  );
  const data = images.dataSync() as Float32Array;
  images.dispose();
  return { data, count: evalCount, size: config.imageSize };
}

async function train(seed: number, workerCount: number) {
  const gan = createGan(config, seed);
  const source = new FaceBatchSource({ paths, imageSize: config.imageSize, batchSize: 64, seed, flip: true });
  const zRng = new Rng(seed + 100);
  const trainer = workerCount > 1 ? await ParallelTrainer.create(gan, { workers: workerCount }) : undefined;
  const started = performance.now();
  let last = { lossD: NaN, lossG: NaN };
  for (let step = 0; step < steps; step++) {
    const batch = await source.next();
    const z = zRng.normalArray(64 * config.zDim);
    if (trainer) {
      last = await trainer.step(batch.data, z);
    } else {
      const real = tf.tensor4d(batch.data, [64, config.imageSize, config.imageSize, 3]);
      const zT = tf.tensor2d(z, [64, config.zDim]);
      last = await trainStep(gan, real, zT);
      tf.dispose([real, zT]);
    }
    if ((step + 1) % 50 === 0)
      process.stderr.write(`seed ${seed}, ${workerCount} worker(s): step ${step + 1}/${steps}\n`);
  }
  const seconds = (performance.now() - started) / 1000;
  if (trainer) {
    await trainer.syncTo(gan);
    await trainer.dispose();
  }
  const swdStarted = performance.now();
  const swd = await slicedWassersteinDistance(fakes(gan), reals, { seed: 5 });
  process.stderr.write(`SWD took ${((performance.now() - swdStarted) / 1000).toFixed(1)} s\n`);
  disposeGan(gan);
  return {
    seed,
    workers: workerCount,
    steps,
    seconds: Math.round(seconds),
    ...last,
    swd: swd.average,
    levels: swd.levels,
  };
}

const results = [];
for (const [seed, w] of [
  [1, 1],
  [1, workers],
  [2, 1],
  [2, workers],
] as const) {
  const r = await train(seed, w);
  results.push(r);
  process.stderr.write(`${JSON.stringify(r)}\n`);
}
const untrained = createGan(config, 1);
const baseline = (await slicedWassersteinDistance(fakes(untrained), reals, { seed: 5 })).average;
disposeGan(untrained);
process.stdout.write(
  JSON.stringify({ preset, steps, evalCount, untrainedSwd: baseline, results }, null, 2) + '\n',
);
