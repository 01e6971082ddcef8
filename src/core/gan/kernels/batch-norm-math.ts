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

/** Rows per cache block of the column loops: about 32 KB of x. */
function blockRows(channels: number): number {
  return Math.max(1, Math.floor(8192 / channels));
}

/*
 * The loops. JS does not vectorise, so what matters is (1) no data-dependent branch — the activation
 * is y = (z + |z|)·(1 − α)/2 + α·z, and its gradient's mask comes from the sign bits of the stored y
 * (y > 0 ⇔ z > 0 for α ≥ 0), both branch-free; (2) accumulators in registers — each pass walks 4
 * channel columns at a time through a block of rows that stays in cache. `forEachRowBlock` cuts the
 * rows into those blocks; each pass's body then walks a block's 4-column groups with its own element
 * loops, spelled out on purpose: one shared element loop taking the per-element work as a callback
 * would add a call per element (V8 does not inline a callback that differs from pass to pass), and
 * even a call per group measured 5–10 % slower at 512 channels, where a group of a block is 64 elements.
 */

/**
 * Calls `fours(first, end)` for each block of rows of a [rows, channels] array at `origin` (x's indices
 * first … end − 1; it takes the 4-column groups), then `one(c, first + c, end)` for each channel c left
 * over when the count is not a multiple of 4 (its elements at first + c, first + c + channels, …).
 */
function forEachRowBlock(
  origin: number,
  rows: number,
  channels: number,
  fours: (first: number, end: number) => void,
  one: (c: number, first: number, end: number) => void,
): void {
  const block = blockRows(channels);
  for (let r0 = 0; r0 < rows; r0 += block) {
    const first = origin + r0 * channels;
    const end = origin + Math.min(rows, r0 + block) * channels;
    fours(first, end);
    for (let c = channels - (channels % 4); c < channels; c++) one(c, first + c, end);
  }
}

/** to[c … c + 3] += v0 … v3. */
function addFour(to: Float64Array, c: number, v0: number, v1: number, v2: number, v3: number): void {
  to[c]! += v0;
  to[c + 1]! += v1;
  to[c + 2]! += v2;
  to[c + 3]! += v3;
}

/** 1 where the float with these bits is > 0 (not ±0, not negative), else 0; branch-free. */
function positive(bits: number): number {
  return ((bits | -bits) >>> 31) & ((bits >> 31) + 1);
}

/**
 * What the gradient's passes read for g = dy·act'(z) at x's index i:
 * ga[i + toDy]·(alpha + slope·positive(yb[i + toY])), the mask read off the sign of the stored y.
 */
interface Gate {
  ga: Float32Array;
  yb: Int32Array;
  toDy: number;
  toY: number;
  alpha: number;
  slope: number;
}

function gateOf(dy: View, y: View, x: View, alpha: number): Gate {
  return { ga: dy.a, yb: y.bits, toDy: dy.o - x.o, toY: y.o - x.o, alpha, slope: 1 - alpha };
}

/**
 * Per-channel float64 Σ u and Σ u·(x − center), added into sumU and sumUD. Without a gate u = x − center:
 * the forward pass's moments about a sample of each channel (Σ d and Σ d²; shifting keeps E[d²] − E[d]²
 * exact enough). With the gradient's gate and center = μ, u = g: Σ g and Σ g·(x − μ).
 */
