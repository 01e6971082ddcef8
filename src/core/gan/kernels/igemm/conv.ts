/**
 * Conv2D, Conv2DBackpropInput and Conv2DBackpropFilter on the project's igemm (see wat.ts): each
 * builds an indirection table of input-row pointers, packs its "B" operand into 8-column panels and
 * makes one igemm call (one per sub-pixel phase for the input gradient). NHWC tensors, HWIO filters.
 *
 * Each returns null where the igemm does not apply (no igemm on this backend, or an output channel
 * count that is not a multiple of 8, like the generator's 3-channel output layer); the caller then
 * takes the stock path.
 */
import type * as tf from '@tensorflow/tfjs';
import { allocate, floatOffset, heapFloats, release, transpose } from '../wasm-kernel-call.ts';
import { axisPhases } from '../sub-pixel-phases.ts';
import { igemmFor, type Igemm } from './module.ts';

type ConvInfo = tf.backend_util.Conv2DInfo;
type TensorInfo = tf.TensorInfo;

/**
 * Block sizes: taps per block so that one 8-column panel of B for the block (taps × channels × 32
 * bytes) stays about 32 KB (L1), and 256 output columns per block (a B block of ≤ 1 MB for L2).
 * Measured on the anime-48 layers at batch 32: 512/128 → 1024/256 is +5–10 %.
 */
const blocking = { depthPerBlock: 1024, columnsPerBlock: 256 };

export function setIgemmBlocking(b: Partial<typeof blocking>): void {
  Object.assign(blocking, b);
}

interface Scratch {
  ind: TensorInfo;
  outRows: TensorInfo;
  packed: TensorInfo;
  zero: TensorInfo;
  /** Heap views, taken after the allocations (growth detaches older views). */
  f32: Float32Array;
  i32: Int32Array;
  /** Byte address of a zeroed row of `channels` floats, the pointer for padding taps. */
  zeroAddr: number;
  /** Float indices where the caller writes the indirection table and the output-row table. */
  indAt: number;
  outRowsAt: number;
  packedAt: number;
}

/**
 * Heap scratch for one igemm call; int32 tables live in float32 tensors of the same byte size. Call it
 * after allocating the kernel's output, so the views it returns stay valid.
 */
function allocateScratch(
  backend: tf.KernelBackend,
  rows: number,
  taps: number,
  channels: number,
  columns: number,
): Scratch {
  const ind = allocate(backend, [Math.max(1, rows * taps)]);
  const outRows = allocate(backend, [Math.max(1, rows)]);
  const packed = allocate(backend, [Math.max(1, taps * channels * columns)]);
  const zero = allocate(backend, [Math.max(4, channels)]);
  const f32 = heapFloats(backend);
  const zeroAt = floatOffset(backend, zero);
  f32.fill(0, zeroAt, zeroAt + Math.max(4, channels));
  return {
    ind,
    outRows,
    packed,
    zero,
    f32,
    i32: new Int32Array(f32.buffer),
    zeroAddr: zeroAt * 4,
    indAt: floatOffset(backend, ind),
    outRowsAt: floatOffset(backend, outRows),
    packedAt: floatOffset(backend, packed),
  };
}

function runIgemm(
  igemm: Igemm,
  s: Scratch,
  rows: number,
  taps: number,
  channels: number,
  columns: number,
): void {
  const tapsPerBlock = Math.max(1, Math.floor(blocking.depthPerBlock / Math.max(1, channels)));
  igemm.igemm(
    rows,
    taps,
    channels,
    columns,
    s.indAt * 4,
    s.packedAt * 4,
    s.outRowsAt * 4,
    tapsPerBlock,
    Math.max(8, blocking.columnsPerBlock - (blocking.columnsPerBlock % 8)),
  );
}

function releaseScratch(backend: tf.KernelBackend, s: Scratch): void {
  release(backend, s.ind, s.outRows, s.packed, s.zero);
}

/**
 * packed[j/8][k][j%8] = matrix[k][j] for a depth × columns row-major matrix at `src` (float index).
 */
function packColumns(f32: Float32Array, src: number, depth: number, columns: number, dst: number): void {
  for (let k = 0; k < depth; k++) {
    const row = src + k * columns;
    for (let j0 = 0; j0 < columns; j0 += 8) {
      const out = dst + (j0 >> 3) * depth * 8 + k * 8;
      for (let u = 0; u < 8; u++) f32[out + u] = f32[row + j0 + u]!;
    }
  }
}

