/**
 * The discriminator's last layer fused with the loss: logits = flat · w + b, the non-saturating GAN loss
 * (sigmoid cross-entropy with logits, label per batch group, mean per group) and its gradient, in one
 * dispatch of one workgroup per image:
 *   loss_n = relu(l) − l·label + log(1 + e^(−|l|)),  dl_n = (σ(l) − label) / groupBatch,
 *   dflat[n, f] = dl_n · w[f]
 * Per-image losses and D(x) go to a metrics area that the trainer copies out asynchronously; the host
 * sums them (no reduction kernel, no blocking read). `headGrad` is dw = Σ_n flat[n]·dl_n and db = Σ_n dl_n.
 */
import { f32, kernelDispatch } from './context.ts';
import type { Binding, Dispatch, GpuBuffer, GpuContext } from './context.ts';
import { operandBindings, operandFunction, type Operand } from './operand.ts';

export interface HeadKernel {
  /** The flattened input [batch, features] (an activated BN output). */
  flat: Operand;
  batch: number;
  features: number;
  params: GpuBuffer;
  weightOffset: number;
  biasOffset: number;
  /** The label of each group of batch / labels.length images (D: fake 0, real 1 − smoothing; G: 1). */
  labels: number[];
  /** Writes loss_n at metricsOffset + n, σ(l_n) at metricsOffset + batch + n, dl_n at dlogitOffset + n. */
  scratch: GpuBuffer;
  metricsOffset: number;
  dlogitOffset: number;
  dflat: GpuBuffer;
}

export interface HeadGradKernel {
  flat: Operand;
  batch: number;
  features: number;
  scratch: GpuBuffer;
  dlogitOffset: number;
  grads: GpuBuffer;
  weightGradOffset: number;
  biasGradOffset: number;
}

export function headSource(k: HeadKernel, names: Map<GpuBuffer, string>, declarations: string): string {
  const F = k.features;
  const p = names.get(k.params)!;
  const s = names.get(k.scratch)!;
  const groupBatch = k.batch / k.labels.length;
  const labels = k.labels.map(f32).join(', ');
  return `${declarations}
${operandFunction('op', k.flat, names)}
var<workgroup> part: array<f32, 256>;
var<workgroup> shared_dl: f32;
@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let n = wid.x;
  var acc = 0.0;
  for (var f = t; f < ${F}u; f += 256u) { acc = fma(op(n * ${F}u + f), ${p}[${k.weightOffset}u + f], acc); }
  part[t] = acc;
  workgroupBarrier();
  for (var width = 128u; width > 0u; width /= 2u) {
    if (t < width) { part[t] += part[t + width]; }
    workgroupBarrier();
  }
  if (t == 0u) {
    var labels = array<f32, ${k.labels.length}>(${labels});
    let label = labels[n / ${groupBatch}u];
    let l = part[0] + ${p}[${k.biasOffset}u];
    let prob = 1.0 / (1.0 + exp(-l));
    ${s}[${k.metricsOffset}u + n] = max(l, 0.0) - l * label + log(1.0 + exp(-abs(l)));
    ${s}[${k.metricsOffset + k.batch}u + n] = prob;
    let dl = (prob - label) / ${f32(groupBatch)};
    ${s}[${k.dlogitOffset}u + n] = dl;
    shared_dl = dl;
  }
  workgroupBarrier();
  let dl = shared_dl;
  for (var f = t; f < ${F}u; f += 256u) { ${names.get(k.dflat)!}[n * ${F}u + f] = dl * ${p}[${k.weightOffset}u + f]; }
}`;
}

export function headGradSource(
  k: HeadGradKernel,
  names: Map<GpuBuffer, string>,
  declarations: string,
): string {
  const F = k.features;
  const s = names.get(k.scratch)!;
  const g = names.get(k.grads)!;
  return `${declarations}
${operandFunction('op', k.flat, names)}
@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let f = gid.x;
  if (f < ${F}u) {
    var acc = 0.0;
    for (var n = 0u; n < ${k.batch}u; n++) { acc = fma(op(n * ${F}u + f), ${s}[${k.dlogitOffset}u + n], acc); }
    ${g}[${k.weightGradOffset}u + f] = acc;
  }
  if (f == 0u) {
    var db = 0.0;
    for (var n = 0u; n < ${k.batch}u; n++) { db += ${s}[${k.dlogitOffset}u + n]; }
    ${g}[${k.biasGradOffset}u] = db;
  }
}`;
}

export function headDispatch(ctx: GpuContext, label: string, k: HeadKernel): Dispatch {
  const uses: Binding[] = [
    ...operandBindings(k.flat),
    { buffer: k.params, write: false },
    { buffer: k.scratch, write: true },
    { buffer: k.dflat, write: true },
  ];
  return kernelDispatch(ctx, label, uses, (names, wgsl) => headSource(k, names, wgsl), [k.batch, 1, 1]);
}

export function headGradDispatch(ctx: GpuContext, label: string, k: HeadGradKernel): Dispatch {
  const uses: Binding[] = [
    ...operandBindings(k.flat),
    { buffer: k.scratch, write: false },
    { buffer: k.grads, write: true },
  ];
  return kernelDispatch(ctx, label, uses, (names, wgsl) => headGradSource(k, names, wgsl), [
    Math.ceil(k.features / 256),
    1,
    1,
  ]);
}
