/**
 * Conv2D, Conv2DBackpropInput and Conv2DBackpropFilter on the project's igemm (see wat.ts): each
 * builds an indirection table of input-row pointers, packs its "B" operand into 8-column panels and
 * makes one igemm call (one per sub-pixel phase for the input gradient). NHWC tensors, HWIO filters.
 *
 * `convIgemm` runs one of them, or returns null where the igemm does not apply (see there); the caller
 * then takes another path.
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

/** Runs the igemm on a filled Scratch, then releases it. */
function runIgemm(
  backend: tf.KernelBackend,
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
  release(backend, s.ind, s.outRows, s.packed, s.zero);
}

/** One axis of an output row's taps: `taps` taps `step` pixels apart, over an image `size` pixels long. */
type TapAxis = [taps: number, step: number, size: number];

/**
 * Where an output row's taps read: tap (t, u), t < ty and u < tx, reads input pixel (y0 + t·dy, x0 + u·dx)
 * of a height × width image whose pixel (y, x) starts at byte origin + (y·width + x)·pixelBytes (y0, x0
 * and origin are the row's own), or the zero row where that pixel is outside the image (padding).
 */
interface TapGrid {
  ty: number;
  dy: number;
  height: number;
  tx: number;
  dx: number;
  width: number;
  pixelBytes: number;
}

function tapGrid([ty, dy, height]: TapAxis, [tx, dx, width]: TapAxis, pixelBytes: number): TapGrid {
  return { ty, dy, height, tx, dx, width, pixelBytes };
}

