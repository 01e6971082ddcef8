/**
 * The WebGPU backend's check on a machine with a GPU (CI has none, so `npm test` can only see it refuse):
 *   1. selects `webgpu` (exits 2 with the reason when it cannot run),
 *   2. one whole DCGAN gradient step (D and G) on webgpu against the pure-JS cpu backend, for the tiny
 *      preset and a quarter-width anime-48: the relative error of every gradient and both losses,
 *   3. no tensor left behind by training steps on the GPU,
 *   4. `kao bench` rows for webgpu: kao-48 (the default), anime-48 and dcgan-64 at batch 64 (as the
 *      README reports them), through tfjs-backend-webgpu op by op,
 *   5. Kao's WebGPU engine (src/core/gan/webgpu): one step's gradients vs the cpu backend (tiny,
 *      quarter-width anime-48, and kao-48 with its resize-convolution and averaged G), GPU buffers
 *      steady over 20 batch-64 steps of anime-48 and of kao-48, and its bench rows (images/s,
 *      dispatches and blocking read-backs per step) for the presets of 4.
 * Prints one JSON object per line. `node --import tsx scripts/gpu-check.ts [--quick]`; the device runs a
 * bundle of it (see docs/performance.md, "WebGPU on a real GPU").
 */
import * as tf from '@tensorflow/tfjs';
import { releaseWebGpu, selectBackend } from '../src/core/gan/backend.ts';
import { benchTraining } from '../src/core/gan/bench.ts';
import { resolveGanConfig, type PresetName } from '../src/core/gan/config.ts';
import { createGan, disposeGan } from '../src/core/gan/models.ts';
import { trainStep } from '../src/core/gan/step.ts';
import { ganGradientsOn } from '../test/helpers/gan-gradients.ts';
import { compareEngineGradients } from '../test/helpers/webgpu-gradients.ts';
import { WebGpuTrainer } from '../src/core/gan/webgpu/trainer.ts';

const quick = process.argv.includes('--quick');
const print = (value: object): void => void process.stdout.write(JSON.stringify(value) + '\n');

function relativeError(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

const backend = await selectBackend('webgpu').catch((error: unknown) => {
  print({ check: 'backend', ok: false, reason: (error as Error).message });
  process.exit(2);
});
print({ check: 'backend', ok: true, name: backend.name, reason: backend.reason });

for (const [preset, overrides, batch] of [
  ['tiny', {}, 8],
  ['anime-48', { gWidth: 0.25, dWidth: 0.25 }, 2],
] as const) {
  const config = resolveGanConfig(preset, { ...overrides, batchSize: batch });
  const gpu = await ganGradientsOn('webgpu', config, batch);
  const cpu = await ganGradientsOn('cpu', config, batch);
  print({
    check: 'gradients vs cpu',
    preset,
    overrides,
    batch,
    dRelativeError: relativeError(gpu.d, cpu.d),
    gRelativeError: relativeError(gpu.g, cpu.g),
    lossD: [gpu.lossD, cpu.lossD],
    lossG: [gpu.lossG, cpu.lossG],
  });
}

{
  await tf.setBackend('webgpu');
  const config = resolveGanConfig('anime-48', { batchSize: 64 });
  const gan = createGan(config, 1);
  const size = config.imageSize;
  const real = tf.randomUniform([64, size, size, 3], -1, 1) as tf.Tensor4D;
  const z = tf.randomNormal([64, config.zDim]) as tf.Tensor2D;
  await trainStep(gan, real, z);
  const before = tf.memory().numTensors;
  const losses = [];
  for (let i = 0; i < 3; i++) losses.push(await trainStep(gan, real, z));
  print({ check: 'no leaks', tensorsBefore: before, tensorsAfter: tf.memory().numTensors, losses });
  tf.dispose([real, z]);
  disposeGan(gan);
}

const presets: PresetName[] = quick ? ['kao-48', 'anime-48'] : ['kao-48', 'anime-48', 'dcgan-64'];
for (const preset of presets) {
  for (const gStepsPerD of preset === 'anime-48' ? [1, 2] : [undefined]) {
    const row = await benchTraining({
      backend: 'webgpu',
      preset,
      batch: 64,
      steps: quick ? 3 : 10,
      warmup: 3,
      tfjsWebGpu: true,
      ...(gStepsPerD ? { gStepsPerD } : {}),
    });
    print({ check: 'bench', ...row, stepMs: row.stepMs.map((ms) => Math.round(ms)) });
  }
}

// Kao's WebGPU engine. Its gradients are compared with the cpu backend's step.ts.
await tf.setBackend('cpu');
for (const [preset, overrides, batch] of [
  ['tiny', {}, 8],
  ['anime-48', { gWidth: 0.25, dWidth: 0.25 }, 4],
  ['kao-48', {}, 4],
] as const) {
  const config = resolveGanConfig(preset, { ...overrides, batchSize: batch, gStepsPerD: 1 });
  print({
    check: 'engine gradients vs cpu',
    preset,
    overrides,
    batch,
    ...(await compareEngineGradients(config, batch)),
  });
}

for (const preset of ['anime-48', 'kao-48'] as const) {
  const config = resolveGanConfig(preset, { batchSize: 64 });
  const gan = createGan(config, 1);
  const trainer = await WebGpuTrainer.create(gan);
  // Deterministic inputs in range; their values do not matter for a leak and speed check.
  const real = Float32Array.from({ length: 64 * 48 * 48 * 3 }, (_, i) => Math.sin(i) * 0.9);
  const z = Float32Array.from({ length: 64 * config.zDim }, (_, i) => Math.cos(i));
  await trainer.step(real, z);
  await trainer.flush();
  const before = trainer.context.liveBuffers;
  for (let i = 0; i < 20; i++) await trainer.step(real, z);
  const last = await trainer.flush();
  print({
    check: 'engine no leaks',
    preset,
    buffersBefore: before,
    buffersAfter: trainer.context.liveBuffers,
    last,
    counters: trainer.counters,
  });
  await trainer.dispose();
  disposeGan(gan);
}

for (const preset of presets) {
  for (const gStepsPerD of preset === 'anime-48' ? [1, 2] : [undefined]) {
    const row = await benchTraining({
      backend: 'webgpu',
      preset,
      batch: 64,
      steps: quick ? 20 : 50,
      warmup: 5,
      ...(gStepsPerD ? { gStepsPerD } : {}),
    });
    print({ check: 'engine bench', ...row, stepMs: row.stepMs.map((ms) => Math.round(ms * 10) / 10) });
  }
}

await releaseWebGpu();
print({ check: 'released', backend: tf.getBackend() });