/** y = conv2d(x, w): rows = output pixels, taps = filter taps, channels = input channels. */
export function conv2dIgemm(
  backend: tf.KernelBackend,
  x: TensorInfo,
  filter: TensorInfo,
  info: ConvInfo,
): TensorInfo | null {
  const igemm = igemmFor(backend);
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info;
  // With under 8 input channels (RGB images) each tap is too short for the unrolled loop: XNNPACK's
  // conv is faster there (12 vs 16 ms for the discriminator's first layer at batch 32).
  if (!igemm || outChannels % 8 !== 0 || inChannels < 8) return null;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const { filterHeight: kh, filterWidth: kw } = info;
  const rows = batchSize * outHeight * outWidth;
  const taps = kh * kw;

  const out = allocate(backend, [batchSize, outHeight, outWidth, outChannels]);
  const s = allocateScratch(backend, rows, taps, inChannels, outChannels);
  const { f32, i32, zeroAddr } = s;
  const xAddr = floatOffset(backend, x) * 4;
  const outAddr = floatOffset(backend, out) * 4;
  let p = s.indAt;
  let r = s.outRowsAt;
  const rowBytes = inChannels * 4;
  for (let n = 0, m = 0; n < batchSize; n++) {
    for (let oy = 0; oy < outHeight; oy++) {
      for (let ox = 0; ox < outWidth; ox++, m++) {
        i32[r++] = outAddr + m * outChannels * 4;
        for (let a = 0; a < kh; a++) {
          const iy = oy * sh + a * dh - info.padInfo.top;
          const inRows = iy >= 0 && iy < inHeight;
          for (let b = 0; b < kw; b++) {
            const ix = ox * sw + b * dw - info.padInfo.left;
            i32[p++] =
              inRows && ix >= 0 && ix < inWidth
                ? xAddr + ((n * inHeight + iy) * inWidth + ix) * rowBytes
                : zeroAddr;
          }
        }
      }
    }
  }
  packColumns(f32, floatOffset(backend, filter), taps * inChannels, outChannels, s.packedAt);
  runIgemm(igemm, s, rows, taps, inChannels, outChannels);
  releaseScratch(backend, s);
  return out;
}

/**
 * dx = the transposed convolution of dy. Output pixels with (y + padTop) mod s = p only meet filter
 * taps a = p + s·t (sub-pixel decomposition), from dy row (y + padTop − p)/s − t; so each of the s×s
 * phases is one igemm whose output rows point straight at that phase's pixels of dx.
 */
export function conv2dBackpropInputIgemm(
  backend: tf.KernelBackend,
  dy: TensorInfo,
  filter: TensorInfo,
  info: ConvInfo,
): TensorInfo | null {
  const igemm = igemmFor(backend);
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info;
  if (!igemm || inChannels % 8 !== 0 || info.dilationHeight !== 1 || info.dilationWidth !== 1) return null;
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;

  const dx = allocate(backend, [batchSize, inHeight, inWidth, inChannels]);
  const colPhases = axisPhases(sw, kw, padLeft, inWidth, outWidth);
  for (const { p: py, taps: ty, first: y0, count: ny } of axisPhases(sh, kh, padTop, inHeight, outHeight)) {
    for (const { p: px, taps: tx, first: x0, count: nx } of colPhases) {
      const rows = batchSize * ny * nx;
      if (rows === 0) continue;
      const taps = ty * tx;
      if (taps === 0) {
        // Kernel smaller than the stride: no tap reaches these pixels.
        zeroPhase(backend, dx, info, y0, x0, ny, nx);
        continue;
      }
      const s = allocateScratch(backend, rows, taps, outChannels, inChannels);
      const { f32, i32, zeroAddr } = s;
      const dyAddr = floatOffset(backend, dy) * 4;
      const dxAddr = floatOffset(backend, dx) * 4;
      let p = s.indAt;
      let r = s.outRowsAt;
      for (let n = 0; n < batchSize; n++) {
        for (let j = 0; j < ny; j++) {
          const y = y0 + j * sh;
          const u = (y + padTop - py) / sh;
          for (let i = 0; i < nx; i++) {
            const xx = x0 + i * sw;
            const v = (xx + padLeft - px) / sw;
            i32[r++] = dxAddr + ((n * inHeight + y) * inWidth + xx) * inChannels * 4;
            for (let t = 0; t < ty; t++) {
              const row = u - t;
              const inRows = row >= 0 && row < outHeight;
              for (let t2 = 0; t2 < tx; t2++) {
                const col = v - t2;
                i32[p++] =
                  inRows && col >= 0 && col < outWidth
                    ? dyAddr + ((n * outHeight + row) * outWidth + col) * outChannels * 4
                    : zeroAddr;
              }
            }
          }
        }
      }
      // B[(t, t2, co)][ci] = filter[py + sh·t, px + sw·t2, ci, co], in 8-column panels over ci.
      const depth = taps * outChannels;
      const w = floatOffset(backend, filter);
      const packed = s.packedAt;
      // Reads each filter tap in its own [ci][co] order (contiguous); writes stride 8 floats.
      for (let t = 0, k0 = 0; t < ty; t++) {
        for (let t2 = 0; t2 < tx; t2++, k0 += outChannels) {
          let from = w + ((py + sh * t) * kw + (px + sw * t2)) * inChannels * outChannels;
          for (let ci = 0; ci < inChannels; ci++) {
            let to = packed + (ci >> 3) * depth * 8 + k0 * 8 + (ci & 7);
            for (let co = 0; co < outChannels; co++, to += 8) f32[to] = f32[from++]!;
          }
        }
      }
      runIgemm(igemm, s, rows, taps, outChannels, inChannels);
      releaseScratch(backend, s);
    }
  }
  return dx;
}