function centeredSums(
  x: View,
  center: Float64Array,
  gate: Gate | undefined,
  rows: number,
  channels: number,
  sumU: Float64Array,
  sumUD: Float64Array,
): void {
  const fours = (first: number, end: number): void => {
    const xa = x.a;
    for (let c = 0; c + 3 < channels; c += 4) {
      const m0 = center[c]!,
        m1 = center[c + 1]!,
        m2 = center[c + 2]!,
        m3 = center[c + 3]!;
      let s0 = 0,
        s1 = 0,
        s2 = 0,
        s3 = 0;
      let t0 = 0,
        t1 = 0,
        t2 = 0,
        t3 = 0;
      if (gate === undefined) {
        for (let i = first + c; i < end; i += channels) {
          const d0 = xa[i]! - m0,
            d1 = xa[i + 1]! - m1,
            d2 = xa[i + 2]! - m2,
            d3 = xa[i + 3]! - m3;
          s0 += d0;
          s1 += d1;
          s2 += d2;
          s3 += d3;
          t0 += d0 * d0;
          t1 += d1 * d1;
          t2 += d2 * d2;
          t3 += d3 * d3;
        }
      } else {
        const { ga, yb, toDy, toY, alpha, slope } = gate;
        for (let i = first + c; i < end; i += channels) {
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
      }
      addFour(sumU, c, s0, s1, s2, s3);
      addFour(sumUD, c, t0, t1, t2, t3);
    }
  };
  const one = (c: number, first: number, end: number): void => {
    const xa = x.a;
    const m = center[c]!;
    let s = 0;
    let t = 0;
    if (gate === undefined) {
      for (let i = first; i < end; i += channels) {
        const d = xa[i]! - m;
        s += d;
        t += d * d;
      }
    } else {
      const { ga, yb, toDy, toY, alpha, slope } = gate;
      for (let i = first; i < end; i += channels) {
        const g = ga[i + toDy]! * (alpha + slope * positive(yb[i + toY]!));
        s += g;
        t += g * (xa[i]! - m);
      }
    }
    sumU[c]! += s;
    sumUD[c]! += t;
  };
  forEachRowBlock(x.o, rows, channels, fours, one);
}

/**
 * out = scale·(x − μ) + shift per channel, then what `after` says: the activation of slope α (the forward
 * pass, y = act((x − μ)·γ·rstd + β)), or plus a·g with the gradient's gate (the input gradient
 * dx = A·g + B·(x − μ) + C, see gradValues).
 */
function affinePass(
  x: View,
  out: View,
  mu: Float64Array,
  scale: Float64Array,
  shift: Float64Array,
  after: { alpha: number } | { gate: Gate; a: Float64Array },
  rows: number,
  channels: number,
): void {
  const fours = (first: number, end: number): void => {
    const xa = x.a;
    const oa = out.a;
    const toOut = out.o - x.o;
    for (let c = 0; c + 3 < channels; c += 4) {
      const m0 = mu[c]!,
        m1 = mu[c + 1]!,
        m2 = mu[c + 2]!,
        m3 = mu[c + 3]!;
      const b0 = scale[c]!,
        b1 = scale[c + 1]!,
        b2 = scale[c + 2]!,
        b3 = scale[c + 3]!;
      const k0 = shift[c]!,
        k1 = shift[c + 1]!,
        k2 = shift[c + 2]!,
        k3 = shift[c + 3]!;
      if ('alpha' in after) {
        const { alpha } = after;
        const h = 0.5 * (1 - alpha);
        for (let i = first + c; i < end; i += channels) {
          const z0 = (xa[i]! - m0) * b0 + k0;
          const z1 = (xa[i + 1]! - m1) * b1 + k1;
          const z2 = (xa[i + 2]! - m2) * b2 + k2;
          const z3 = (xa[i + 3]! - m3) * b3 + k3;
          oa[i + toOut] = (z0 + Math.abs(z0)) * h + alpha * z0;
          oa[i + toOut + 1] = (z1 + Math.abs(z1)) * h + alpha * z1;
          oa[i + toOut + 2] = (z2 + Math.abs(z2)) * h + alpha * z2;
          oa[i + toOut + 3] = (z3 + Math.abs(z3)) * h + alpha * z3;
        }
        continue;
      }
      const { ga, yb, toDy, toY, alpha, slope } = after.gate;
      const { a } = after;
      const a0 = a[c]!,
        a1 = a[c + 1]!,
        a2 = a[c + 2]!,
        a3 = a[c + 3]!;
      for (let i = first + c; i < end; i += channels) {
        const g0 = ga[i + toDy]! * (alpha + slope * positive(yb[i + toY]!));
        const g1 = ga[i + toDy + 1]! * (alpha + slope * positive(yb[i + toY + 1]!));
        const g2 = ga[i + toDy + 2]! * (alpha + slope * positive(yb[i + toY + 2]!));
        const g3 = ga[i + toDy + 3]! * (alpha + slope * positive(yb[i + toY + 3]!));
        oa[i + toOut] = a0 * g0 + b0 * (xa[i]! - m0) + k0;
        oa[i + toOut + 1] = a1 * g1 + b1 * (xa[i + 1]! - m1) + k1;
        oa[i + toOut + 2] = a2 * g2 + b2 * (xa[i + 2]! - m2) + k2;
        oa[i + toOut + 3] = a3 * g3 + b3 * (xa[i + 3]! - m3) + k3;
      }
    }
  };
  const one = (c: number, first: number, end: number): void => {
    const xa = x.a;
    const oa = out.a;
    const toOut = out.o - x.o;
    const m = mu[c]!;
    const b = scale[c]!;
    const k = shift[c]!;
    if ('alpha' in after) {
      const { alpha } = after;
      const h = 0.5 * (1 - alpha);
      for (let i = first; i < end; i += channels) {
        const z = (xa[i]! - m) * b + k;
        oa[i + toOut] = (z + Math.abs(z)) * h + alpha * z;
      }
      return;
    }
    const { ga, yb, toDy, toY, alpha, slope } = after.gate;
    const a = after.a[c]!;
    for (let i = first; i < end; i += channels) {
      const g = ga[i + toDy]! * (alpha + slope * positive(yb[i + toY]!));
      oa[i + toOut] = a * g + b * (xa[i]! - m) + k;
    }
  };
  forEachRowBlock(x.o, rows, channels, fours, one);
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
  centeredSums(x, pivot, undefined, rows, channels, sum, squares);
  for (let c = 0; c < channels; c++) {
    const meanShifted = sum[c]! / rows;
    mean.a[mean.o + c] = pivot[c]! + meanShifted;
    variance.a[variance.o + c] = Math.max(0, squares[c]! / rows - meanShifted * meanShifted);
  }
  const { mu, scale, shift } = channelConstants(gamma, beta, mean, variance, channels, epsilon);
  affinePass(x, y, mu, scale, shift, { alpha }, rows, channels);
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
  const gate = gateOf(dy, y, x, alpha);
  centeredSums(x, mu, gate, rows, channels, sumG, sumGD);
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
  affinePass(x, dx, mu, b, bias, { gate, a }, rows, channels);
}
