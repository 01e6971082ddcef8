import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../../../src/core/gan/backend.ts';
import {
  conv2dBackpropFilterWasm,
  conv2dBackpropInputWasm,
  conv2dWasm,
  setGemmThresholds,
  sumWasm,
  wasmTrainingKernelNames,
} from '../../../../src/core/gan/kernels/index.ts';
import { resolveGanConfig } from '../../../../src/core/gan/config.ts';
import { igemmCallCount, setIgemmEnabled } from '../../../../src/core/gan/kernels/igemm/module.ts';
import { Rng } from '../../../../src/shared/rng.ts';
import { ganGradientsOn } from '../../../helpers/gan-gradients.ts';
import { relativeError } from '../../../helpers/tensor-compare.ts';

function randomTensor(shape: number[], seed: number): tf.Tensor {
  const rng = new Rng(seed);
  return tf.tensor(rng.normalArray(shape.reduce((a, b) => a * b, 1)), shape);
}

/** Runs `f` on the wasm backend (with our kernels) and on the cpu reference; returns both outputs. */
async function onBothBackends(
  f: () => tf.Tensor,
): Promise<{ wasm: Float32Array; cpu: Float32Array; shape: number[] }> {
  await tf.setBackend('wasm');
  const w = f();
  const wasm = w.dataSync() as Float32Array;
  const shape = w.shape;
  w.dispose();
  await tf.setBackend('cpu');
  const c = f();
  const cpu = c.dataSync() as Float32Array;
  c.dispose();
  await tf.setBackend('wasm');
  return { wasm, cpu, shape };
}

type Pad = 'same' | 'valid' | number;
// [input NHWC, filter HWIO, stride, padding]: the DCGAN layers in miniature plus awkward cases
// (odd sizes, kernel not a multiple of the stride, kernel smaller than the stride, stride 3, explicit pad).
const cases: Array<[number[], number[], number, Pad]> = [
  [[2, 8, 8, 3], [5, 5, 3, 4], 2, 'same'],
  [[2, 6, 6, 32], [5, 5, 32, 16], 2, 'same'],
  [[2, 9, 9, 3], [4, 4, 3, 4], 2, 'same'],
  [[2, 9, 7, 3], [3, 3, 3, 4], 1, 'valid'],
  [[2, 9, 9, 5], [3, 3, 5, 6], 1, 'same'],
  [[2, 12, 12, 5], [4, 4, 5, 6], 2, 'valid'],
  [[1, 7, 7, 2], [5, 5, 2, 3], 2, 'valid'],
  [[3, 6, 6, 4], [4, 4, 4, 2], 2, 1],
  [[2, 10, 10, 3], [1, 1, 3, 4], 2, 'valid'],
  [[2, 10, 11, 20], [5, 5, 20, 17], 3, 'same'],
  // Channel counts the igemm takes (multiples of 8 on the output side), odd row counts for its 1–5-row
  // tails, batches of 1–3 (the filter gradient's reduction runs over the batch), several tap and
  // column blocks (depth > 512, > 128 columns), a dilated conv and a kernel smaller than its stride.
  [[2, 8, 8, 3], [5, 5, 3, 8], 2, 'same'],
  [[3, 6, 6, 16], [5, 5, 16, 8], 2, 'same'],
  [[2, 9, 9, 8], [4, 4, 8, 16], 2, 'same'],
  [[1, 9, 7, 8], [3, 3, 8, 8], 1, 'valid'],
  [[2, 12, 12, 16], [4, 4, 16, 24], 2, 'valid'],
  [[3, 6, 6, 8], [4, 4, 8, 8], 2, 1],
  [[2, 10, 10, 8], [1, 1, 8, 8], 2, 'valid'],
  [[2, 10, 11, 24], [5, 5, 24, 16], 3, 'same'],
  [[2, 3, 3, 40], [5, 5, 40, 32], 1, 'same'],
  [[2, 6, 6, 64], [5, 5, 64, 136], 1, 'same'],
];

