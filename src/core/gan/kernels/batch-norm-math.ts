/**
 * The fused batch norm + activation's arithmetic (see batch-norm.ts for what it computes and how it is
 * registered with tfjs): plain loops over float views of a backend's memory, no tfjs. The forward and
 * gradient kernels of wasm and cpu are both these functions, so the cpu backend checks exactly what wasm runs.
 */
import type { View } from './kernel-memory.ts';

/**
 * Kernel attributes. `alpha` is the activation's slope for pre-activations ≤ 0: 0 = ReLU, the leak =
 * LeakyReLU, 1 = identity (z > 0 ? z : alpha·z covers all three, as do their gradients).
 */
export interface BatchNormAttrs {
  epsilon: number;
  alpha: number;
}

/** Rows per cache block of the 4-channel column loops: about 32 KB of x. */
function blockRows(channels: number): number {
  return Math.max(1, Math.floor(8192 / channels));
}

/*
 * The loops. JS does not vectorise, so what matters is (1) no data-dependent branch — the activation
 * is y = (z + |z|)·(1 − α)/2 + α·z, and its gradient's mask comes from the sign bits of the stored y
 * (y > 0 ⇔ z > 0 for α ≥ 0), both branch-free; (2) accumulators in registers — when the channel count
 * is a multiple of 4, each pass walks 4 channel columns at a time through a block of rows that stays
 * in cache. Other channel counts take plain row-major loops with the same arithmetic. The four passes
 * spell their blocked loops out on purpose: one shared loop taking the per-element work as a callback
 * would add a call per element (V8 does not inline a callback that differs from pass to pass).
 */

/** 1 where the float with these bits is > 0 (not ±0, not negative), else 0; branch-free. */
function positive(bits: number): number {
  return ((bits | -bits) >>> 31) & ((bits >> 31) + 1);
}

/** Per-channel float64 sums of d = x − pivot and d² (shifting by a sample keeps E[d²] − E[d]² exact enough). */
function sumDeviations(
  x: View,
  pivot: Float64Array,
  rows: number,
  channels: number,
  sum: Float64Array,
  squares: Float64Array,
): void {
  const xa = x.a;
  if (channels % 4 !== 0) {
    let i = x.o;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < channels; c++) {
        const d = xa[i++]! - pivot[c]!;
        sum[c]! += d;
        squares[c]! += d * d;
      }
    }
    return;
  }
  const block = blockRows(channels);
  for (let r0 = 0; r0 < rows; r0 += block) {
    const end = x.o + Math.min(rows, r0 + block) * channels;
    for (let c = 0; c < channels; c += 4) {
      const p0 = pivot[c]!,
        p1 = pivot[c + 1]!,
        p2 = pivot[c + 2]!,
        p3 = pivot[c + 3]!;
      let s0 = 0,
        s1 = 0,
        s2 = 0,
        s3 = 0,
        q0 = 0,
        q1 = 0,
        q2 = 0,
        q3 = 0;
      for (let i = x.o + r0 * channels + c; i < end; i += channels) {
        const d0 = xa[i]! - p0,
          d1 = xa[i + 1]! - p1,
          d2 = xa[i + 2]! - p2,
          d3 = xa[i + 3]! - p3;
        s0 += d0;
        s1 += d1;
        s2 += d2;
        s3 += d3;
        q0 += d0 * d0;
        q1 += d1 * d1;
        q2 += d2 * d2;
        q3 += d3 * d3;
      }
      sum[c]! += s0;
      sum[c + 1]! += s1;
      sum[c + 2]! += s2;
      sum[c + 3]! += s3;
      squares[c]! += q0;
      squares[c + 1]! += q1;
      squares[c + 2]! += q2;
      squares[c + 3]! += q3;
    }
  }
}

/** y = act((x − μ)·scale + shift). */
function normalizeActivate(
  x: View,
  y: View,
  mu: Float64Array,
  scale: Float64Array,
  shift: Float64Array,
  alpha: number,
  rows: number,
  channels: number,
): void {
  const xa = x.a;
  const ya = y.a;
  const h = 0.5 * (1 - alpha);
  const dy = y.o - x.o;
  if (channels % 4 !== 0) {
    let i = x.o;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < channels; c++, i++) {
        const z = (xa[i]! - mu[c]!) * scale[c]! + shift[c]!;
        ya[i + dy] = (z + Math.abs(z)) * h + alpha * z;
      }
    }
    return;
  }
  const block = blockRows(channels);
  for (let r0 = 0; r0 < rows; r0 += block) {
    const end = x.o + Math.min(rows, r0 + block) * channels;
    for (let c = 0; c < channels; c += 4) {
      const m0 = mu[c]!,
        m1 = mu[c + 1]!,
        m2 = mu[c + 2]!,
        m3 = mu[c + 3]!;
      const a0 = scale[c]!,
        a1 = scale[c + 1]!,
        a2 = scale[c + 2]!,
        a3 = scale[c + 3]!;
      const b0 = shift[c]!,
        b1 = shift[c + 1]!,
        b2 = shift[c + 2]!,
        b3 = shift[c + 3]!;
      for (let i = x.o + r0 * channels + c; i < end; i += channels) {
        const z0 = (xa[i]! - m0) * a0 + b0;
        const z1 = (xa[i + 1]! - m1) * a1 + b1;
        const z2 = (xa[i + 2]! - m2) * a2 + b2;
        const z3 = (xa[i + 3]! - m3) * a3 + b3;
        ya[i + dy] = (z0 + Math.abs(z0)) * h + alpha * z0;
        ya[i + dy + 1] = (z1 + Math.abs(z1)) * h + alpha * z1;
        ya[i + dy + 2] = (z2 + Math.abs(z2)) * h + alpha * z2;
        ya[i + dy + 3] = (z3 + Math.abs(z3)) * h + alpha * z3;
      }
    }
  }
}

