/**
 * Resize-convolution (`upsample: 'resize'`) on the engine: as in recipe/resize-conv.ts, nearest ×2 + a
 * 3×3 convolution is ONE stride-2 transposed convolution with a 4×4 kernel w = A·K·Aᵀ (per spatial axis
 * w = A·K, A the 4×3 tap matrix below), so the GEMM runs unchanged at kernel 4. Two small dispatches
 * per layer list:
 *   'derive'  before G's forward pass: the 4×4 kernels from the 3×3 parameters,
 *   'fold'    after G's backward pass: the 3×3 gradients from the 4×4 ones, dK = Aᵀ·dW·A (the transpose).
 * The parameters and their Adam state stay 3×3, as the checkpoints hold them. A has 0/1 entries and each
 * value is a sum of two sums of two, so both match tfjs' matMul (and its gradient) to the bit.
 */
import { kernelDispatch } from './context.ts';
import type { Dispatch, GpuBuffer, GpuContext } from './context.ts';

/** One resize layer: its 3×3 kernel [3, 3, out, in] and its 4×4 kernel [4, 4, out, in] (offsets in floats). */
export interface ResizeLayer {
  offset3: number;
  offset4: number;
  /** out · in. */
  channels: number;
}

export interface ResizeKernel {
  mode: 'derive' | 'fold';
  layers: ResizeLayer[];
  /** The 3×3 values: the parameters (derive) or their gradients (fold). */
  small: GpuBuffer;
  /** The 4×4 values: the derived kernels (derive) or their gradients (fold). */
  large: GpuBuffer;
}

/** Rows w₀…w₃, columns K₋₁, K₀, K₁: recipe/resize-conv.ts' TAPS. */
const TAPS =
  'array<vec3<f32>, 4>(vec3(0.0, 0.0, 1.0), vec3(0.0, 1.0, 1.0), vec3(1.0, 1.0, 0.0), vec3(1.0, 0.0, 0.0))';

export function resizeKernelSource(
  k: ResizeKernel,
  names: Map<GpuBuffer, string>,
  declarations: string,
): string {
  const small = names.get(k.small)!;
  const large = names.get(k.large)!;
  const derive = k.mode === 'derive';
  // Each thread writes one value of the output side (4×4 for derive, 3×3 for fold) of one layer.
  const taps = derive ? 16 : 9;
  let start = 0;
  const branches = k.layers.map((layer) => {
    const end = start + taps * layer.channels;
    const code = `if (i < ${end}u) { write(i - ${start}u, ${layer.channels}u, ${layer.offset3}u, ${layer.offset4}u); return; }`;
    start = end;
    return code;
  });
  /** out = Σ_outer (Σ_inner weight·value) · outerWeight: the grouping of tfjs' two matMuls (or their gradients). */
  const sums = (
    outer: { v: string; n: number; w: string },
    inner: { v: string; n: number; w: string },
    value: string,
  ) => `var total = 0.0;
  for (var ${outer.v} = 0u; ${outer.v} < ${outer.n}u; ${outer.v}++) {
    var part = 0.0;
    for (var ${inner.v} = 0u; ${inner.v} < ${inner.n}u; ${inner.v}++) { part += ${inner.w} * ${value}; }
    total += ${outer.w} * part;
  }`;
  const body = derive
    ? // w[a, b] = Σ_q A[b][q] · (Σ_p A[a][p] · K[p, q]): the rows first, as resizeConvKernel.
      `let a = tap / 4u; let b = tap % 4u;
  ${sums({ v: 'q', n: 3, w: 'A[b][q]' }, { v: 'p', n: 3, w: 'A[a][p]' }, `${small}[o3 + (p * 3u + q) * n + r]`)}
  ${large}[o4 + tap * n + r] = total;`
    : // dK[p, q] = Σ_a A[a][p] · (Σ_b A[b][q] · dW[a, b]): the transpose, in the order of its tfjs gradient.
      `let p = tap / 3u; let q = tap % 3u;
  ${sums({ v: 'a', n: 4, w: 'A[a][p]' }, { v: 'b', n: 4, w: 'A[b][q]' }, `${large}[o4 + (a * 4u + b) * n + r]`)}
  ${small}[o3 + tap * n + r] = total;`;
  return `${declarations}
fn write(local: u32, n: u32, o3: u32, o4: u32) {
  let A = ${TAPS};
  let tap = local / n; let r = local % n;
  ${body}
}
@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  ${branches.join('\n  ')}
}`;
}

export function resizeKernelDispatch(ctx: GpuContext, label: string, k: ResizeKernel): Dispatch {
  const total = k.layers.reduce((s, l) => s + (k.mode === 'derive' ? 16 : 9) * l.channels, 0);
  return kernelDispatch(
    ctx,
    label,
    [
      { buffer: k.small, write: k.mode === 'fold' },
      { buffer: k.large, write: k.mode === 'derive' },
    ],
    (names, wgsl) => resizeKernelSource(k, names, wgsl),
    [Math.ceil(total / 256), 1, 1],
  );
}
