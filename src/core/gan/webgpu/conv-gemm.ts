/**
 * Convolution forward and both gradients as one tiled implicit GEMM (no im2col buffer): a workgroup
 * of 16×16 threads computes a 64×64 output tile, each thread 4×4 outputs in registers, over K in
 * steps of 16 staged through workgroup memory. The three modes differ only in how the A and B tiles
 * are gathered and where C goes:
 *
 *   conv geometry: x [N, H, W, Ci] —(filter [k, k, Ci, Co], stride s, pads pt/pl)→ y [N, OH, OW, Co]
 *   'forward'      y[m=(n,oy,ox), co]  = Σ_(a,b,ci) x[n, oy·s+a−pt, ox·s+b−pl, ci] · F[a,b,ci,co]
 *   'inputGrad'    dx[m=(n,iy,ix), ci] = Σ_(a,b,co) dy[n, (iy+pt−a)/s, (ix+pl−b)/s, co] · F[a,b,ci,co]
 *                  in s² sub-pixel phases (grid z): the pixels with iy ≡ ry (mod s) only meet taps
 *                  a ≡ ry + pt (mod s), so no multiply-by-zero taps are visited
 *   'filterGrad'   dF[(a,b,ci), co]    = Σ_(n,oy,ox) x[n, oy·s+a−pt, ox·s+b−pl, ci] · dy[n,oy,ox,co]
 *
 * The generator's transposed convolution is the 'inputGrad' of the conv whose input is its output;
 * its gradients are that conv's 'forward' (input gradient) and 'filterGrad' with the roles swapped.
 * Dense layers are 1×1 convolutions on a 1×1 map. Operands go through operand.ts transforms (batch
 * norm + activation, activation and batch-norm gradients), the output through an epilogue (bias +
 * activation).
 */
import type { Dispatch, GpuBuffer, GpuContext } from './context.ts';
import type { Activation, Operand } from './operand.ts';

export interface ConvGeometry {
  batch: number;
  inH: number;
  inW: number;
  inC: number;
  outH: number;
  outW: number;
  outC: number;
  kernel: number;
  stride: number;
  padTop: number;
  padLeft: number;
}

export type ConvMode = 'forward' | 'inputGrad' | 'filterGrad';

export interface ConvKernel {
  mode: ConvMode;
  geometry: ConvGeometry;
  /** forward: x; inputGrad: dy; filterGrad: x. */
  a: Operand;
  /** forward / inputGrad: the filter [k,k,Ci,Co] in a flat parameter buffer; filterGrad: dy. */
  b: Operand;
  out: GpuBuffer;
  outOffset?: number;
  /** forward / inputGrad only: out = act(C + bias[j]). */
  bias?: { buffer: GpuBuffer; offset: number };
  activation?: Activation;
}

/** 'same' padding as TensorFlow computes it: the larger half after the stride, at the bottom/right. */
export function samePadding(
  inSize: number,
  kernel: number,
  stride: number,
): { out: number; padBefore: number } {
  const out = Math.ceil(inSize / stride);
  const total = Math.max((out - 1) * stride + kernel - inSize, 0);
  return { out, padBefore: Math.floor(total / 2) };
}

export function convGeometry(
  batch: number,
  inSize: number,
  inC: number,
  outC: number,
  kernel: number,
  stride: number,
): ConvGeometry {
  const { out, padBefore } = samePadding(inSize, kernel, stride);
  return {
    batch,
    inH: inSize,
    inW: inSize,
    inC,
    outH: out,
    outW: out,
    outC,
    kernel,
    stride,
    padTop: padBefore,
    padLeft: padBefore,
  };
}

const TILE = 64;
const TK = 16;

/** The GEMM sizes of a mode (for 'inputGrad', those of the largest phase). */
export function gemmShape(
  mode: ConvMode,
  g: ConvGeometry,
): { M: number; N: number; K: number; phases: number } {
  if (mode === 'forward')
    return { M: g.batch * g.outH * g.outW, N: g.outC, K: g.kernel * g.kernel * g.inC, phases: 1 };
  if (mode === 'filterGrad')
    return { M: g.kernel * g.kernel * g.inC, N: g.outC, K: g.batch * g.outH * g.outW, phases: 1 };
  const s = g.stride;
  const rows = Math.ceil(g.inH / s) * Math.ceil(g.inW / s);
  const taps = Math.ceil(g.kernel / s) ** 2;
  return { M: g.batch * rows, N: g.inC, K: taps * g.outC, phases: s * s };
}

