/**
 * Recorded measurement: each convolution of the anime-48 DCGAN at batch 32 (one worker's slice), forward
 * and both gradients, on the project's igemm vs tfjs-wasm's stock XNNPACK path (our sub-pixel and
 * swapped-conv kernels on top of it). Thread CPU time, median of 5; "in igemm" is the time inside the
 * wasm call, the rest is building indirection tables and packing operands in JavaScript.
 *
 *   node_modules/.bin/node --import tsx bench/conv-layers.ts
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/core/gan/backend.ts';
import { igemmFor, igemmMilliseconds, setIgemmEnabled } from '../src/core/gan/kernels/igemm/module.ts';

await selectBackend('wasm');
const batch = 32;
// The discriminator's stride-2 5×5 convs; the generator's transposed convs are the same shapes with
// the roles swapped (its forward pass is Conv2DBackpropInput, its input gradient Conv2D).
type Shape4 = [number, number, number, number];
const layers: Array<[string, Shape4, Shape4]> = [
  ['48×48×3 → 24×24×64', [batch, 48, 48, 3], [5, 5, 3, 64]],
  ['24×24×64 → 12×12×128', [batch, 24, 24, 64], [5, 5, 64, 128]],
  ['12×12×128 → 6×6×256', [batch, 12, 12, 128], [5, 5, 128, 256]],
  ['6×6×256 → 3×3×512', [batch, 6, 6, 256], [5, 5, 256, 512]],
];

function measure(f: () => tf.Tensor): { ms: number; inIgemm: number } {
  const runs: Array<{ ms: number; inIgemm: number }> = [];
  for (let i = 0; i < 5; i++) {
    const before = igemmMilliseconds();
    const start = process.threadCpuUsage();
    const y = f();
    y.dataSync();
    const used = process.threadCpuUsage(start);
    y.dispose();
    runs.push({ ms: (used.user + used.system) / 1000, inIgemm: igemmMilliseconds() - before });
  }
  return runs.sort((a, b) => a.ms - b.ms)[2]!;
}

console.log(`igemm variant: ${igemmFor(tf.backend())?.variant ?? 'unavailable'}`);
console.log('| layer | op | XNNPACK path ms (GFLOP/s) | igemm ms (GFLOP/s) | of which in igemm | speed-up |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const [name, xShape, wShape] of layers) {
  const x = tf.randomNormal(xShape) as tf.Tensor4D;
  const w = tf.randomNormal(wShape) as tf.Tensor4D;
  const y = tf.conv2d(x, w, 2, 'same');
  const dy = tf.randomNormal(y.shape);
  const flops = 2 * y.size * wShape[0]! * wShape[1]! * wShape[2]!;
  const attrs = { strides: 2, pad: 'same', dataFormat: 'NHWC' } as const;
  const ops: Array<[string, () => tf.Tensor]> = [
    ['Conv2D', () => tf.conv2d(x, w, 2, 'same')],
    [
      'Conv2DBackpropInput',
      () =>
        tf
          .engine()
          .runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: xShape }) as tf.Tensor,
    ],
    [
      'Conv2DBackpropFilter',
      () =>
        tf
          .engine()
          .runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: wShape }) as tf.Tensor,
    ],
  ];
  for (const [op, f] of ops) {
    setIgemmEnabled(false);
    const stock = measure(f);
    setIgemmEnabled(true);
    const ours = measure(f);
    const rate = (ms: number) => `${ms.toFixed(0)} (${(flops / ms / 1e6).toFixed(0)})`;
    const inside = ours.inIgemm > 0 ? `${ours.inIgemm.toFixed(0)} ms` : 'not used';
    console.log(
      `| ${name} | ${op} | ${rate(stock.ms)} | ${rate(ours.ms)} | ${inside} | ${(stock.ms / ours.ms).toFixed(2)}× |`,
    );
  }
  tf.dispose([x, w, y, dy]);
}