describe('wasm training kernels match the cpu backend', () => {
  beforeAll(async () => {
    const info = await selectBackend('wasm');
    expect(info.name).toBe('wasm');
  });

  it('selectBackend installed our kernels on wasm (not the stock ones)', () => {
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')?.kernelFunc).toBe(conv2dBackpropFilterWasm);
    expect(tf.getKernel('Conv2DBackpropInput', 'wasm')?.kernelFunc).toBe(conv2dBackpropInputWasm);
    expect(tf.getKernel('Conv2D', 'wasm')?.kernelFunc).toBe(conv2dWasm);
    expect(tf.getKernel('Sum', 'wasm')?.kernelFunc).toBe(sumWasm);
    expect(wasmTrainingKernelNames).toEqual([
      'Conv2DBackpropFilter',
      'Conv2DBackpropInput',
      'Conv2D',
      'Sum',
      'Mean',
      'BatchMatMul',
    ]);
  });

  // Every case through all three implementations: the project's igemm (where the channel counts let
  // it), XNNPACK convs (sub-pixel phases / swapped conv) and the im2col + GEMM path for tiny maps.
  for (const [path, limit, igemm] of [
    ['igemm', 0, true],
    ['conv', 0, false],
    ['gemm', Infinity, false],
  ] as const) {
    describe(`${path} path`, () => {
      beforeAll(() => {
        setGemmThresholds({ maxOutputPixels: limit, maxRows: limit });
        setIgemmEnabled(igemm);
      });
      afterAll(() => {
        setGemmThresholds({ maxOutputPixels: 16, maxRows: 1024 });
        setIgemmEnabled(true);
      });
      /** In the igemm path, a kernel whose channels allow it must really have run there. */
      const expectIgemm = async (applies: boolean, run: () => Promise<void>) => {
        const before = igemmCallCount();
        await run();
        expect(igemmCallCount() > before).toBe(igemm && applies);
      };
      for (const [xShape, wShape, stride, pad] of cases) {
        const [, , ci, co] = wShape as [number, number, number, number];
        const label = `x${JSON.stringify(xShape)} w${JSON.stringify(wShape)} s${stride} ${pad}`;
        const x = () => randomTensor(xShape, 1) as tf.Tensor4D;
        const w = () => randomTensor(wShape, 2) as tf.Tensor4D;
        // Computed, not run: running a conv here would count as an igemm call of the kernel under test.
        const outShape = () => {
          const info = tf.backend_util.computeConv2DInfo(
            xShape as [number, number, number, number],
            wShape as [number, number, number, number],
            stride,
            1,
            pad,
          );
          return [info.batchSize, info.outHeight, info.outWidth, info.outChannels];
        };

        it(`Conv2DBackpropFilter ${label}`, () =>
          expectIgemm(co % 8 === 0, async () => {
            const dyShape = outShape();
            const { wasm, cpu, shape } = await onBothBackends(() =>
              tf.tidy(
                () =>
                  tf
                    .engine()
                    .runKernel(
                      'Conv2DBackpropFilter',
                      { x: x(), dy: randomTensor(dyShape, 3) },
                      { strides: stride, pad, dataFormat: 'NHWC', filterShape: wShape },
                    ) as tf.Tensor,
              ),
            );
            expect(shape).toEqual(wShape);
            expect(relativeError(wasm, cpu)).toBeLessThan(1e-5);
          }));

        it(`Conv2D ${label}`, () =>
          expectIgemm(co % 8 === 0 && ci >= 8, async () => {
            const { wasm, cpu, shape } = await onBothBackends(() =>
              tf.tidy(() => tf.conv2d(x(), w(), stride, pad)),
            );
            expect(shape).toEqual(outShape());
            expect(relativeError(wasm, cpu)).toBeLessThan(1e-5);
          }));

        it(`Conv2DBackpropInput ${label}`, () =>
          expectIgemm(ci % 8 === 0, async () => {
            const dyShape = outShape();
            const { wasm, cpu, shape } = await onBothBackends(() =>
              tf.tidy(
                () =>
                  tf
                    .engine()
                    .runKernel(
                      'Conv2DBackpropInput',
                      { dy: randomTensor(dyShape, 3), filter: w() },
                      { strides: stride, pad, dataFormat: 'NHWC', inputShape: xShape },
                    ) as tf.Tensor,
              ),
            );
            expect(shape).toEqual(xShape);
            expect(relativeError(wasm, cpu)).toBeLessThan(1e-5);
          }));
      }
    });
  }

  for (const [shape, axes, keepDims] of [
    [[4, 5, 6, 7], [0, 1, 2], false],
    [[4, 5, 6, 7], [0, 1, 2], true],
    [[9, 3], [0], false],
    [[4, 5, 6, 7], [1, 2], false],
    [[4, 5, 6, 7], [3], true],
    [[4, 5, 6, 7], undefined, false],
  ] as Array<[number[], number[] | undefined, boolean]>) {
    it(`Sum and Mean over ${JSON.stringify(axes ?? 'all')} of ${JSON.stringify(shape)}${keepDims ? ' (keepDims)' : ''}`, async () => {
      const x = () => randomTensor(shape, 7);
      for (const op of [tf.sum, tf.mean]) {
        const {
          wasm,
          cpu,
          shape: outShape,
        } = await onBothBackends(() => tf.tidy(() => op(x(), axes, keepDims)));
        expect(outShape).toEqual(tf.tidy(() => op(tf.zeros(shape), axes, keepDims).shape));
        expect(relativeError(wasm, cpu)).toBeLessThan(1e-5);
      }
    });
  }

  for (const [aShape, bShape, transposeA, transposeB] of [
    [[7, 5], [5, 3], false, false],
    [[5, 7], [5, 3], true, false],
    [[7, 5], [3, 5], false, true],
    [[5, 7], [3, 5], true, true],
    [[1, 5, 7], [1, 3, 5], true, true],
    [[2, 5, 7], [2, 5, 3], true, false],
  ] as Array<[number[], number[], boolean, boolean]>) {
    it(`BatchMatMul ${JSON.stringify(aShape)}${transposeA ? 'ᵀ' : ''} × ${JSON.stringify(bShape)}${transposeB ? 'ᵀ' : ''}`, async () => {
      const { wasm, cpu, shape } = await onBothBackends(() =>
        tf.tidy(() => tf.matMul(randomTensor(aShape, 8), randomTensor(bShape, 9), transposeA, transposeB)),
      );
      expect(shape).toEqual(
        tf.tidy(() => tf.matMul(tf.zeros(aShape), tf.zeros(bShape), transposeA, transposeB).shape),
      );
      expect(relativeError(wasm, cpu)).toBeLessThan(1e-5);
    });
  }

  it('conv2dTranspose (the generator layer) matches, forward and both gradients', async () => {
    const run = () =>
      tf.tidy(() => {
        const x = randomTensor([2, 3, 3, 16], 4) as tf.Tensor4D;
        const w = randomTensor([5, 5, 8, 16], 5) as tf.Tensor4D;
        const f = (a: tf.Tensor, b: tf.Tensor) =>
          tf.conv2dTranspose(a as tf.Tensor4D, b as tf.Tensor4D, [2, 6, 6, 8], 2, 'same');
        const y = f(x, w);
        const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => f(a, b).square().sum())([x, w]);
        return tf.concat([y.flatten(), dx!.flatten(), dw!.flatten()]);
      });
    const { wasm, cpu } = await onBothBackends(run);
    expect(relativeError(wasm, cpu)).toBeLessThan(1e-5);
  });

  it('leaks no wasm memory', async () => {
    await tf.setBackend('wasm');
    const x = randomTensor([2, 8, 8, 3], 1);
    const dy = randomTensor([2, 4, 4, 4], 3);
    const w = randomTensor([5, 5, 3, 4], 2);
    const run = () => {
      tf.engine().runKernel(
        'Conv2DBackpropFilter',
        { x, dy },
        { strides: 2, pad: 'same', dataFormat: 'NHWC', filterShape: [5, 5, 3, 4] },
      );
      tf.engine().runKernel(
        'Conv2DBackpropInput',
        { dy, filter: w },
        { strides: 2, pad: 'same', dataFormat: 'NHWC', inputShape: [2, 8, 8, 3] },
      );
    };
    tf.tidy(run);
    const before = tf.engine().backend.numDataIds();
    tf.tidy(run);
    expect(tf.engine().backend.numDataIds()).toBe(before);
    tf.dispose([x, dy, w]);
  });

  it('a whole DCGAN gradient step runs on wasm and matches the cpu backend', async () => {
    const config = resolveGanConfig('tiny', { batchSize: 4, gWidth: 0.5, dWidth: 0.5 });
    const wasm = await ganGradientsOn('wasm', config, 4);
    const cpu = await ganGradientsOn('cpu', config, 4);
    await tf.setBackend('wasm');
    expect(wasm.lossD).toBeCloseTo(cpu.lossD, 5);
    expect(wasm.lossG).toBeCloseTo(cpu.lossG, 5);
    expect(relativeError(wasm.d, cpu.d)).toBeLessThan(1e-4);
    expect(relativeError(wasm.g, cpu.g)).toBeLessThan(1e-4);
  });
});
