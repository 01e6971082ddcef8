/**
 * The DCGAN training step as lists of dispatches over buffers allocated once: every layer is a
 * convolution kernel plus (for batch norm) one per-channel reduction; normalisation, activations and
 * their gradients are fused into the kernels that read them (operand.ts). A step is
 *
 *   D update    G forward · D forward on [fake | real] (BN statistics per half) + head/loss ·
 *               D backward (weights) · Adam(D)
 *   G update k  (G forward unless k = 0: the D update's fakes are the same tensor) · D forward on fake
 *               + head/loss (label 1) · D backward (input only) · G backward · Adam(G) + BN running stats
 *               · the weight average (emaDecay)
 *
 * which matches step.ts's trainStep (D sees the fakes and the reals as two separately normalised
 * batches; G updates reuse z). Adding a layer kind means a new operand transform or kernel file and a
 * few lines here.
 *
 * With `upsample: 'resize'` a G forward starts by deriving the 4×4 kernels of its upsampling layers from
 * their 3×3 parameters, and a G backward ends by folding the 4×4 filter gradients back (resize-conv.ts).
 */
import type { GanConfig } from '../config.ts';
import {
  discriminatorParamSpecs,
  generatorParamSpecs,
  generatorStatSpecs,
  type ParamSpec,
} from '../models.ts';
import { adamDispatch } from './adam.ts';
import { reduceDispatch } from './channel-reduce.ts';
import type { Dispatch, GpuBuffer, GpuContext } from './context.ts';
import { convDispatch, convGeometry, type ConvGeometry, type ConvKernel } from './conv-gemm.ts';
import { headDispatch, headGradDispatch } from './head.ts';
import { emaDispatch } from './ema.ts';
import type { Activation, BatchNormRef, Operand } from './operand.ts';
import { resizeKernelDispatch, type ResizeLayer } from './resize-conv.ts';

/** Parameter names, shapes and offsets in a flat buffer (the order of models.ts' specs). */
export interface FlatLayout {
  specs: ParamSpec[];
  offsets: Map<string, number>;
  total: number;
}

export function flatLayout(specs: ParamSpec[]): FlatLayout {
  const offsets = new Map<string, number>();
  let total = 0;
  for (const spec of specs) {
    offsets.set(spec.name, total);
    total += spec.shape.reduce((a, b) => a * b, 1);
  }
  return { specs, offsets, total };
}

function at(layout: FlatLayout, name: string): number {
  const offset = layout.offsets.get(name);
  if (offset === undefined) throw new Error(`no parameter ${name}`);
  return offset;
}

/** The buffers of one model's parameters and optimizer. */
export interface ModelBuffers {
  layout: FlatLayout;
  params: GpuBuffer;
  grads: GpuBuffer;
  m: GpuBuffer;
  v: GpuBuffer;
}

export interface Network {
  config: GanConfig;
  batch: number;
  g: ModelBuffers;
  d: ModelBuffers;
  /** G's BN running statistics, in generatorStatSpecs order. */
  running: GpuBuffer;
  statLayout: FlatLayout;
  /** BN statistics and sums, per-image losses and D(x), dlogits. */
  scratch: GpuBuffer;
  /** Metrics area in `scratch`: D update [loss 2B, σ 2B] then the last G update [loss B, σ B]. */
  metricsOffset: number;
  metricsLength: number;
  /** lrT per update of a step: [D, G 1, G 2, …], then with a weight average [d, 1 − d] per G update. */
  hyper: GpuBuffer;
  /** The average of G's weights (emaDecay > 0), in G's flat layout. */
  ema: GpuBuffer | undefined;
  z: GpuBuffer;
  /** D's input: [fake B | real B] images. */
  images: GpuBuffer;
  dUpdate: Dispatch[];
  gUpdates: Dispatch[][];
  /** Activations and their gradients (freed with the network). */
  buffers: GpuBuffer[];
}