/*
 * One WGSL source serves every mode, layer and operand transform: sizes, offsets and transform kinds are
 * uniforms. Software Vulkan (SwiftShader: CI, tests) needs seconds to compile each GEMM pipeline, so a
 * step of ~40 convolutions compiles this shader once instead of 40 specialised ones. A GPU driver
 * compiles in milliseconds; specialising the constants there is a measured decision for a GPU session.
 */
const OPERAND_FIELDS = [
  'kind',
  'offset',
  'c',
  'groupSize',
  'statsOff',
  'sumsOff',
  'gammaOff',
  'betaOff',
  'act',
] as const;
const OPERAND_FLOATS = ['slope', 'count', 'eps'] as const;
const FIELDS = [
  'mode',
  'batch',
  'inH',
  'inW',
  'inC',
  'outH',
  'outW',
  'outC',
  'kernel',
  'stride',
  'padTop',
  'padLeft',
  'M',
  'N',
  'K',
  'outOffset',
  'biasOffset',
  'hasBias',
  'act',
] as const;

const struct = `struct Params {
${FIELDS.map((f) => `  ${f}: u32,`).join('\n')}
  slope: f32,
${['a', 'b'].map((x) => [...OPERAND_FIELDS.map((f) => `  ${x}_${f}: u32,`), ...OPERAND_FLOATS.map((f) => `  ${x}_${f}: f32,`)].join('\n')).join('\n')}
}`;

/** Activation kinds in the uniforms: 0 identity, 1 z > 0 ? z : slope·z (ReLU: slope 0), 2 tanh. */
function actCode(a: Activation): { act: number; slope: number } {
  if (a === 'linear') return { act: 0, slope: 1 };
  if (a === 'relu') return { act: 1, slope: 0 };
  if (a === 'tanh') return { act: 2, slope: 0 };
  return { act: 1, slope: a.leak };
}

const OPERAND_KINDS = { plain: 0, bnAct: 1, actGrad: 2, bnGrad: 3 } as const;

/** opA / opB: the operand transforms of operand.ts, chosen by a uniform. */
function operandCode(x: 'a' | 'b', t: string, aux: string): string {
  const p = (f: string) => `P.${x}_${f}`;
  return `fn op_${x}(e: u32) -> f32 {
  let kind = ${p('kind')};
  if (kind == 0u) { return ${t}[${p('offset')} + e]; }
  if (kind == 2u) { let y = ${aux}[e]; return ${t}[e] * act_slope(${p('act')}, ${p('slope')}, y, y); }
  let C = ${p('c')}; let c = e % C; let g = e / ${p('groupSize')};
  let mean = stats[${p('statsOff')} + g * 2u * C + c];
  let rstd = inverseSqrt(stats[${p('statsOff')} + g * 2u * C + C + c] + ${p('eps')});
  let raw = select(${t}[e], ${aux}[e], kind == 3u);
  let xhat = (raw - mean) * rstd;
  let gamma = params[${p('gammaOff')} + c];
  let z = xhat * gamma + params[${p('betaOff')} + c];
  let y = act(${p('act')}, ${p('slope')}, z);
  if (kind == 1u) { return y; }
  let dz = ${t}[e] * act_slope(${p('act')}, ${p('slope')}, z, y);
  let s1 = stats[${p('sumsOff')} + g * 2u * C + c];
  let s2 = stats[${p('sumsOff')} + g * 2u * C + C + c];
  return gamma * rstd * (dz - s1 / ${p('count')} - xhat * s2 / ${p('count')});
}`;
}