function zeroPhase(
  backend: tf.KernelBackend,
  dx: TensorInfo,
  info: ConvInfo,
  y0: number,
  x0: number,
  ny: number,
  nx: number,
): void {
  const f32 = heapFloats(backend);
  const base = floatOffset(backend, dx);
  const { inHeight, inWidth, inChannels, strideHeight: sh, strideWidth: sw } = info;
  for (let n = 0; n < info.batchSize; n++)
    for (let j = 0; j < ny; j++)
      for (let i = 0; i < nx; i++) {
        const at = base + ((n * inHeight + y0 + j * sh) * inWidth + x0 + i * sw) * inChannels;
        f32.fill(0, at, at + inChannels);
      }
}

/**
 * dW[a, b, ci, co] = Σ_{n,i,j} x[n, i·s + a − pad, j·s + b − pad, ci] · dy[n, i, j, co]: rows are the
 * filter entries (a, b, ci) — dW's own layout —, taps the output pixels (i, j) and channels the batch,
 * read from x transposed to [H, W, Ci, N] so each (pixel, ci) has its batch contiguous.
 */
export function conv2dBackpropFilterIgemm(
  backend: tf.KernelBackend,
  x: TensorInfo,
  dy: TensorInfo,
  info: ConvInfo,
): TensorInfo | null {
  const igemm = igemmFor(backend);
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info;
  if (!igemm || outChannels % 8 !== 0 || info.dilationHeight !== 1 || info.dilationWidth !== 1) return null;
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  const rows = kh * kw * inChannels;
  const taps = outHeight * outWidth;
  const channels = batchSize;

  const xT = transpose(backend, x, [1, 2, 3, 0]);
  const dW = allocate(backend, [kh, kw, inChannels, outChannels]);
  const s = allocateScratch(backend, rows, taps, channels, outChannels);
  const { f32, i32, zeroAddr } = s;
  const xAddr = floatOffset(backend, xT) * 4;
  const dwAddr = floatOffset(backend, dW) * 4;
  let p = s.indAt;
  let r = s.outRowsAt;
  for (let a = 0, m = 0; a < kh; a++) {
    for (let b = 0; b < kw; b++) {
      for (let ci = 0; ci < inChannels; ci++, m++) {
        i32[r++] = dwAddr + m * outChannels * 4;
        for (let i = 0; i < outHeight; i++) {
          const iy = i * sh + a - info.padInfo.top;
          const inRows = iy >= 0 && iy < inHeight;
          for (let j = 0; j < outWidth; j++) {
            const ix = j * sw + b - info.padInfo.left;
            i32[p++] =
              inRows && ix >= 0 && ix < inWidth
                ? xAddr + ((iy * inWidth + ix) * inChannels + ci) * channels * 4
                : zeroAddr;
          }
        }
      }
    }
  }
  // B[(i, j, n)][co] = dy[n, i, j, co], in 8-column panels over co.
  const depth = taps * channels;
  const d = floatOffset(backend, dy);
  const packed = s.packedAt;
  for (let n = 0; n < batchSize; n++) {
    for (let t = 0; t < taps; t++) {
      const src = d + (n * taps + t) * outChannels;
      const k = t * channels + n;
      for (let co = 0; co < outChannels; co += 8) {
        const dst = packed + (co >> 3) * depth * 8 + k * 8;
        for (let u = 0; u < 8; u++) f32[dst + u] = f32[src + co + u]!;
      }
    }
  }
  runIgemm(igemm, s, rows, taps, channels, outChannels);
  releaseScratch(backend, s);
  release(backend, xT);
  return dW;
}
