import type * as tf from '@tensorflow/tfjs';
import { convGradientKernel, type ConvPath } from './conv2d.ts';
import { axisPhases } from './sub-pixel-phases.ts';
import { allocate, conv2d, floatOffset, heapFloats, release, slice } from './wasm-kernel-call.ts';

interface Phase {
  /** Output phase along rows/columns: the pixels y with (y + padTop) mod stride = p. */
  py: number;
  px: number;
  /** Filter taps this phase uses (p, p+s, p+2s, … below the kernel size). */
  ty: number;
  tx: number;
  /** First output pixel of the phase and how many it has. */
  y0: number;
  x0: number;
  rows: number;
  cols: number;
  /** dy window the phase conv reads, with the zero padding around it. */
  dyRow0: number;
  dyCol0: number;
  dyRows: number;
  dyCols: number;
  pad: { top: number; bottom: number; left: number; right: number };
}

/** The phase convolutions described below, on XNNPACK. */
const phaseConvs: ConvPath = (backend, dy, filter, info) => {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;

  const rowPhases = axisPhases(sh, kh, info.padInfo.top, inHeight, outHeight);
  const colPhases = axisPhases(sw, kw, info.padInfo.left, inWidth, outWidth);
  const phases: Phase[] = [];
  for (const r of rowPhases) {
    for (const c of colPhases) {
      // No pixels, or no taps (kernel smaller than the stride): that phase of dx stays zero.
      if (r.count === 0 || c.count === 0 || r.taps === 0 || c.taps === 0) continue;
      phases.push({
        py: r.p,
        px: c.p,
        ty: r.taps,
        tx: c.taps,
        y0: r.first,
        x0: c.first,
        rows: r.count,
        cols: c.count,
        dyRow0: r.dyStart,
        dyCol0: c.dyStart,
        dyRows: r.dyCount,
        dyCols: c.dyCount,
        pad: { top: r.padBefore, bottom: r.padAfter, left: c.padBefore, right: c.padAfter },
      });
    }
  }

  const dx = allocate(backend, [batchSize, inHeight, inWidth, inChannels]);
  const covered = phases.reduce((n, p) => n + p.rows * p.cols, 0);
  if (covered !== inHeight * inWidth)
    heapFloats(backend).fill(
      0,
      floatOffset(backend, dx),
      floatOffset(backend, dx) + batchSize * inHeight * inWidth * inChannels,
    );

  for (const phase of phases) {
    const phaseFilter = makePhaseFilter(backend, filter, phase, sh, sw, kw, inChannels, outChannels);
    let dyWindow = dy;
    const windowed =
      phase.dyRow0 !== 0 || phase.dyCol0 !== 0 || phase.dyRows !== outHeight || phase.dyCols !== outWidth;
    if (windowed)
      dyWindow = slice(
        backend,
        dy,
        [0, phase.dyRow0, phase.dyCol0, 0],
        [batchSize, phase.dyRows, phase.dyCols, outChannels],
      );
    const out = conv2d(backend, dyWindow, phaseFilter, phase.pad);
    scatterPhase(backend, out, dx, phase, sh, sw, inHeight, inWidth, inChannels, batchSize);
    release(backend, phaseFilter, out);
    if (windowed) release(backend, dyWindow);
  }
  return dx;
};

/**
 * Conv2DBackpropInput for the wasm backend, replacing the stock one (a naive loop at ~4 GFLOP/s). It
 * is the gradient of every strided conv AND the forward pass of the generator's transposed convs.
 *
 * Sub-pixel decomposition: an output pixel y with (y + padTop) = u·s + p only receives filter taps
 * a ≡ p (mod s), from dy rows u, u−1, …; so each of the s×s output phases is an ordinary stride-1
 * conv of dy with the reversed taps of that phase. Each phase conv computes exactly its own pixels
 * (no zero taps, no wasted border), runs on XNNPACK, and the phases are interleaved into dx. (Kao's
 * igemm and the GEMM path come first where they apply, see fastConv.)
 */
export const conv2dBackpropInputWasm = convGradientKernel('Conv2DBackpropInput', phaseConvs);

/** phaseFilter[t', u', co, ci] = filter[py + sh·(ty−1−t'), px + sw·(tx−1−u'), ci, co], built on the heap. */
function makePhaseFilter(
  backend: tf.KernelBackend,
  filter: tf.TensorInfo,
  phase: Phase,
  sh: number,
  sw: number,
  kw: number,
  inChannels: number,
  outChannels: number,
): tf.TensorInfo {
  const { ty, tx, py, px } = phase;
  const out = allocate(backend, [ty, tx, outChannels, inChannels]);
  const heap = heapFloats(backend);
  const src = floatOffset(backend, filter);
  let dst = floatOffset(backend, out);
  for (let t = 0; t < ty; t++) {
    const a = py + sh * (ty - 1 - t);
    for (let u = 0; u < tx; u++) {
      const b = px + sw * (tx - 1 - u);
      const tap = src + (a * kw + b) * inChannels * outChannels;
      // The tap is [ci][co]; the conv filter wants [co][ci].
      for (let co = 0; co < outChannels; co++) {
        let from = tap + co;
        for (let ci = 0; ci < inChannels; ci++, from += outChannels) heap[dst++] = heap[from]!;
      }
    }
  }
  return out;
}

/** Copies a phase's [N, rows, cols, C] result to dx[n, y0 + j·sh, x0 + i·sw, :]. */
function scatterPhase(
  backend: tf.KernelBackend,
  phaseOut: tf.TensorInfo,
  dx: tf.TensorInfo,
  phase: Phase,
  sh: number,
  sw: number,
  height: number,
  width: number,
  channels: number,
  batch: number,
): void {
  const heap = heapFloats(backend);
  let src = floatOffset(backend, phaseOut);
  const base = floatOffset(backend, dx);
  for (let n = 0; n < batch; n++) {
    for (let j = 0; j < phase.rows; j++) {
      const rowStart = base + ((n * height + phase.y0 + j * sh) * width + phase.x0) * channels;
      for (let i = 0; i < phase.cols; i++, src += channels) {
        const dst = rowStart + i * sw * channels;
        if (channels >= 16) heap.copyWithin(dst, src, src + channels);
        else for (let c = 0; c < channels; c++) heap[dst + c] = heap[src + c]!;
      }
    }
  }
}