/** Writes output row m of a Scratch's tables: where its output goes, and what its taps read (see TapGrid). */
function writeRow(
  s: Scratch,
  grid: TapGrid,
  m: number,
  outAddr: number,
  origin: number,
  y0: number,
  x0: number,
): void {
  const { i32, zeroAddr } = s;
  const { ty, dy, height, tx, dx, width, pixelBytes } = grid;
  i32[s.outRowsAt + m] = outAddr;
  let p = s.indAt + m * ty * tx;
  for (let t = 0; t < ty; t++) {
    const y = y0 + t * dy;
    const inRows = y >= 0 && y < height;
    for (let u = 0; u < tx; u++) {
      const x = x0 + u * dx;
      i32[p++] = inRows && x >= 0 && x < width ? origin + (y * width + x) * pixelBytes : zeroAddr;
    }
  }
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

/** The three convolutions of a conv layer, by their tfjs kernel names. */
export type ConvOp = 'Conv2D' | 'Conv2DBackpropInput' | 'Conv2DBackpropFilter';

/** One op on the igemm, where it applies; `a` and `b` are its operands in the order tfjs names them. */
type OnIgemm = (
  backend: tf.KernelBackend,
  igemm: Igemm,
  a: TensorInfo,
  b: TensorInfo,
  info: ConvInfo,
) => TensorInfo;

/**
 * The op on the igemm: its output, or null where the igemm does not apply. That is with no igemm on this
 * backend; output channels (the igemm's columns, in 8-column panels) that are not a multiple of 8, like
 * the generator's 3-channel output layer; dilated gradients; and Conv2D over under 8 input channels (RGB
 * images), where each tap is too short for the unrolled loop: XNNPACK's conv is faster there (12 vs 16 ms
 * for the discriminator's first layer at batch 32).
 */
export function convIgemm(
  op: ConvOp,
  backend: tf.KernelBackend,
  a: TensorInfo,
  b: TensorInfo,
  info: ConvInfo,
): TensorInfo | null {
  const igemm = igemmFor(backend);
  if (!igemm) return null;
  const { inChannels, outChannels } = info;
  const dilated = info.dilationHeight !== 1 || info.dilationWidth !== 1;
  let run: OnIgemm | null;
  if (op === 'Conv2D') run = outChannels % 8 === 0 && inChannels >= 8 ? conv2dOnIgemm : null;
  else if (op === 'Conv2DBackpropInput') run = inChannels % 8 === 0 && !dilated ? backpropInputOnIgemm : null;
  else run = outChannels % 8 === 0 && !dilated ? backpropFilterOnIgemm : null;
  return run && run(backend, igemm, a, b, info);
}

/** y = conv2d(x, w): rows = output pixels, taps = filter taps, channels = input channels. */
const conv2dOnIgemm: OnIgemm = (backend, igemm, x, filter, info) => {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const { filterHeight: kh, filterWidth: kw } = info;
  const rows = batchSize * outHeight * outWidth;
  const taps = kh * kw;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;

  const out = allocate(backend, [batchSize, outHeight, outWidth, outChannels]);
  const s = allocateScratch(backend, rows, taps, inChannels, outChannels);
  const grid = tapGrid([kh, dh, inHeight], [kw, dw, inWidth], inChannels * 4);
  const xAddr = floatOffset(backend, x) * 4;
  const outAddr = floatOffset(backend, out) * 4;
  const rowBytes = outChannels * 4;
  for (let n = 0, m = 0; n < batchSize; n++) {
    const image = xAddr + n * inHeight * inWidth * inChannels * 4;
    for (let oy = 0; oy < outHeight; oy++) {
      const y0 = oy * sh - padTop;
      for (let ox = 0; ox < outWidth; ox++, m++)
        writeRow(s, grid, m, outAddr + m * rowBytes, image, y0, ox * sw - padLeft);
    }
  }
  packColumns(s.f32, floatOffset(backend, filter), taps * inChannels, outChannels, s.packedAt);
  runIgemm(backend, igemm, s, rows, taps, inChannels, outChannels);
  return out;
};

/**
 * dx = the transposed convolution of dy. Output pixels with (y + padTop) mod s = p only meet filter
 * taps a = p + s·t (sub-pixel decomposition), from dy row (y + padTop − p)/s − t; so each of the s×s
 * phases is one igemm whose output rows point straight at that phase's pixels of dx.
 */
const backpropInputOnIgemm: OnIgemm = (backend, igemm, dy, filter, info) => {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;

  const dx = allocate(backend, [batchSize, inHeight, inWidth, inChannels]);
  // A kernel smaller than the stride leaves the phases p ≥ kernel without taps: their pixels are 0 (the
  // phases with taps overwrite the others).
  if (kh < sh || kw < sw) {
    const at = floatOffset(backend, dx);
    heapFloats(backend).fill(0, at, at + batchSize * inHeight * inWidth * inChannels);
  }
  const colPhases = axisPhases(sw, kw, padLeft, inWidth, outWidth);
  for (const { p: py, taps: ty, first: y0, count: ny } of axisPhases(sh, kh, padTop, inHeight, outHeight)) {
    for (const { p: px, taps: tx, first: x0, count: nx } of colPhases) {
      const rows = batchSize * ny * nx;
      const taps = ty * tx;
      if (rows === 0 || taps === 0) continue;
      const s = allocateScratch(backend, rows, taps, outChannels, inChannels);
      // Output pixel (y, x) reads dy rows u − t and columns v − t2, with (u, v) = ((y, x) + pad − p) / s.
      const grid = tapGrid([ty, -1, outHeight], [tx, -1, outWidth], outChannels * 4);
      const dyAddr = floatOffset(backend, dy) * 4;
      const dxAddr = floatOffset(backend, dx) * 4;
      for (let n = 0, m = 0; n < batchSize; n++) {
        const image = dyAddr + n * outHeight * outWidth * outChannels * 4;
        for (let y = y0; y < y0 + ny * sh; y += sh) {
          const u = (y + padTop - py) / sh;
          for (let x = x0; x < x0 + nx * sw; x += sw, m++) {
            const pixel = (n * inHeight + y) * inWidth + x;
            writeRow(s, grid, m, dxAddr + pixel * inChannels * 4, image, u, (x + padLeft - px) / sw);
          }
        }
      }
      // B[(t, t2, co)][ci] = filter[py + sh·t, px + sw·t2, ci, co], in 8-column panels over ci.
      const depth = taps * outChannels;
      const w = floatOffset(backend, filter);
      const { f32, packedAt } = s;
      // Reads each filter tap in its own [ci][co] order (contiguous); writes stride 8 floats.
      for (let t = 0, k0 = 0; t < ty; t++) {
        for (let t2 = 0; t2 < tx; t2++, k0 += outChannels) {
          let from = w + ((py + sh * t) * kw + (px + sw * t2)) * inChannels * outChannels;
          for (let ci = 0; ci < inChannels; ci++) {
            let to = packedAt + (ci >> 3) * depth * 8 + k0 * 8 + (ci & 7);
            for (let co = 0; co < outChannels; co++, to += 8) f32[to] = f32[from++]!;
          }
        }
      }
      runIgemm(backend, igemm, s, rows, taps, outChannels, inChannels);
    }
  }
  return dx;
};

/**
 * dW[a, b, ci, co] = Σ_{n,i,j} x[n, i·s + a − pad, j·s + b − pad, ci] · dy[n, i, j, co]: rows are the
 * filter entries (a, b, ci) — dW's own layout —, taps the output pixels (i, j) and channels the batch,
 * read from x transposed to [H, W, Ci, N] so each (pixel, ci) has its batch contiguous.
 */
const backpropFilterOnIgemm: OnIgemm = (backend, igemm, x, dy, info) => {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  const rows = kh * kw * inChannels;
  const taps = outHeight * outWidth;
  const channels = batchSize;
  const pixelBytes = inChannels * channels * 4;

  const xT = transpose(backend, x, [1, 2, 3, 0]);
  const dW = allocate(backend, [kh, kw, inChannels, outChannels]);
  const s = allocateScratch(backend, rows, taps, channels, outChannels);
  const grid = tapGrid([outHeight, sh, inHeight], [outWidth, sw, inWidth], pixelBytes);
  const xAddr = floatOffset(backend, xT) * 4;
  const dwAddr = floatOffset(backend, dW) * 4;
  for (let a = 0, m = 0; a < kh; a++) {
    for (let b = 0; b < kw; b++) {
      const y0 = a - info.padInfo.top;
      const x0 = b - info.padInfo.left;
      for (let ci = 0; ci < inChannels; ci++, m++)
        writeRow(s, grid, m, dwAddr + m * outChannels * 4, xAddr + ci * channels * 4, y0, x0);
    }
  }
  // B[(i, j, n)][co] = dy[n, i, j, co], in 8-column panels over co.
  const depth = taps * channels;
  const d = floatOffset(backend, dy);
  const { f32, packedAt } = s;
  for (let n = 0; n < batchSize; n++) {
    for (let t = 0; t < taps; t++) {
      const src = d + (n * taps + t) * outChannels;
      const k = t * channels + n;
      for (let co = 0; co < outChannels; co += 8) {
        const dst = packedAt + (co >> 3) * depth * 8 + k * 8;
        for (let u = 0; u < 8; u++) f32[dst + u] = f32[src + co + u]!;
      }
    }
  }
  runIgemm(backend, igemm, s, rows, taps, channels, outChannels);
  release(backend, xT);
  return dW;
};