/** Per-channel float64 Σ g and Σ g·(x − μ), with g = dy·act'(z) read off the sign of y. */
function sumGradients(
  dy: View,
  x: View,
  y: View,
  mu: Float64Array,
  alpha: number,
  rows: number,
  channels: number,
  sumG: Float64Array,
  sumGD: Float64Array,
): void {
  const xa = x.a;
  const ga = dy.a;
  const yb = y.bits;
  const slope = 1 - alpha;
  const toDy = dy.o - x.o;
  const toY = y.o - x.o;
  if (channels % 4 !== 0) {
    let i = x.o;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < channels; c++, i++) {
        const g = ga[i + toDy]! * (alpha + slope * positive(yb[i + toY]!));
        sumG[c]! += g;
        sumGD[c]! += g * (xa[i]! - mu[c]!);
      }
    }
    return;
  }
  const block = blockRows(channels);
  for (let r0 = 0; r0 < rows; r0 += block) {
    const end = x.o + Math.min(rows, r0 + block) * channels;
    for (let c = 0; c < channels; c += 4) {
      const m0 = mu[c]!,
        m1 = mu[c + 1]!,
        m2 = mu[c + 2]!,
        m3 = mu[c + 3]!;
      let s0 = 0,
        s1 = 0,
        s2 = 0,
        s3 = 0,
        t0 = 0,
        t1 = 0,
        t2 = 0,
        t3 = 0;
      for (let i = x.o + r0 * channels + c; i < end; i += channels) {
        const g0 = ga[i + toDy]! * (alpha + slope * positive(yb[i + toY]!));
        const g1 = ga[i + toDy + 1]! * (alpha + slope * positive(yb[i + toY + 1]!));
        const g2 = ga[i + toDy + 2]! * (alpha + slope * positive(yb[i + toY + 2]!));
        const g3 = ga[i + toDy + 3]! * (alpha + slope * positive(yb[i + toY + 3]!));
        s0 += g0;
        s1 += g1;
        s2 += g2;
        s3 += g3;
        t0 += g0 * (xa[i]! - m0);
        t1 += g1 * (xa[i + 1]! - m1);
        t2 += g2 * (xa[i + 2]! - m2);
        t3 += g3 * (xa[i + 3]! - m3);
      }
      sumG[c]! += s0;
      sumG[c + 1]! += s1;
      sumG[c + 2]! += s2;
      sumG[c + 3]! += s3;
      sumGD[c]! += t0;
      sumGD[c + 1]! += t1;
      sumGD[c + 2]! += t2;
      sumGD[c + 3]! += t3;
    }
  }
}

/** dx = a·g + b·(x − μ) + bias per channel. */
function inputGradient(
  dy: View,
  x: View,
  y: View,
  dx: View,
  mu: Float64Array,
  a: Float64Array,
  b: Float64Array,
  bias: Float64Array,
  alpha: number,
  rows: number,
  channels: number,
): void {
  const xa = x.a;
  const ga = dy.a;
  const yb = y.bits;
  const out = dx.a;
  const slope = 1 - alpha;
  const toDy = dy.o - x.o;
  const toY = y.o - x.o;
  const toDx = dx.o - x.o;
  if (channels % 4 !== 0) {
    let i = x.o;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < channels; c++, i++) {
        const g = ga[i + toDy]! * (alpha + slope * positive(yb[i + toY]!));
        out[i + toDx] = a[c]! * g + b[c]! * (xa[i]! - mu[c]!) + bias[c]!;
      }
    }
    return;
  }
  const block = blockRows(channels);
  for (let r0 = 0; r0 < rows; r0 += block) {
    const end = x.o + Math.min(rows, r0 + block) * channels;
    for (let c = 0; c < channels; c += 4) {
      const m0 = mu[c]!,
        m1 = mu[c + 1]!,
        m2 = mu[c + 2]!,
        m3 = mu[c + 3]!;
      const a0 = a[c]!,
        a1 = a[c + 1]!,
        a2 = a[c + 2]!,
        a3 = a[c + 3]!;
      const b0 = b[c]!,
        b1 = b[c + 1]!,
        b2 = b[c + 2]!,
        b3 = b[c + 3]!;
      const k0 = bias[c]!,
        k1 = bias[c + 1]!,
        k2 = bias[c + 2]!,
        k3 = bias[c + 3]!;
      for (let i = x.o + r0 * channels + c; i < end; i += channels) {
        const g0 = ga[i + toDy]! * (alpha + slope * positive(yb[i + toY]!));
        const g1 = ga[i + toDy + 1]! * (alpha + slope * positive(yb[i + toY + 1]!));
        const g2 = ga[i + toDy + 2]! * (alpha + slope * positive(yb[i + toY + 2]!));
        const g3 = ga[i + toDy + 3]! * (alpha + slope * positive(yb[i + toY + 3]!));
        out[i + toDx] = a0 * g0 + b0 * (xa[i]! - m0) + k0;
        out[i + toDx + 1] = a1 * g1 + b1 * (xa[i + 1]! - m1) + k1;
        out[i + toDx + 2] = a2 * g2 + b2 * (xa[i + 2]! - m2) + k2;
        out[i + toDx + 3] = a3 * g3 + b3 * (xa[i + 3]! - m3) + k3;
      }
    }
  }
}

