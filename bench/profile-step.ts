/**
 * Recorded measurement: where one anime-48 training step spends its time on wasm, per kernel
 * (tf.profile), with tfjs-wasm's stock kernels ("before": only the missing Conv2DBackpropFilter added)
 * and with ours ("after"). Step times are thread CPU time, which stays meaningful on a busy machine.
 *
 *   node_modules/.bin/node --import tsx bench/profile-step.ts [before|xnnpack|after] [batch] [gSteps] [fused|composed]
 *
 * `xnnpack` is "after" with the igemm switched off: our kernels on top of XNNPACK's convolution (the
 * state before the igemm); `before` switches it off too.
 *
 * `composed` takes the fused batch-norm kernel off wasm, so batch norm runs as the tf-op composition
 * it replaced (for an A/B of the element-wise work in the same conditions).
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { selectBackend } from '../src/core/gan/backend.ts';
import { resolveGanConfig } from '../src/core/gan/config.ts';
import { createGan } from '../src/core/gan/models.ts';
import { trainStep } from '../src/core/gan/step.ts';
import { trainingStepFlops } from '../src/core/gan/bench.ts';
import { BATCH_NORM_ACTIVATION, registerBatchNormKernels } from '../src/core/gan/kernels/index.ts';
import { setIgemmEnabled } from '../src/core/gan/kernels/igemm/module.ts';

const mode = process.argv[2] ?? 'after';
const batch = Number(process.argv[3] ?? 32);
const gSteps = Number(process.argv[4] ?? 1);
const batchNorm = process.argv[5] ?? 'fused';
// The stock kernels, as registered by tfjs-backend-wasm before selectBackend replaces them.
const stock = ['Conv2D', 'Conv2DBackpropInput', 'Sum', 'Mean'].map((name) => tf.getKernel(name, 'wasm')!);
await selectBackend('wasm');
if (mode === 'before') {
  for (const k of stock) {
    tf.unregisterKernel(k.kernelName, 'wasm');
    tf.registerKernel(k);
  }
}
if (mode === 'before' || mode === 'xnnpack') setIgemmEnabled(false);
if (batchNorm === 'composed') {
  registerBatchNormKernels();
  tf.unregisterKernel(BATCH_NORM_ACTIVATION, 'wasm');
}
const config = resolveGanConfig('anime-48', { batchSize: batch, gStepsPerD: gSteps });
const gan = createGan(config, 1);
const real = tf.randomUniform([batch, 48, 48, 3], -1, 1) as tf.Tensor4D;
const z = tf.randomNormal([batch, config.zDim]) as tf.Tensor2D;
const threadMs = () => {
  const u = process.threadCpuUsage();
  return (u.user + u.system) / 1000;
};
await trainStep(gan, real, z);
const cpu: number[] = [];
for (let i = 0; i < 3; i++) {
  const t0 = threadMs();
  await trainStep(gan, real, z);
  cpu.push(threadMs() - t0);
}
const stepMs = Math.min(...cpu);
const gflop = trainingStepFlops(config, batch) / 1e9;
const profile = await tf.profile(async () => {
  await trainStep(gan, real, z);
});
const byKernel = new Map<string, number>();
for (const k of profile.kernels)
  byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + (k.kernelTimeMs as number));
const total = [...byKernel.values()].reduce((a, b) => a + b, 0);
// Everything that is not a GEMM: batch norm, activations and their gradients, reductions, Adam, copies.
const gemms = ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'BatchMatMul'];
const nonGemmMs = [...byKernel].filter(([name]) => !gemms.includes(name)).reduce((a, [, ms]) => a + ms, 0);
const rows = [...byKernel]
  .sort((a, b) => b[1] - a[1])
  .map(([name, ms]) => ({ name, ms: Math.round(ms * 10) / 10, share: Math.round((1000 * ms) / total) / 10 }));
console.log(
  JSON.stringify({
    mode,
    batchNorm,
    batch,
    gStepsPerD: gSteps,
    threadCpuMsPerStep: Math.round(stepMs),
    imagesPerCoreSecond: Math.round((batch / stepMs) * 1000 * 100) / 100,
    gflopPerStep: Math.round(gflop * 10) / 10,
    gflopsPerCore: Math.round((gflop / stepMs) * 1000 * 10) / 10,
    profiledKernelMs: Math.round(total),
    nonGemmMs: Math.round(nonGemmMs),
    nonGemmShare: Math.round((1000 * nonGemmMs) / total) / 10,
    kernelShares: rows.filter((r) => r.share >= 0.1),
  }),
);