export const CONV_GEMM_SOURCE = `${struct}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> a_t: array<f32>;
@group(0) @binding(2) var<storage, read> a_aux: array<f32>;
@group(0) @binding(3) var<storage, read> b_t: array<f32>;
@group(0) @binding(4) var<storage, read> b_aux: array<f32>;
@group(0) @binding(5) var<storage, read> params: array<f32>;
@group(0) @binding(6) var<storage, read> stats: array<f32>;
@group(0) @binding(7) var<storage, read_write> out: array<f32>;

fn act(kind: u32, slope: f32, z: f32) -> f32 {
  if (kind == 0u) { return z; }
  if (kind == 1u) { return select(slope * z, z, z > 0.0); }
  return tanh(z);
}
/** f' from the pre-activation z (ReLU family) or the output y (tanh). */
fn act_slope(kind: u32, slope: f32, z: f32, y: f32) -> f32 {
  if (kind == 0u) { return 1.0; }
  if (kind == 1u) { return select(slope, 1.0, z > 0.0); }
  return 1.0 - y * y;
}
${operandCode('a', 'a_t', 'a_aux')}
${operandCode('b', 'b_t', 'b_aux')}

struct Phase { ry: u32, rx: u32, hy: u32, hx: u32, a0: u32, b0: u32, tx: u32 }

/** x of the conv geometry at (output pixel m, tap-channel kk), zero in the padding. */
fn gather_x(m: u32, kk: u32) -> f32 {
  let n = m / (P.outH * P.outW); let r = m % (P.outH * P.outW);
  let oy = i32(r / P.outW); let ox = i32(r % P.outW);
  let tap = kk / P.inC; let ci = kk % P.inC;
  let iy = oy * i32(P.stride) + i32(tap / P.kernel) - i32(P.padTop);
  let ix = ox * i32(P.stride) + i32(tap % P.kernel) - i32(P.padLeft);
  if (iy < 0 || ix < 0 || iy >= i32(P.inH) || ix >= i32(P.inW)) { return 0.0; }
  return op_a(((n * P.inH + u32(iy)) * P.inW + u32(ix)) * P.inC + ci);
}

fn load_a(m: u32, kk: u32, ph: Phase) -> f32 {
  if (P.mode == 0u) { return gather_x(m, kk); }
  if (P.mode == 2u) { return gather_x(kk, m); }
  // inputGrad, one sub-pixel phase: dy at the output pixel that tap (a, b) connects to input pixel m.
  let n = m / (ph.hy * ph.hx); let r = m % (ph.hy * ph.hx);
  let iy = ph.ry + P.stride * (r / ph.hx); let ix = ph.rx + P.stride * (r % ph.hx);
  let t = kk / P.outC; let co = kk % P.outC;
  let a = ph.a0 + P.stride * (t / ph.tx); let b = ph.b0 + P.stride * (t % ph.tx);
  let oyn = i32(iy) + i32(P.padTop) - i32(a); let oxn = i32(ix) + i32(P.padLeft) - i32(b);
  if (oyn < 0 || oxn < 0) { return 0.0; }
  let oy = u32(oyn) / P.stride; let ox = u32(oxn) / P.stride;
  if (oy >= P.outH || ox >= P.outW) { return 0.0; }
  return op_a(((n * P.outH + oy) * P.outW + ox) * P.outC + co);
}

fn load_b(kk: u32, j: u32, ph: Phase) -> f32 {
  if (P.mode != 1u) { return op_b(kk * P.N + j); }
  let t = kk / P.outC; let co = kk % P.outC;
  let a = ph.a0 + P.stride * (t / ph.tx); let b = ph.b0 + P.stride * (t % ph.tx);
  return op_b(((a * P.kernel + b) * P.inC + j) * P.outC + co);
}

fn out_index(m: u32, j: u32, ph: Phase) -> u32 {
  if (P.mode != 1u) { return P.outOffset + m * P.N + j; }
  let n = m / (ph.hy * ph.hx); let r = m % (ph.hy * ph.hx);
  let iy = ph.ry + P.stride * (r / ph.hx); let ix = ph.rx + P.stride * (r % ph.hx);
  return P.outOffset + ((n * P.inH + iy) * P.inW + ix) * P.N + j;
}

var<workgroup> tile_a: array<f32, ${TK * TILE}>;
var<workgroup> tile_b: array<f32, ${TK * TILE}>;

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(local_invocation_id) loc: vec3<u32>) {
  var ph = Phase(0u, 0u, 1u, 1u, 0u, 0u, 1u);
  var m_rows = P.M;
  var k_len = P.K;
  if (P.mode == 1u) {
    let s = P.stride;
    ph.ry = wid.z / s; ph.rx = wid.z % s;
    ph.hy = (P.inH + s - 1u - ph.ry) / s; ph.hx = (P.inW + s - 1u - ph.rx) / s;
    ph.a0 = (ph.ry + P.padTop) % s; ph.b0 = (ph.rx + P.padLeft) % s;
    let ty = select(0u, (P.kernel + s - 1u - ph.a0) / s, ph.a0 < P.kernel);
    ph.tx = select(0u, (P.kernel + s - 1u - ph.b0) / s, ph.b0 < P.kernel);
    m_rows = P.batch * ph.hy * ph.hx;
    k_len = ty * ph.tx * P.outC;
    // An empty phase (a map smaller than the stride) still runs the barriers below, with no work.
    if (ph.hy * ph.hx == 0u) { ph.hy = 1u; ph.hx = 1u; m_rows = 0u; }
    if (ph.tx == 0u) { ph.tx = 1u; }
  }
  // A is contiguous along K (channels) in forward / inputGrad, along M in filterGrad.
  let a_along_k = P.mode != 2u;
  let m0 = wid.y * ${TILE}u; let j0 = wid.x * ${TILE}u;
  var acc0 = vec4<f32>(); var acc1 = vec4<f32>(); var acc2 = vec4<f32>(); var acc3 = vec4<f32>();
  for (var k0 = 0u; k0 < k_len; k0 += ${TK}u) {
    for (var q = 0u; q < ${(TK * TILE) / 256}u; q++) {
      let idx = lid + q * 256u;
      let row = select(idx % ${TILE}u, idx / ${TK}u, a_along_k);
      let kq = select(idx / ${TILE}u, idx % ${TK}u, a_along_k);
      let m = m0 + row; let kk = k0 + kq;
      var va = 0.0;
      if (m < m_rows && kk < k_len) { va = load_a(m, kk, ph); }
      tile_a[kq * ${TILE}u + row] = va;
      let kb = idx / ${TILE}u; let col = idx % ${TILE}u;
      var vb = 0.0;
      if (k0 + kb < k_len && j0 + col < P.N) { vb = load_b(k0 + kb, j0 + col, ph); }
      tile_b[kb * ${TILE}u + col] = vb;
    }
    workgroupBarrier();
    for (var kq = 0u; kq < ${TK}u; kq++) {
      let ka = kq * ${TILE}u + loc.y; let kb = kq * ${TILE}u + loc.x;
      let av = vec4<f32>(tile_a[ka], tile_a[ka + 16u], tile_a[ka + 32u], tile_a[ka + 48u]);
      let bv = vec4<f32>(tile_b[kb], tile_b[kb + 16u], tile_b[kb + 32u], tile_b[kb + 48u]);
      acc0 = fma(vec4<f32>(av.x), bv, acc0); acc1 = fma(vec4<f32>(av.y), bv, acc1);
      acc2 = fma(vec4<f32>(av.z), bv, acc2); acc3 = fma(vec4<f32>(av.w), bv, acc3);
    }
    workgroupBarrier();
  }
  let rows = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
  for (var r = 0u; r < 4u; r++) {
    let m = m0 + loc.y + 16u * r;
    if (m >= m_rows) { continue; }
    let row = rows[r];
    for (var c = 0u; c < 4u; c++) {
      let j = j0 + loc.x + 16u * c;
      if (j >= P.N) { continue; }
      var v = row[c];
      if (P.hasBias == 1u) { v += params[P.biasOffset + j]; }
      out[out_index(m, j, ph)] = act(P.act, P.slope, v);
    }
  }
}
`;

