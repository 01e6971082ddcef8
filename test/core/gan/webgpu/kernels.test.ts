/**
 * Every WGSL kernel of the WebGPU engine (src/core/gan/webgpu/) against the tfjs cpu backend, at small
 * shapes on SwiftShader (a CPU Vulkan driver from Debian's chromium; KAO_WEBGPU_SOFTWARE=1 admits it).
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Adam } from '../../../../src/core/gan/adam.ts';
import { resolveGanConfig } from '../../../../src/core/gan/config.ts';
import { assignParams, createGan, disposeGan, readParamRecord } from '../../../../src/core/gan/models.ts';
import { updateEma } from '../../../../src/core/gan/recipe/ema.ts';
import { resizeConvKernel, resizeConv2xReference } from '../../../../src/core/gan/recipe/resize-conv.ts';
import { sigmoidCrossEntropy } from '../../../../src/core/gan/step.ts';
import { adamDispatch } from '../../../../src/core/gan/webgpu/adam.ts';
import { reduceDispatch } from '../../../../src/core/gan/webgpu/channel-reduce.ts';
import {
  encodeDispatches,
  GpuContext,
  type Dispatch,
  type GpuBuffer,
} from '../../../../src/core/gan/webgpu/context.ts';
import { convDispatch, convGeometry, type ConvGeometry } from '../../../../src/core/gan/webgpu/conv-gemm.ts';
import { emaDispatch, emaFactors } from '../../../../src/core/gan/webgpu/ema.ts';
import { headDispatch, headGradDispatch } from '../../../../src/core/gan/webgpu/head.ts';
import type { Activation, BatchNormRef, Operand } from '../../../../src/core/gan/webgpu/operand.ts';
import { resizeKernelDispatch, type ResizeLayer } from '../../../../src/core/gan/webgpu/resize-conv.ts';
import { Rng } from '../../../../src/shared/rng.ts';
import { relativeError } from '../../../helpers/tensor-compare.ts';
import { useSoftwareWebGpu } from '../../../helpers/webgpu.ts';

const skip = useSoftwareWebGpu();
if (skip) console.warn(`WebGPU kernel tests skipped: ${skip}`);

// SwiftShader compiles the GEMM pipeline for seconds, and CI shares its two cores between test files.
describe.skipIf(skip)('WebGPU engine kernels vs the tfjs cpu backend', { timeout: 180_000 }, () => {
  let ctx: GpuContext;
  const rng = new Rng(5);
  const random = (n: number, scale = 1) => new Float32Array(n).map(() => (rng.next() * 2 - 1) * scale);

  beforeAll(async () => {
    await tf.setBackend('cpu');
    ctx = await GpuContext.create();
  });
  afterAll(() => ctx?.destroy());

  const buffer = (name: string, data: Float32Array | number): GpuBuffer => {
    const b = ctx.storage(name, typeof data === 'number' ? data : data.length);
    if (typeof data !== 'number') ctx.write(b, data);
    return b;
  };
  const run = async (build: () => Dispatch[]) => {
    const dispatches = await ctx.validated(build);
    const encoder = ctx.device.createCommandEncoder();
    encodeDispatches(encoder, dispatches);
    ctx.device.queue.submit([encoder.finish()]);
  };
  const shared = (params: GpuBuffer, stats?: GpuBuffer) => ({
    params,
    stats: stats ?? buffer('stats', 1),
    dummy: buffer('dummy', 1),
  });

  // k = 4 (tiny, dcgan-64: asymmetric 'same' padding) and k = 5 (anime-48), odd sizes for the borders;
  // channel counts past one 64-wide tile and K past several 16-deep steps.
  const cases: Array<[string, number, number, number, number, number]> = [
    ['k4 s2, 9×9×5 → 5×5×6', 2, 9, 5, 6, 4],
    ['k5 s2, 12×12×7 → 6×6×70', 3, 12, 7, 70, 5],
  ];

  for (const [name, batch, size, inC, outC, k] of cases) {
    const g: ConvGeometry = convGeometry(batch, size, inC, outC, k, 2);
    const xShape: [number, number, number, number] = [batch, size, size, inC];
    const yShape: [number, number, number, number] = [batch, g.outH, g.outW, outC];

    it(`conv forward, ${name}`, async () => {
      const x = random(batch * size * size * inC);
      const w = random(k * k * inC * outC, 0.2);
      const xb = buffer('x', x);
      const params = buffer('w', new Float32Array([...new Float32Array(3), ...w]));
      const out = buffer(
        'y',
        yShape.reduce((a, b) => a * b),
      );
      await run(() => [
        convDispatch(
          ctx,
          'fwd',
          {
            mode: 'forward',
            geometry: g,
            a: { kind: 'plain', tensor: xb },
            b: { kind: 'plain', tensor: params, offset: 3 },
            out,
          },
          shared(params),
        ),
      ]);
      const expected = tf.conv2d(tf.tensor4d(x, xShape), tf.tensor4d(w, [k, k, inC, outC]), 2, 'same');
      expect(relativeError(await ctx.read(out), expected.dataSync())).toBeLessThan(1e-5);
    });

    it(`conv input gradient (transposed conv), ${name}`, async () => {
      const dy = random(yShape.reduce((a, b) => a * b));
      const w = random(k * k * inC * outC, 0.2);
      const params = buffer('w', w);
      const out = buffer('dx', batch * size * size * inC);
      await run(() => [
        convDispatch(
          ctx,
          'dx',
          {
            mode: 'inputGrad',
            geometry: g,
            a: { kind: 'plain', tensor: buffer('dy', dy) },
            b: { kind: 'plain', tensor: params },
            out,
          },
          shared(params),
        ),
      ]);
      const expected = tf.conv2dTranspose(
        tf.tensor4d(dy, yShape),
        tf.tensor4d(w, [k, k, inC, outC]),
        xShape,
        2,
        'same',
      );
      expect(relativeError(await ctx.read(out), expected.dataSync())).toBeLessThan(1e-5);
    });

    it(`conv filter gradient, ${name}`, async () => {
      const x = random(batch * size * size * inC);
      const dy = random(yShape.reduce((a, b) => a * b));
      const out = buffer('dw', k * k * inC * outC + 2);
      const params = buffer('p', 1);
      await run(() => [
        convDispatch(
          ctx,
          'dw',
          {
            mode: 'filterGrad',
            geometry: g,
            a: { kind: 'plain', tensor: buffer('x', x) },
            b: { kind: 'plain', tensor: buffer('dy', dy) },
            out,
            outOffset: 2,
          },
          shared(params),
        ),
      ]);
      const xT = tf.tensor4d(x, xShape);
      const dyT = tf.tensor4d(dy, yShape);
      const expected = tf.grad((w: tf.Tensor) =>
        tf
          .conv2d(xT, w as tf.Tensor4D, 2, 'same')
          .mul(dyT)
          .sum(),
      )(tf.zeros([k, k, inC, outC]) as tf.Tensor4D);
      expect(relativeError((await ctx.read(out)).subarray(2), expected.dataSync())).toBeLessThan(1e-5);
    });
  }

  it('conv forward epilogue: bias + LeakyReLU, and tanh', async () => {
    const g = convGeometry(2, 8, 3, 5, 4, 2);
    const x = random(2 * 8 * 8 * 3);
    const w = random(4 * 4 * 3 * 5, 0.3);
    const bias = random(5, 0.5);
    const params = buffer('p', new Float32Array([...w, ...bias]));
    for (const activation of [{ leak: 0.2 }, 'tanh'] as Activation[]) {
      const out = buffer('y', 2 * 4 * 4 * 5);
      await run(() => [
        convDispatch(
          ctx,
          'fwd',
          {
            mode: 'forward',
            geometry: g,
            a: { kind: 'plain', tensor: buffer('x', x) },
            b: { kind: 'plain', tensor: params },
            out,
            bias: { buffer: params, offset: w.length },
            activation,
          },
          shared(params),
        ),
      ]);
      const z = tf
        .conv2d(tf.tensor4d(x, [2, 8, 8, 3]), tf.tensor4d(w, [4, 4, 3, 5]), 2, 'same')
        .add(tf.tensor1d(bias));
      const expected = activation === 'tanh' ? tf.tanh(z) : tf.leakyRelu(z, 0.2);
      expect(relativeError(await ctx.read(out), expected.dataSync())).toBeLessThan(1e-5);
    }
  });

  /**
   * Batch norm over two groups (D's fake and real halves), through the engine's kernels: moments, then
   * the fused forward transform (read out through an identity 1×1 conv), the gradient sums and the fused
   * input gradient — against tf.moments and tf.grad of the same composition per group.
   */
  it('batch norm moments, fused normalise + activation, gradient sums and input gradient (2 groups)', async () => {
    const [batch, hw, C, groups] = [4, 3, 5, 2];
    const n = batch * hw * hw * C;
    const raw = random(n, 2).map((v, i) => v + (i % C)); // per-channel offsets
    const dAct = random(n);
    const gamma = random(C, 0.3).map((v) => v + 1);
    const beta = random(C, 0.2);
    const identity = new Float32Array(C * C).map((_, i) => (i % (C + 1) === 0 ? 1 : 0));
    const params = buffer('p', new Float32Array([...gamma, ...beta, ...identity]));
    const stats = buffer('stats', 8 * C);
    const rawB = buffer('raw', raw);
    const gradB = buffer('dAct', dAct);
    const grads = buffer('grads', 2 * C);
    const bn: BatchNormRef = {
      channels: C,
      groupSize: n / groups,
      groups,
      stats,
      statsOffset: 0,
      sumsOffset: 4 * C,
      params,
      gammaOffset: 0,
      betaOffset: C,
      epsilon: 1e-5,
      activation: { leak: 0.2 },
    };
    const dense: ConvGeometry = {
      batch: batch * hw * hw,
      inH: 1,
      inW: 1,
      inC: C,
      outH: 1,
      outW: 1,
      outC: C,
      kernel: 1,
      stride: 1,
      padTop: 0,
      padLeft: 0,
    };
    const y = buffer('y', n);
    const dx = buffer('dx', n);
    const through = (a: Operand, out: GpuBuffer) =>
      convDispatch(
        ctx,
        'identity',
        { mode: 'forward', geometry: dense, a, b: { kind: 'plain', tensor: params, offset: 2 * C }, out },
        { params, stats, dummy: buffer('dummy', 1) },
      );
    await run(() => [
      reduceDispatch(ctx, 'moments', { kind: 'moments', raw: rawB, bn }),
      through({ kind: 'bnAct', raw: rawB, bn }, y),
      reduceDispatch(ctx, 'sums', {
        kind: 'bnGrad',
        raw: rawB,
        grad: gradB,
        bn,
        grads: { buffer: grads, gammaOffset: 0, betaOffset: C },
      }),
      through({ kind: 'bnGrad', grad: gradB, raw: rawB, bn }, dx),
    ]);

    const per = n / groups;
    const rawT = tf.tensor2d(raw, [n / C, C]);
    const dActT = tf.tensor2d(dAct, [n / C, C]);
    const gammaT = tf.tensor1d(gamma);
    const betaT = tf.tensor1d(beta);
    const half = (t: tf.Tensor2D, i: number) => t.slice([(i * per) / C, 0], [per / C, C]);
    const f = (x: tf.Tensor2D, gm: tf.Tensor1D, bt: tf.Tensor1D) => {
      const m = tf.moments(x, 0);
      return tf.leakyRelu(
        x
          .sub(m.mean)
          .mul(tf.rsqrt(m.variance.add(1e-5)))
          .mul(gm)
          .add(bt),
        0.2,
      );
    };
    const statsData = await ctx.read(stats);
    const expectY: number[] = [];
    const expectDx: number[] = [];
    const dGamma = tf.zeros([C]) as tf.Tensor1D;
    let dg = dGamma;
    let db = tf.zeros([C]) as tf.Tensor1D;
    for (let i = 0; i < groups; i++) {
      const x = half(rawT, i);
      const m = tf.moments(x, 0);
      expect(relativeError(statsData.subarray(2 * C * i, 2 * C * i + C), m.mean.dataSync())).toBeLessThan(
        1e-5,
      );
      expect(
        relativeError(statsData.subarray(2 * C * i + C, 2 * C * (i + 1)), m.variance.dataSync()),
      ).toBeLessThan(1e-5);
      expectY.push(...f(x, gammaT, betaT).dataSync());
      const [gx, gg, gb] = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
        f(a as tf.Tensor2D, b as tf.Tensor1D, c as tf.Tensor1D)
          .mul(half(dActT, i))
          .sum(),
      )([x, gammaT, betaT]);
      expectDx.push(...gx!.dataSync());
      dg = dg.add(gg!);
      db = db.add(gb!);
    }
    expect(relativeError(await ctx.read(y), expectY)).toBeLessThan(1e-5);
    expect(relativeError(await ctx.read(dx), expectDx)).toBeLessThan(1e-5);
    const gradData = await ctx.read(grads);
    expect(relativeError(gradData.subarray(0, C), dg.dataSync())).toBeLessThan(1e-5);
    expect(relativeError(gradData.subarray(C), db.dataSync())).toBeLessThan(1e-5);
  });

  it('activation gradient operand (tanh, from the stored output) and a bias-gradient sum', async () => {
    const [rows, C] = [37, 3];
    const yv = random(rows * C, 0.9);
    const dy = random(rows * C);
    const out = buffer('db', 4);
    await run(() => [
      reduceDispatch(ctx, 'sum', {
        kind: 'sum',
        input: { kind: 'actGrad', grad: buffer('dy', dy), output: buffer('y', yv), activation: 'tanh' },
        channels: C,
        rows,
        out,
        outOffset: 1,
      }),
    ]);
    const expected = tf
      .tensor2d(dy, [rows, C])
      .mul(tf.scalar(1).sub(tf.tensor2d(yv, [rows, C]).square()))
      .sum(0);
    expect(relativeError((await ctx.read(out)).subarray(1), expected.dataSync())).toBeLessThan(1e-5);
  });

  it('D head: logits, sigmoid cross-entropy per group, dlogit, dflat and the head weight gradients', async () => {
    const [batch, F] = [6, 300];
    const flat = random(batch * F);
    const w = random(F, 0.1);
    const b = 0.3;
    const params = buffer('p', new Float32Array([...w, b]));
    const scratch = buffer('scratch', 3 * batch);
    const dflat = buffer('dflat', batch * F);
    const grads = buffer('grads', F + 1);
    const flatB = buffer('flat', flat);
    const labels = [0, 0.9];
    await run(() => [
      headDispatch(ctx, 'head', {
        flat: { kind: 'plain', tensor: flatB },
        batch,
        features: F,
        params,
        weightOffset: 0,
        biasOffset: F,
        labels,
        scratch,
        metricsOffset: 0,
        dlogitOffset: 2 * batch,
        dflat,
      }),
      headGradDispatch(ctx, 'headGrad', {
        flat: { kind: 'plain', tensor: flatB },
        batch,
        features: F,
        scratch,
        dlogitOffset: 2 * batch,
        grads,
        weightGradOffset: 0,
        biasGradOffset: F,
      }),
    ]);
    const flatT = tf.tensor2d(flat, [batch, F]);
    const loss = (x: tf.Tensor, wt: tf.Tensor, bt: tf.Tensor) => {
      const logits = tf.matMul(x as tf.Tensor2D, wt as tf.Tensor2D).add(bt);
      return sigmoidCrossEntropy(logits.slice([0, 0], [3, 1]), 0).add(
        sigmoidCrossEntropy(logits.slice([3, 0], [3, 1]), 0.9),
      );
    };
    const wT = tf.tensor2d(w, [F, 1]);
    const bT = tf.tensor1d([b]);
    const [gx, gw, gb] = tf.grads(loss)([flatT, wT, bT]);
    const s = await ctx.read(scratch);
    const lossSum = s.subarray(0, batch).reduce((a, v) => a + v, 0) / 3;
    expect(Math.abs(lossSum - loss(flatT, wT, bT).dataSync()[0]!)).toBeLessThan(1e-5);
    const probs = tf.sigmoid(tf.matMul(flatT, wT).add(bT)).dataSync();
    expect(relativeError(s.subarray(batch, 2 * batch), probs)).toBeLessThan(1e-5);
    expect(relativeError(await ctx.read(dflat), gx!.dataSync())).toBeLessThan(1e-5);
    const g = await ctx.read(grads);
    expect(relativeError(g.subarray(0, F), gw!.dataSync())).toBeLessThan(1e-5);
    expect(relativeError(g.subarray(F), gb!.dataSync())).toBeLessThan(1e-5);
  });

  /**
   * Resize-convolution: two layers in one derive dispatch (at offsets inside a parameter buffer), each
   * 4×4 kernel against recipe/resize-conv.ts' resizeConvKernel, and the engine's transposed convolution
   * with it against the literal nearest ×2 + 3×3 convolution.
   */
  const resizeShapes = [
    { outC: 5, inC: 4, size: 3 },
    { outC: 3, inC: 6, size: 4 },
  ];
  const resizeLayers = (pad: number): ResizeLayer[] => {
    let o3 = pad;
    let o4 = 0;
    return resizeShapes.map(({ outC, inC }) => {
      const layer = { offset3: o3, offset4: o4, channels: outC * inC };
      o3 += 9 * outC * inC + pad;
      o4 += 16 * outC * inC;
      return layer;
    });
  };

  it('resize-convolution: derived 4×4 kernels, and the transposed conv with them = nearest ×2 + 3×3 conv', async () => {
    const layers = resizeLayers(3);
    const kernels = resizeShapes.map(({ outC, inC }) => random(9 * outC * inC, 0.3));
    const small = new Float32Array(layers.at(-1)!.offset3 + kernels.at(-1)!.length + 3);
    layers.forEach((l, i) => small.set(kernels[i]!, l.offset3));
    const params = buffer('params', small);
    const large = buffer(
      'kernels4',
      layers.reduce((s, l) => s + 16 * l.channels, 0),
    );
    await run(() => [resizeKernelDispatch(ctx, 'derive', { mode: 'derive', layers, small: params, large })]);
    const derived = await ctx.read(large);
    for (const [i, { outC, inC, size }] of resizeShapes.entries()) {
      const k3 = tf.tensor4d(kernels[i]!, [3, 3, outC, inC]);
      const w4 = derived.subarray(layers[i]!.offset4, layers[i]!.offset4 + 16 * outC * inC);
      // A has 0/1 entries and every sum has at most two terms: equal to the bit.
      expect([...w4], `layer ${i}`).toEqual([...resizeConvKernel(k3).dataSync()]);

      // G's layer as the engine runs it: the input gradient of the conv from its 2× output to its input.
      const batch = 2;
      const x = random(batch * size * size * inC);
      const out = buffer('y', batch * 4 * size * size * outC);
      await run(() => [
        convDispatch(
          ctx,
          'up',
          {
            mode: 'inputGrad',
            geometry: convGeometry(batch, 2 * size, outC, inC, 4, 2),
            a: { kind: 'plain', tensor: buffer('x', x) },
            b: { kind: 'plain', tensor: large, offset: layers[i]!.offset4 },
            out,
          },
          shared(params),
        ),
      ]);
      const expected = resizeConv2xReference(tf.tensor4d(x, [batch, size, size, inC]), k3);
      expect(relativeError(await ctx.read(out), expected.dataSync()), `layer ${i}`).toBeLessThan(1e-5);
    }
  });

  it('resize-convolution: the 4×4 filter gradient folded into the 3×3 one = the gradient of nearest ×2 + 3×3 conv', async () => {
    const layers = resizeLayers(2);
    const grads = buffer('grads', layers.at(-1)!.offset3 + 9 * layers.at(-1)!.channels + 2);
    const large = buffer(
      'kernels4.grads',
      layers.reduce((s, l) => s + 16 * l.channels, 0),
    );
    const batch = 2;
    const inputs = resizeShapes.map(({ outC, inC, size }) => ({
      x: random(batch * size * size * inC),
      dy: random(batch * 4 * size * size * outC),
    }));
    await run(() => [
      // G's filter gradient as the engine computes it: the conv's filterGrad with x = dy of G's output.
      ...resizeShapes.map(({ outC, inC, size }, i) =>
        convDispatch(
          ctx,
          `dw${i}`,
          {
            mode: 'filterGrad',
            geometry: convGeometry(batch, 2 * size, outC, inC, 4, 2),
            a: { kind: 'plain', tensor: buffer('dy', inputs[i]!.dy) },
            b: { kind: 'plain', tensor: buffer('x', inputs[i]!.x) },
            out: large,
            outOffset: layers[i]!.offset4,
          },
          shared(buffer('p', 1)),
        ),
      ),
      resizeKernelDispatch(ctx, 'fold', { mode: 'fold', layers, small: grads, large }),
    ]);
    const folded = await ctx.read(grads);
    const fourByFour = await ctx.read(large);
    for (const [i, { outC, inC, size }] of resizeShapes.entries()) {
      const { offset3, offset4 } = layers[i]!;
      const n = outC * inC;
      const x = tf.tensor4d(inputs[i]!.x, [batch, size, size, inC]);
      const dy = tf.tensor4d(inputs[i]!.dy, [batch, 2 * size, 2 * size, outC]);
      const gradOf = (f: (k: tf.Tensor4D) => tf.Tensor) =>
        tf.grad((k: tf.Tensor) => f(k as tf.Tensor4D))(tf.zeros([3, 3, outC, inC]) as tf.Tensor4D);
      // The whole chain, and the fold alone (the transpose of derive) from the engine's own 4×4 gradient.
      const chain = gradOf((k) => resizeConv2xReference(x, k).mul(dy).sum());
      const dW = tf.tensor4d(fourByFour.slice(offset4, offset4 + 16 * n), [4, 4, outC, inC]);
      const transpose = gradOf((k) => resizeConvKernel(k).mul(dW).sum());
      const mine = folded.subarray(offset3, offset3 + 9 * n);
      expect(relativeError(mine, chain.dataSync()), `layer ${i}`).toBeLessThan(1e-5);
      expect([...mine], `layer ${i}`).toEqual([...transpose.dataSync()]);
    }
    // Nothing outside the layers' 3×3 gradients was written.
    const outside = folded.filter(
      (_, e) => !layers.some((l) => e >= l.offset3 && e < l.offset3 + 9 * l.channels),
    );
    expect([...outside]).toEqual(new Array(6).fill(0));
  });

  it('weight average after G updates (warm-up and full decay) = recipe/ema.ts updateEma', async () => {
    const config = resolveGanConfig('tiny', { gWidth: 0.25, dWidth: 0.25, emaDecay: 0.999 });
    const gan = createGan(config, 8);
    const flat = async (set: Map<string, tf.Variable>) =>
      Float32Array.from(Object.values(await readParamRecord(set)).flatMap((r) => [...r.data]));
    // Weights that differ from the average (at creation both are the initial weights).
    const record = await readParamRecord(gan.g);
    for (const value of Object.values(record)) value.data = random(value.data.length, 0.5);
    assignParams(gan.g, record);
    const weights = buffer('weights', await flat(gan.g));
    const average = buffer('average', await flat(gan.ema!.g));
    // Two updates from different slots of `hyper`: early (d ramped up to 4/13) and at the full decay.
    const updates = [3, 5000];
    const hyper = buffer('hyper', new Float32Array(updates.flatMap((t) => emaFactors(config.emaDecay, t))));
    for (const [i, t] of updates.entries()) {
      await run(() => [
        emaDispatch(ctx, 'ema', { average, weights, count: weights.size, hyper, slot: 2 * i }),
      ]);
      gan.optG.step = t;
      updateEma(gan);
      expect(relativeError(await ctx.read(average), await flat(gan.ema!.g)), `update ${t}`).toBeLessThan(
        1e-5,
      );
    }
    disposeGan(gan);
  });

  it('Adam over a flat buffer (two updates) and the BN running statistics ride-along', async () => {
    const n = 700;
    const p0 = random(n, 0.1);
    const grad1 = random(n, 0.01);
    const grad2 = random(n, 0.01);
    const params = buffer('p', p0);
    const grads = buffer('g', grad1);
    const m = buffer('m', n);
    const v = buffer('v', n);
    const hyper = buffer('hyper', 2);
    const running = buffer('running', new Float32Array([0, 0, 1, 1]));
    const batchStats = buffer('batch', new Float32Array([9, 9, 0.5, -0.5, 2, 3]));
    const options = { learningRate: 2e-4, beta1: 0.5, beta2: 0.999 };
    const lrT = (t: number) =>
      (options.learningRate * Math.sqrt(1 - options.beta2 ** t)) / (1 - options.beta1 ** t);
    ctx.write(hyper, new Float32Array([lrT(1), lrT(2)]));
    const step = (slot: number) =>
      adamDispatch(ctx, 'adam', {
        params,
        grads,
        m,
        v,
        count: n,
        beta1: 0.5,
        beta2: 0.999,
        epsilon: 1e-8,
        hyper,
        lrSlot: slot,
        runningStats: { running, batch: batchStats, batchOffset: 2, count: 4, momentum: 0.1 },
      });
    await run(() => [step(0)]);
    ctx.write(grads, grad2);
    await run(() => [step(1)]);

    const variable = tf.variable(tf.tensor1d(p0));
    const adam = new Adam(new Map([['p', variable]]), options);
    for (const g of [grad1, grad2]) adam.apply(new Map([['p', tf.tensor1d(g)]]));
    expect(relativeError(await ctx.read(params), variable.dataSync())).toBeLessThan(1e-6);
    expect(relativeError(await ctx.read(m), adam.m.get('p')!.dataSync())).toBeLessThan(1e-6);
    expect(relativeError(await ctx.read(v), adam.v.get('p')!.dataSync())).toBeLessThan(1e-6);
    // Two updates of running = running·0.9 + batch·0.1 from [0, 0, 1, 1] with batch [0.5, −0.5, 2, 3].
    const once = [0.05, -0.05, 1.1, 1.2];
    const twice = once.map((r, i) => r * 0.9 + [0.5, -0.5, 2, 3][i]! * 0.1);
    expect(relativeError(await ctx.read(running), twice)).toBeLessThan(1e-6);
    adam.dispose();
    variable.dispose();
  });
});