export function createNetwork(ctx: GpuContext, config: GanConfig, batch: number): Network {
  const B = batch;
  const { imageSize: S, kernelSize: k, gChannels, dChannels, zDim, baseSize } = config;
  const resize = config.upsample === 'resize';
  const model = (prefix: string, specs: ParamSpec[]): ModelBuffers => {
    const layout = flatLayout(specs);
    return {
      layout,
      params: ctx.storage(`${prefix}.params`, layout.total),
      grads: ctx.storage(`${prefix}.grads`, layout.total),
      m: ctx.storage(`${prefix}.m`, layout.total),
      v: ctx.storage(`${prefix}.v`, layout.total),
    };
  };
  const g = model('g', generatorParamSpecs(config));
  const d = model('d', discriminatorParamSpecs(config));
  const statLayout = flatLayout(generatorStatSpecs(config));
  const running = ctx.storage('g.running', statLayout.total);

  // Scratch layout: G BN statistics first, in the running statistics' order (one Adam dispatch updates
  // the running values from them), then the rest.
  let scratchSize = 0;
  const alloc = (floats: number) => {
    const offset = scratchSize;
    scratchSize += floats;
    return offset;
  };
  const gStatsOffsets = gChannels.map((c) => alloc(2 * c));
  const gSumsOffsets = gChannels.map((c) => alloc(2 * c));
  const dStatsOffsets = dChannels.map((c) => alloc(4 * c));
  const dSumsOffsets = dChannels.map((c) => alloc(4 * c));
  const metricsOffset = alloc(6 * B);
  const dlogitOffset = alloc(2 * B);
  const gUpdates = config.gStepsPerD;
  const scratch = ctx.storage('scratch', scratchSize);
  const ema = config.emaDecay > 0 ? ctx.storage('g.ema', g.layout.total) : undefined;
  const hyper = ctx.storage('hyper', 1 + gUpdates * (ema ? 3 : 1));

  // Resize-convolution: G's upsampling kernels as the 4×4 transposed convolutions the GEMM runs, and
  // their gradients, in buffers of their own (the 3×3 parameters keep G's flat layout).
  const upKernels = [...gChannels.slice(1).map((_, i) => `g.up${i + 1}.kernel`), 'g.out.kernel'];
  const resizeLayers = new Map<string, ResizeLayer>();
  let resizeTotal = 0;
  if (resize)
    for (const name of upKernels) {
      const [, , outC, inC] = g.layout.specs.find((spec) => spec.name === name)!.shape;
      resizeLayers.set(name, { offset3: at(g.layout, name), offset4: resizeTotal, channels: outC! * inC! });
      resizeTotal += 16 * outC! * inC!;
    }
  const kernels4 = ctx.storage('g.kernels4', resizeTotal);
  const kernelGrads4 = ctx.storage('g.kernels4.grads', resizeTotal);
  const gk = resize ? 4 : k;

  // Activations and their gradients.
  const sizes = { g: [] as number[], d: [] as number[] };
  let size = baseSize;
  for (let i = 0; i < gChannels.length; i++) {
    sizes.g.push(size);
    size *= 2;
  }
  size = S;
  for (let l = 0; l < dChannels.length; l++) {
    size /= 2;
    sizes.d.push(size);
  }
  const z = ctx.storage('z', B * zDim);
  const images = ctx.storage('images', 2 * B * S * S * 3);
  const imageGrad = ctx.storage('images.grad', B * S * S * 3);
  const gRaw = gChannels.map((c, i) => ctx.storage(`g.raw${i}`, B * sizes.g[i]! ** 2 * c));
  const gGrad = gChannels.map((c, i) => ctx.storage(`g.grad${i}`, B * sizes.g[i]! ** 2 * c));
  // d.out0 holds LeakyReLU(conv0 + bias); the others hold pre-BN convolutions.
  const dOut = dChannels.map((c, l) => ctx.storage(`d.out${l}`, 2 * B * sizes.d[l]! ** 2 * c));
  const dGrad = dChannels.map((c, l) => ctx.storage(`d.grad${l}`, 2 * B * sizes.d[l]! ** 2 * c));

  /** A BN layer of `m` ('g.bn1', 'd.bn2'): `elements` per group, statistics and sums at these offsets. */
  const batchNorm = (
    m: ModelBuffers,
    name: string,
    layer: { channels: number; elements: number; groups: number; stats: number; sums: number },
    activation: Activation,
  ): BatchNormRef => ({
    channels: layer.channels,
    groupSize: layer.elements,
    groups: layer.groups,
    stats: scratch,
    statsOffset: layer.stats,
    sumsOffset: layer.sums,
    params: m.params,
    gammaOffset: at(m.layout, `${name}.gamma`),
    betaOffset: at(m.layout, `${name}.beta`),
    epsilon: config.bnEpsilon,
    activation,
  });
  const gBn = (i: number): BatchNormRef =>
    batchNorm(
      g,
      `g.bn${i}`,
      {
        channels: gChannels[i]!,
        elements: B * sizes.g[i]! ** 2 * gChannels[i]!,
        groups: 1,
        stats: gStatsOffsets[i]!,
        sums: gSumsOffsets[i]!,
      },
      'relu',
    );
  const dBn = (l: number, groups: number, dBatch: number): BatchNormRef =>
    batchNorm(
      d,
      `d.bn${l}`,
      {
        channels: dChannels[l]!,
        elements: (dBatch / groups) * sizes.d[l]! ** 2 * dChannels[l]!,
        groups,
        stats: dStatsOffsets[l]!,
        sums: dSumsOffsets[l]!,
      },
      { leak: config.leak },
    );
  const dummy = ctx.storage('dummy', 1);
  const gConv = (label: string, k: ConvKernel) =>
    convDispatch(ctx, label, k, { params: g.params, stats: scratch, dummy });
  const dConv = (label: string, k: ConvKernel) =>
    convDispatch(ctx, label, k, { params: d.params, stats: scratch, dummy });
  const weights = (m: ModelBuffers, name: string): Operand => {
    const derived = m === g ? resizeLayers.get(name) : undefined;
    return derived
      ? { kind: 'plain', tensor: kernels4, offset: derived.offset4 }
      : { kind: 'plain', tensor: m.params, offset: at(m.layout, name) };
  };
  /** Where a G kernel's filter gradient goes: G's gradients, or the 4×4 ones the fold reads. */
  const gKernelGrad = (name: string) => {
    const derived = resizeLayers.get(name);
    return derived
      ? { out: kernelGrads4, outOffset: derived.offset4 }
      : { out: g.grads, outOffset: at(g.layout, name) };
  };
  const resizeDispatch = (mode: 'derive' | 'fold'): Dispatch[] =>
    resize
      ? [
          resizeKernelDispatch(ctx, `g.resize.${mode}`, {
            mode,
            layers: [...resizeLayers.values()],
            small: mode === 'derive' ? g.params : g.grads,
            large: mode === 'derive' ? kernels4 : kernelGrads4,
          }),
        ]
      : [];
  const leaky = { leak: config.leak };

  // Conv geometries (see conv-gemm.ts; a transposed conv is the conv from its output to its input).
  const denseGeometry: ConvGeometry = {
    batch: B,
    inH: 1,
    inW: 1,
    inC: zDim,
    outH: 1,
    outW: 1,
    outC: baseSize * baseSize * gChannels[0]!,
    kernel: 1,
    stride: 1,
    padTop: 0,
    padLeft: 0,
  };
  const gGeometry = (i: number) =>
    i < gChannels.length
      ? convGeometry(B, sizes.g[i]!, gChannels[i]!, gChannels[i - 1]!, gk, 2)
      : convGeometry(B, S, 3, gChannels.at(-1)!, gk, 2);
  const dGeometry = (l: number, dBatch: number) =>
    convGeometry(dBatch, l === 0 ? S : sizes.d[l - 1]!, l === 0 ? 3 : dChannels[l - 1]!, dChannels[l]!, k, 2);

  const gLast = gChannels.length - 1;
  const gAct = (i: number): Operand => ({ kind: 'bnAct', raw: gRaw[i]!, bn: gBn(i) });
  const gForward = (): Dispatch[] => {
    const out: Dispatch[] = [
      ...resizeDispatch('derive'),
      gConv('g.dense', {
        mode: 'forward',
        geometry: denseGeometry,
        a: { kind: 'plain', tensor: z },
        b: weights(g, 'g.dense.kernel'),
        out: gRaw[0]!,
      }),
      reduceDispatch(ctx, 'g.bn0.moments', { kind: 'moments', raw: gRaw[0]!, bn: gBn(0) }),
    ];
    for (let i = 1; i < gChannels.length; i++) {
      out.push(
        gConv(`g.up${i}`, {
          mode: 'inputGrad',
          geometry: gGeometry(i),
          a: gAct(i - 1),
          b: weights(g, `g.up${i}.kernel`),
          out: gRaw[i]!,
        }),
        reduceDispatch(ctx, `g.bn${i}.moments`, { kind: 'moments', raw: gRaw[i]!, bn: gBn(i) }),
      );
    }
    out.push(
      gConv('g.out', {
        mode: 'inputGrad',
        geometry: gGeometry(gChannels.length),
        a: gAct(gLast),
        b: weights(g, 'g.out.kernel'),
        out: images,
        bias: { buffer: g.params, offset: at(g.layout, 'g.out.bias') },
        activation: 'tanh',
      }),
    );
    return out;
  };

  const dLast = dChannels.length - 1;
  /** D forward + head/loss, and its backward, on the first `dBatch` images of `images`. */
  const dPass = (dBatch: number, groups: number, labels: number[], metrics: number, weightGrads: boolean) => {
    const dAct = (l: number): Operand =>
      l === 0
        ? { kind: 'plain', tensor: dOut[0]! }
        : { kind: 'bnAct', raw: dOut[l]!, bn: dBn(l, groups, dBatch) };
    const dIn = (l: number): Operand => (l === 0 ? { kind: 'plain', tensor: images } : dAct(l - 1));
    const dDz = (l: number): Operand =>
      l === 0
        ? { kind: 'actGrad', grad: dGrad[0]!, output: dOut[0]!, activation: leaky }
        : { kind: 'bnGrad', grad: dGrad[l]!, raw: dOut[l]!, bn: dBn(l, groups, dBatch) };
    const p = `d[${dBatch}]`;
    const forward: Dispatch[] = [
      dConv(`${p}.conv0`, {
        mode: 'forward',
        geometry: dGeometry(0, dBatch),
        a: dIn(0),
        b: weights(d, 'd.conv0.kernel'),
        out: dOut[0]!,
        bias: { buffer: d.params, offset: at(d.layout, 'd.conv0.bias') },
        activation: leaky,
      }),
    ];
    for (let l = 1; l < dChannels.length; l++) {
      forward.push(
        dConv(`${p}.conv${l}`, {
          mode: 'forward',
          geometry: dGeometry(l, dBatch),
          a: dIn(l),
          b: weights(d, `d.conv${l}.kernel`),
          out: dOut[l]!,
        }),
        reduceDispatch(ctx, `${p}.bn${l}.moments`, {
          kind: 'moments',
          raw: dOut[l]!,
          bn: dBn(l, groups, dBatch),
        }),
      );
    }
    const features = sizes.d[dLast]! ** 2 * dChannels[dLast]!;
    const flat = dAct(dLast);
    forward.push(
      headDispatch(ctx, `${p}.head`, {
        flat,
        batch: dBatch,
        features,
        params: d.params,
        weightOffset: at(d.layout, 'd.out.kernel'),
        biasOffset: at(d.layout, 'd.out.bias'),
        labels,
        scratch,
        metricsOffset: metrics,
        dlogitOffset,
        dflat: dGrad[dLast]!,
      }),
    );
    const backward: Dispatch[] = [];
    if (weightGrads)
      backward.push(
        headGradDispatch(ctx, `${p}.head.grad`, {
          flat,
          batch: dBatch,
          features,
          scratch,
          dlogitOffset,
          grads: d.grads,
          weightGradOffset: at(d.layout, 'd.out.kernel'),
          biasGradOffset: at(d.layout, 'd.out.bias'),
        }),
      );
    for (let l = dLast; l >= 1; l--) {
      backward.push(
        reduceDispatch(ctx, `${p}.bn${l}.grad`, {
          kind: 'bnGrad',
          raw: dOut[l]!,
          grad: dGrad[l]!,
          bn: dBn(l, groups, dBatch),
          // In a G update D's dγ, dβ are not needed, only the sums for the input gradient.
          ...(weightGrads
            ? {
                grads: {
                  buffer: d.grads,
                  gammaOffset: at(d.layout, `d.bn${l}.gamma`),
                  betaOffset: at(d.layout, `d.bn${l}.beta`),
                },
              }
            : {}),
        }),
      );
      if (weightGrads)
        backward.push(
          dConv(`${p}.conv${l}.filterGrad`, {
            mode: 'filterGrad',
            geometry: dGeometry(l, dBatch),
            a: dIn(l),
            b: dDz(l),
            out: d.grads,
            outOffset: at(d.layout, `d.conv${l}.kernel`),
          }),
        );
      backward.push(
        dConv(`${p}.conv${l}.inputGrad`, {
          mode: 'inputGrad',
          geometry: dGeometry(l, dBatch),
          a: dDz(l),
          b: weights(d, `d.conv${l}.kernel`),
          out: dGrad[l - 1]!,
        }),
      );
    }
    if (weightGrads) {
      backward.push(
        reduceDispatch(ctx, `${p}.conv0.biasGrad`, {
          kind: 'sum',
          input: dDz(0),
          channels: dChannels[0]!,
          rows: dBatch * sizes.d[0]! ** 2,
          out: d.grads,
          outOffset: at(d.layout, 'd.conv0.bias'),
        }),
        dConv(`${p}.conv0.filterGrad`, {
          mode: 'filterGrad',
          geometry: dGeometry(0, dBatch),
          a: dIn(0),
          b: dDz(0),
          out: d.grads,
          outOffset: at(d.layout, 'd.conv0.kernel'),
        }),
      );
    } else {
      backward.push(
        dConv(`${p}.conv0.inputGrad`, {
          mode: 'inputGrad',
          geometry: dGeometry(0, dBatch),
          a: dDz(0),
          b: weights(d, 'd.conv0.kernel'),
          out: imageGrad,
        }),
      );
    }
    return [...forward, ...backward];
  };

  const gBackward = (): Dispatch[] => {
    const outDz: Operand = { kind: 'actGrad', grad: imageGrad, output: images, activation: 'tanh' };
    const gDz = (i: number): Operand => ({ kind: 'bnGrad', grad: gGrad[i]!, raw: gRaw[i]!, bn: gBn(i) });
    const out: Dispatch[] = [
      reduceDispatch(ctx, 'g.out.biasGrad', {
        kind: 'sum',
        input: outDz,
        channels: 3,
        rows: B * S * S,
        out: g.grads,
        outOffset: at(g.layout, 'g.out.bias'),
      }),
      gConv('g.out.filterGrad', {
        mode: 'filterGrad',
        geometry: gGeometry(gChannels.length),
        a: outDz,
        b: gAct(gLast),
        ...gKernelGrad('g.out.kernel'),
      }),
      gConv('g.out.inputGrad', {
        mode: 'forward',
        geometry: gGeometry(gChannels.length),
        a: outDz,
        b: weights(g, 'g.out.kernel'),
        out: gGrad[gLast]!,
      }),
    ];
    for (let i = gLast; i >= 0; i--) {
      out.push(
        reduceDispatch(ctx, `g.bn${i}.grad`, {
          kind: 'bnGrad',
          raw: gRaw[i]!,
          grad: gGrad[i]!,
          bn: gBn(i),
          grads: {
            buffer: g.grads,
            gammaOffset: at(g.layout, `g.bn${i}.gamma`),
            betaOffset: at(g.layout, `g.bn${i}.beta`),
          },
        }),
      );
      if (i > 0) {
        out.push(
          gConv(`g.up${i}.filterGrad`, {
            mode: 'filterGrad',
            geometry: gGeometry(i),
            a: gDz(i),
            b: gAct(i - 1),
            ...gKernelGrad(`g.up${i}.kernel`),
          }),
          gConv(`g.up${i}.inputGrad`, {
            mode: 'forward',
            geometry: gGeometry(i),
            a: gDz(i),
            b: weights(g, `g.up${i}.kernel`),
            out: gGrad[i - 1]!,
          }),
        );
      } else {
        out.push(
          gConv('g.dense.filterGrad', {
            mode: 'filterGrad',
            geometry: denseGeometry,
            a: { kind: 'plain', tensor: z },
            b: gDz(0),
            out: g.grads,
            outOffset: at(g.layout, 'g.dense.kernel'),
          }),
        );
      }
    }
    out.push(...resizeDispatch('fold'));
    return out;
  };

  const adam = (m: ModelBuffers, lrSlot: number, lr: 'D' | 'G') =>
    adamDispatch(ctx, `adam.${lr}`, {
      params: m.params,
      grads: m.grads,
      m: m.m,
      v: m.v,
      count: m.layout.total,
      beta1: config.beta1,
      beta2: config.beta2,
      epsilon: 1e-8,
      hyper,
      lrSlot,
      ...(lr === 'G'
        ? {
            runningStats: {
              running,
              batch: scratch,
              batchOffset: 0,
              count: statLayout.total,
              momentum: config.bnMomentum,
            },
          }
        : {}),
    });

  const gen = gForward();
  const dUpdate = [
    ...gen,
    ...dPass(2 * B, 2, [0, 1 - config.labelSmoothing], metricsOffset, true),
    adam(d, 0, 'D'),
  ];
  const gTail = (slot: number) => [
    ...dPass(B, 1, [1], metricsOffset + 4 * B, false),
    ...gBackward(),
    adam(g, slot, 'G'),
    ...(ema
      ? [
          emaDispatch(ctx, 'g.ema', {
            average: ema,
            weights: g.params,
            count: g.layout.total,
            hyper,
            slot: 1 + gUpdates + 2 * (slot - 1),
          }),
        ]
      : []),
  ];
  const gUpdateList: Dispatch[][] = [];
  for (let kk = 0; kk < gUpdates; kk++) gUpdateList.push(kk === 0 ? gTail(1) : [...gen, ...gTail(1 + kk)]);
  return {
    config,
    batch: B,
    g,
    d,
    running,
    statLayout,
    scratch,
    metricsOffset,
    metricsLength: 6 * B,
    hyper,
    ema,
    z,
    images,
    dUpdate,
    gUpdates: gUpdateList,
    buffers: [
      dummy,
      z,
      images,
      imageGrad,
      kernels4,
      kernelGrads4,
      ...(ema ? [ema] : []),
      ...gRaw,
      ...gGrad,
      ...dOut,
      ...dGrad,
    ],
  };
}
