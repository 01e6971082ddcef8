/**
 * Per-channel reductions over NHWC tensors, one dispatch each:
 *   'moments'  batch-norm forward: mean and biased variance per (group, channel), two passes (as tf.moments)
 *   'bnGrad'   batch-norm backward: Σ dz and Σ dz·x̂ per (group, channel), where dz = dL/d(γx̂+β) from the
 *              gradient w.r.t. the activated output; their totals over groups are dβ and dγ
 *   'sum'      a bias gradient: Σ of an operand (e.g. dy·tanh′) per channel
 * A workgroup owns up to 64 channels (adjacent threads read adjacent channels: coalesced NHWC reads) and
 * 256 / lanes row strides, reduced through workgroup memory.
 */
import { f32, kernelDispatch } from './context.ts';
import type { Binding, Dispatch, GpuBuffer, GpuContext } from './context.ts';
import {
  activate,
  activationSlope,
  operandBindings,
  operandFunction,
  type BatchNormRef,
  type Operand,
} from './operand.ts';

export type ReduceKernel =
  | { kind: 'moments'; raw: GpuBuffer; bn: BatchNormRef }
  | {
      kind: 'bnGrad';
      raw: GpuBuffer;
      /** The gradient w.r.t. the layer's activated output. */
      grad: GpuBuffer;
      bn: BatchNormRef;
      /** dγ and dβ go here (the model's flat gradient buffer); without, only the per-group sums are kept. */
      grads?: { buffer: GpuBuffer; gammaOffset: number; betaOffset: number };
    }
  | { kind: 'sum'; input: Operand; channels: number; rows: number; out: GpuBuffer; outOffset: number };

function lanesFor(channels: number): number {
  let lanes = 1;
  while (lanes < channels && lanes < 64) lanes *= 2;
  return lanes;
}

export function reduceKernelSource(
  k: ReduceKernel,
  names: Map<GpuBuffer, string>,
  declarations: string,
): string {
  const C = k.kind === 'sum' ? k.channels : k.bn.channels;
  const lanes = lanesFor(C);
  const strides = 256 / lanes;
  const n = (b: GpuBuffer) => names.get(b)!;
  // reduce(v): sums v over this workgroup's row strides of one channel lane; every thread gets the total.
  const common = `
var<workgroup> part: array<f32, 256>;
fn reduce(v: f32, lane: u32, stride: u32) -> f32 {
  part[stride * ${lanes}u + lane] = v;
  workgroupBarrier();
  var total = 0.0;
  for (var s = 0u; s < ${strides}u; s++) { total += part[s * ${lanes}u + lane]; }
  workgroupBarrier();
  return total;
}`;
  const head = `@compute @workgroup_size(${lanes}, ${strides}, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) loc: vec3<u32>) {
  let lane = loc.x; let stride = loc.y;
  let c = wid.x * ${lanes}u + lane;
  let live = c < ${C}u;
  let cc = min(c, ${C - 1}u);`;
  if (k.kind === 'sum') {
    return `${declarations}
${operandFunction('op', k.input, names)}
${common}
${head}
  var acc = 0.0;
  if (live) { for (var r = stride; r < ${k.rows}u; r += ${strides}u) { acc += op(r * ${C}u + cc); } }
  let total = reduce(acc, lane, stride);
  if (live && stride == 0u) { ${n(k.out)}[${k.outOffset}u + c] = total; }
}`;
  }
  const bn = k.bn;
  const rows = bn.groupSize / C;
  const stats = n(bn.stats);
  const loopRows = (body: string) =>
    `if (live) { for (var r = stride; r < ${rows}u; r += ${strides}u) { let e = g * ${bn.groupSize}u + r * ${C}u + cc; ${body} } }`;
  if (k.kind === 'moments') {
    const raw = n(k.raw);
    return `${declarations}
${common}
${head}
  for (var g = 0u; g < ${bn.groups}u; g++) {
    var acc = 0.0;
    ${loopRows(`acc += ${raw}[e];`)}
    let mean = reduce(acc, lane, stride) / ${f32(rows)};
    var acc2 = 0.0;
    ${loopRows(`let d = ${raw}[e] - mean; acc2 += d * d;`)}
    let variance = reduce(acc2, lane, stride) / ${f32(rows)};
    if (live && stride == 0u) {
      ${stats}[${bn.statsOffset}u + g * ${2 * C}u + c] = mean;
      ${stats}[${bn.statsOffset}u + g * ${2 * C}u + ${C}u + c] = variance;
    }
  }
}`;
  }
  const p = n(bn.params);
  return `${declarations}
${common}
${head}
  var dgamma = 0.0; var dbeta = 0.0;
  let gamma = ${p}[${bn.gammaOffset}u + cc]; let beta = ${p}[${bn.betaOffset}u + cc];
  for (var g = 0u; g < ${bn.groups}u; g++) {
    let mean = ${stats}[${bn.statsOffset}u + g * ${2 * C}u + cc];
    let rstd = inverseSqrt(${stats}[${bn.statsOffset}u + g * ${2 * C}u + ${C}u + cc] + ${f32(bn.epsilon)});
    var s1 = 0.0; var s2 = 0.0;
    ${loopRows(`let xhat = (${n(k.raw)}[e] - mean) * rstd; let z = xhat * gamma + beta; let y = ${activate(bn.activation, 'z')};
      let dz = ${n(k.grad)}[e] * ${activationSlope(bn.activation, 'z', 'y')}; s1 += dz; s2 += dz * xhat;`)}
    let t1 = reduce(s1, lane, stride); let t2 = reduce(s2, lane, stride);
    if (live && stride == 0u) {
      ${stats}[${bn.sumsOffset}u + g * ${2 * C}u + c] = t1;
      ${stats}[${bn.sumsOffset}u + g * ${2 * C}u + ${C}u + c] = t2;
    }
    dbeta += t1; dgamma += t2;
  }
  ${
    k.grads
      ? `if (live && stride == 0u) {
    ${n(k.grads.buffer)}[${k.grads.gammaOffset}u + c] = dgamma;
    ${n(k.grads.buffer)}[${k.grads.betaOffset}u + c] = dbeta;
  }`
      : ''
  }
}`;
}

export function reduceDispatch(ctx: GpuContext, label: string, k: ReduceKernel): Dispatch {
  let uses: Binding[];
  let channels: number;
  if (k.kind === 'sum') {
    uses = [...operandBindings(k.input), { buffer: k.out, write: true }];
    channels = k.channels;
  } else if (k.kind === 'moments') {
    uses = [
      { buffer: k.raw, write: false },
      { buffer: k.bn.stats, write: true },
    ];
    channels = k.bn.channels;
  } else {
    uses = [
      { buffer: k.raw, write: false },
      { buffer: k.grad, write: false },
      { buffer: k.bn.stats, write: true },
      { buffer: k.bn.params, write: false },
      ...(k.grads ? [{ buffer: k.grads.buffer, write: true }] : []),
    ];
    channels = k.bn.channels;
  }
  return kernelDispatch(ctx, label, uses, (names, wgsl) => reduceKernelSource(k, names, wgsl), [
    Math.ceil(channels / lanesFor(channels)),
    1,
    1,
  ]);
}