/** The uniforms of one convolution, in the struct's field order. */
function uniforms(k: ConvKernel): ArrayBuffer {
  const g = k.geometry;
  const { M, N, K } = gemmShape(k.mode, g);
  const { act, slope } = actCode(k.activation ?? 'linear');
  const head: Record<(typeof FIELDS)[number], number> = {
    mode: ['forward', 'inputGrad', 'filterGrad'].indexOf(k.mode),
    batch: g.batch,
    inH: g.inH,
    inW: g.inW,
    inC: g.inC,
    outH: g.outH,
    outW: g.outW,
    outC: g.outC,
    kernel: g.kernel,
    stride: g.stride,
    padTop: g.padTop,
    padLeft: g.padLeft,
    M,
    N,
    K,
    outOffset: k.outOffset ?? 0,
    biasOffset: k.bias?.offset ?? 0,
    hasBias: k.bias ? 1 : 0,
    act,
  };
  const words = FIELDS.length + 1 + 2 * (OPERAND_FIELDS.length + OPERAND_FLOATS.length);
  const buffer = new ArrayBuffer(Math.ceil((words * 4) / 16) * 16);
  const u32 = new Uint32Array(buffer);
  const f32 = new Float32Array(buffer);
  let i = 0;
  for (const f of FIELDS) u32[i++] = head[f];
  f32[i++] = slope;
  for (const op of [k.a, k.b]) {
    const o = operandUniforms(op);
    for (const f of OPERAND_FIELDS) u32[i++] = o[f];
    for (const f of OPERAND_FLOATS) f32[i++] = o[f];
  }
  return buffer;
}

