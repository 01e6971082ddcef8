/**
 * The moving average of G's weights (`emaDecay`, recipe/ema.ts) after a G update, over the flat parameter
 * buffer in one dispatch: average = average·d + weights·(1 − d), in recipe/ema.ts' float32 operation
 * order. d (ramped up early, emaDecayAt) and 1 − d depend on the update count, so the host computes both
 * in float64 and writes them as float32 to `hyper`, as tfjs rounds the scalars it multiplies by.
 */
import { emaDecayAt } from '../recipe/ema.ts';
import { kernelDispatch } from './context.ts';
import type { Dispatch, GpuBuffer, GpuContext } from './context.ts';

export interface EmaKernel {
  average: GpuBuffer;
  weights: GpuBuffer;
  count: number;
  /** d at hyper[slot], 1 − d at hyper[slot + 1]. */
  hyper: GpuBuffer;
  slot: number;
}

const MAX_GROUPS = 65535;

/** [d, 1 − d] of the update that makes G's update count `updates` (float64; hyper rounds them to float32). */
export function emaFactors(decay: number, updates: number): [number, number] {
  const d = emaDecayAt(decay, updates);
  return [d, 1 - d];
}

export function emaDispatch(ctx: GpuContext, label: string, k: EmaKernel): Dispatch {
  return kernelDispatch(
    ctx,
    label,
    [
      { buffer: k.average, write: true },
      { buffer: k.weights, write: false },
      { buffer: k.hyper, write: false },
    ],
    (names, wgsl) => {
      const [average, weights, hyper] = [k.average, k.weights, k.hyper].map((b) => names.get(b)!);
      return `${wgsl}
@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let d = ${hyper}[${k.slot}u];
  let e = ${hyper}[${k.slot + 1}u];
  for (var i = gid.x; i < ${k.count}u; i += groups.x * 256u) {
    ${average}[i] = ${average}[i] * d + ${weights}[i] * e;
  }
}`;
    },
    [Math.min(MAX_GROUPS, Math.ceil(k.count / 256)), 1, 1],
  );
}
