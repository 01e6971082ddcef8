/**
 * One Adam update over a model's whole flat parameter buffer in one dispatch (instead of ~10 tensor ops
 * per parameter), in the same float32 operation order as adam.ts so both paths agree to rounding:
 *   m = m·β1 + g·(1−β1);  v = v·β2 + g²·(1−β2);  p = p − m·lrT / (√v + ε)
 * lrT (bias-corrected learning rate, computed in float64 on the host from the step count) is read from
 * a small host-written buffer, so one recorded dispatch serves every step. The generator's batch-norm
 * running statistics ride along in the same dispatch: running = running·(1−momentum) + batch·momentum.
 */
import { f32, kernelDispatch } from './context.ts';
import type { Binding, Dispatch, GpuBuffer, GpuContext } from './context.ts';

export interface AdamKernel {
  params: GpuBuffer;
  grads: GpuBuffer;
  m: GpuBuffer;
  v: GpuBuffer;
  count: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  /** lrT at hyper[lrSlot]. */
  hyper: GpuBuffer;
  lrSlot: number;
  /** BN running statistics updated from the batch statistics laid out the same way. */
  runningStats?: {
    running: GpuBuffer;
    batch: GpuBuffer;
    batchOffset: number;
    count: number;
    momentum: number;
  };
}

const MAX_GROUPS = 65535;

export function adamSource(k: AdamKernel, names: Map<GpuBuffer, string>, declarations: string): string {
  const [p, g, m, v, h] = [k.params, k.grads, k.m, k.v, k.hyper].map((b) => names.get(b)!);
  const ema = k.runningStats;
  const total = k.count + (ema?.count ?? 0);
  const emaCode = ema
    ? `else if (i < ${total}u) {
      let j = i - ${k.count}u;
      ${names.get(ema.running)!}[j] = ${names.get(ema.running)!}[j] * ${f32(1 - ema.momentum)} + ${names.get(ema.batch)!}[${ema.batchOffset}u + j] * ${f32(ema.momentum)};
    }`
    : '';
  return `${declarations}
@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let lr = ${h}[${k.lrSlot}u];
  for (var i = gid.x; i < ${total}u; i += groups.x * 256u) {
    if (i < ${k.count}u) {
      let grad = ${g}[i];
      let mi = ${m}[i] * ${f32(k.beta1)} + grad * ${f32(1 - k.beta1)};
      let vi = ${v}[i] * ${f32(k.beta2)} + grad * grad * ${f32(1 - k.beta2)};
      ${m}[i] = mi;
      ${v}[i] = vi;
      ${p}[i] = ${p}[i] - mi * lr / (sqrt(vi) + ${f32(k.epsilon)});
    } ${emaCode}
  }
}`;
}

export function adamDispatch(ctx: GpuContext, label: string, k: AdamKernel): Dispatch {
  const uses: Binding[] = [
    { buffer: k.params, write: true },
    { buffer: k.grads, write: false },
    { buffer: k.m, write: true },
    { buffer: k.v, write: true },
    { buffer: k.hyper, write: false },
  ];
  if (k.runningStats) {
    uses.push(
      { buffer: k.runningStats.running, write: true },
      { buffer: k.runningStats.batch, write: false },
    );
  }
  const total = k.count + (k.runningStats?.count ?? 0);
  return kernelDispatch(ctx, label, uses, (names, wgsl) => adamSource(k, names, wgsl), [
    Math.min(MAX_GROUPS, Math.ceil(total / 256)),
    1,
    1,
  ]);
}