function operandUniforms(
  op: Operand,
): Record<(typeof OPERAND_FIELDS)[number] | (typeof OPERAND_FLOATS)[number], number> {
  const base = {
    kind: OPERAND_KINDS[op.kind],
    offset: 0,
    c: 1,
    groupSize: 1,
    statsOff: 0,
    sumsOff: 0,
    gammaOff: 0,
    betaOff: 0,
    act: 0,
    slope: 1,
    count: 1,
    eps: 1,
  };
  if (op.kind === 'plain') return { ...base, offset: op.offset ?? 0 };
  if (op.kind === 'actGrad') return { ...base, ...actCode(op.activation) };
  const bn = op.bn;
  return {
    ...base,
    ...actCode(bn.activation),
    c: bn.channels,
    groupSize: bn.groupSize,
    statsOff: bn.statsOffset,
    sumsOff: bn.sumsOffset,
    gammaOff: bn.gammaOffset,
    betaOff: bn.betaOffset,
    count: bn.groupSize / bn.channels,
    eps: bn.epsilon,
  };
}

/** [tensor, aux] an operand reads: plain (values, –), bnAct (raw, –), actGrad / bnGrad (gradient, output / raw). */
function operandBuffers(op: Operand): [GpuBuffer, GpuBuffer | undefined] {
  if (op.kind === 'plain') return [op.tensor, undefined];
  if (op.kind === 'bnAct') return [op.raw, undefined];
  if (op.kind === 'actGrad') return [op.grad, op.output];
  return [op.grad, op.raw];
}

/**
 * `params` holds the model's weights, biases and BN γ/β; `stats` the BN statistics and gradient sums;
 * `dummy` fills the slots a kernel does not read.
 */
export function convDispatch(
  ctx: GpuContext,
  label: string,
  k: ConvKernel,
  shared: { params: GpuBuffer; stats: GpuBuffer; dummy: GpuBuffer },
): Dispatch {
  const [at, aAux] = operandBuffers(k.a);
  const [bt, bAux] = operandBuffers(k.b);
  for (const op of [k.a, k.b])
    if (
      (op.kind === 'bnAct' || op.kind === 'bnGrad') &&
      (op.bn.params !== shared.params || op.bn.stats !== shared.stats)
    )
      throw new Error(`${label}: batch-norm operand from another parameter or statistics buffer`);
  if (k.bias && k.bias.buffer !== shared.params)
    throw new Error(`${label}: bias outside the parameter buffer`);
  const reads = [at, aAux ?? shared.dummy, bt, bAux ?? shared.dummy, shared.params, shared.stats];
  if (reads.includes(k.out)) throw new Error(`${label}: output ${k.out.name} is also an input`);
  const { M, N, phases } = gemmShape(k.mode, k.geometry);
  return ctx.dispatch(
    label,
    CONV_GEMM_SOURCE,
    [...reads.map((buffer) => ({ buffer, write: false })), { buffer: k.out, write: true }],
    [Math.ceil(N / TILE), Math.ceil(M / TILE), phases],
    uniforms(k),
  );
}