/** Per-channel μ, rstd = 1/√(σ² + ε), scale = γ·rstd, read back from the stored (float32) moments. */
function channelConstants(
  gamma: View,
  beta: View,
  mean: View,
  variance: View,
  channels: number,
  epsilon: number,
): { mu: Float64Array; rstd: Float64Array; scale: Float64Array; shift: Float64Array } {
  const mu = new Float64Array(channels);
  const rstd = new Float64Array(channels);
  const scale = new Float64Array(channels);
  const shift = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    mu[c] = mean.a[mean.o + c]!;
    rstd[c] = 1 / Math.sqrt(variance.a[variance.o + c]! + epsilon);
    scale[c] = gamma.a[gamma.o + c]! * rstd[c]!;
    shift[c] = beta.a[beta.o + c]!;
  }
  return { mu, rstd, scale, shift };
}

/** Forward: batch moments (one pass, stored as float32), then y = act((x − μ)·γ·rstd + β) (second pass). */
export function forwardValues(
  x: View,
  gamma: View,
  beta: View,
  y: View,
  mean: View,
  variance: View,
  rows: number,
  channels: number,
  { epsilon, alpha }: BatchNormAttrs,
): void {
  const pivot = new Float64Array(channels);
  const sum = new Float64Array(channels);
  const squares = new Float64Array(channels);
  for (let c = 0; c < channels; c++) pivot[c] = x.a[x.o + c]!;
  sumDeviations(x, pivot, rows, channels, sum, squares);
  for (let c = 0; c < channels; c++) {
    const meanShifted = sum[c]! / rows;
    mean.a[mean.o + c] = pivot[c]! + meanShifted;
    variance.a[variance.o + c] = Math.max(0, squares[c]! / rows - meanShifted * meanShifted);
  }
  const { mu, scale, shift } = channelConstants(gamma, beta, mean, variance, channels, epsilon);
  normalizeActivate(x, y, mu, scale, shift, alpha, rows, channels);
}

/** The gradient's inputs: dy, the forward pass's inputs and outputs, and dMean / dVariance when those outputs were used. */
export interface GradViews {
  dy: View;
  x: View;
  y: View;
  gamma: View;
  beta: View;
  mean: View;
  variance: View;
  dMean: View | undefined;
  dVariance: View | undefined;
}

/**
 * Backward. With d = x − μ, xhat = d·rstd and g = dy·act'(z):
 *   dβ = Σ g,  dγ = Σ g·xhat,
 *   dx = γ·rstd/M·(M·g − dβ − xhat·dγ) + dMean/M + dVariance·2d/M      (M = rows)
 *      = A·g + B·d + C per channel — one pass for the sums, one for dx; sums in float64.
 */
export function gradValues(
  { dy, x, y, gamma, beta, mean, variance, dMean, dVariance }: GradViews,
  { dx, dGamma, dBeta }: { dx: View; dGamma: View; dBeta: View },
  rows: number,
  channels: number,
  { epsilon, alpha }: BatchNormAttrs,
): void {
  const { mu, rstd, scale } = channelConstants(gamma, beta, mean, variance, channels, epsilon);
  const sumG = new Float64Array(channels);
  const sumGD = new Float64Array(channels);
  sumGradients(dy, x, y, mu, alpha, rows, channels, sumG, sumGD);
  const a = new Float64Array(channels);
  const b = new Float64Array(channels);
  const bias = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    const dBetaC = sumG[c]!;
    const dGammaC = sumGD[c]! * rstd[c]!;
    dBeta.a[dBeta.o + c] = dBetaC;
    dGamma.a[dGamma.o + c] = dGammaC;
    a[c] = scale[c]!;
    b[c] =
      (-scale[c]! * rstd[c]! * dGammaC) / rows + (dVariance ? (2 * dVariance.a[dVariance.o + c]!) / rows : 0);
    bias[c] = (-scale[c]! * dBetaC) / rows + (dMean ? dMean.a[dMean.o + c]! / rows : 0);
  }
  inputGradient(dy, x, y, dx, mu, a, b, bias, alpha, rows, channels);
}
