/**
 * Convolutions on tiny feature maps (the DCGAN's 3×3 and 6×6 layers) as one big matrix product.
 *
 * XNNPACK's convolution is fast on large maps, but with a 3×3 output and 256–512 channels it spends its
 * time on per-pixel indirection and reaches about half its GEMM speed. Here the data is rearranged in
 * JavaScript (im2col / col2im, cheap at these sizes) and the FLOPs go to one un-transposed BatchMatMul,
 * XNNPACK's fastest path. (Transposed BatchMatMul operands fall off that path in tfjs-wasm 4.22,
 * ~10× slower, so every operand is laid out so that no transpose flag is needed.)
 */
import type * as tf from '@tensorflow/tfjs';
import { allocate, callKernel, floatOffset, heapFloats, release } from './wasm-kernel-call.ts';

type ConvInfo = tf.backend_util.Conv2DInfo;

/**
 * When a conv goes through the GEMM path: output maps of at most `maxOutputPixels` (3×3, 4×4: XNNPACK's
 * conv is slow there at any batch), or at most `maxRows` output pixels over the whole batch (batch-1
 * inference in the explorer, where the per-call filter rearrangement of the conv path dominates).
 * Measured on anime-48 at batch 32: 6×6 maps run at the same speed either way.
 */
const gemmThresholds = { maxOutputPixels: 16, maxRows: 1024 };

/** Tuning and tests: zeros turn the GEMM path off, Infinity routes every conv through it. */
export function setGemmThresholds(thresholds: Partial<typeof gemmThresholds>): void {
  Object.assign(gemmThresholds, thresholds);
}

export function prefersGemm(info: ConvInfo): boolean {
  if (info.dilationHeight !== 1 || info.dilationWidth !== 1) return false;
  const pixels = info.outHeight * info.outWidth;
  return pixels <= gemmThresholds.maxOutputPixels || info.batchSize * pixels <= gemmThresholds.maxRows;
}

function matMul(backend: tf.KernelBackend, a: tf.TensorInfo, b: tf.TensorInfo): tf.TensorInfo {
  return callKernel(backend, 'BatchMatMul', { a, b }, { transposeA: false, transposeB: false });
}

/**
 * a × (b seen as `bShape`), reshaped to `shape`: the product that ends the forward and the filter-gradient
 * conv. Releases `a` and the intermediates.
 */
function productReshaped(
  backend: tf.KernelBackend,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  bShape: number[],
  shape: number[],
): tf.TensorInfo {
  const b3 = callKernel(backend, 'Reshape', { x: b }, { shape: bShape });
  const product = matMul(backend, a, b3);
  release(backend, a, b3);
  const out = callKernel(backend, 'Reshape', { x: product }, { shape });
  release(backend, product);
  return out;
}

/** Where each output pixel's taps read the input: float offset of x[n, y, x, 0], or −1 for padding. */
function tapOffsets(info: ConvInfo): Int32Array {
  const {
    batchSize,
    outHeight,
    outWidth,
    filterHeight: kh,
    filterWidth: kw,
    inHeight,
    inWidth,
    inChannels,
  } = info;
  const { strideHeight: sh, strideWidth: sw } = info;
  const offsets = new Int32Array(batchSize * outHeight * outWidth * kh * kw);
  let o = 0;
  for (let n = 0; n < batchSize; n++) {
    for (let i = 0; i < outHeight; i++) {
      for (let j = 0; j < outWidth; j++) {
        for (let a = 0; a < kh; a++) {
          const y = i * sh + a - info.padInfo.top;
          for (let b = 0; b < kw; b++, o++) {
            const x = j * sw + b - info.padInfo.left;
            offsets[o] =
              y < 0 || y >= inHeight || x < 0 || x >= inWidth
                ? -1
                : ((n * inHeight + y) * inWidth + x) * inChannels;
          }
        }
      }
    }
  }
  return offsets;
}

/** y = conv2d(x, w): cols[M, k²·Ci] (im2col) × w[k²·Ci, Co], M = N·outH·outW. */
export function conv2dGemm(
  backend: tf.KernelBackend,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  info: ConvInfo,
): tf.TensorInfo {
  const { batchSize, outHeight, outWidth, outChannels: co } = info;
  const { rows, depth, ci } = gemmSizes(info);
  const offsets = tapOffsets(info);
  const cols = allocate(backend, [1, rows, depth]);
  const heap = heapFloats(backend);
  const xBase = floatOffset(backend, x);
  let dst = floatOffset(backend, cols);
  for (let t = 0; t < offsets.length; t++, dst += ci) {
    const src = offsets[t]!;
    if (src < 0) heap.fill(0, dst, dst + ci);
    else heap.copyWithin(dst, xBase + src, xBase + src + ci);
  }
  return productReshaped(backend, cols, filter, [1, depth, co], [batchSize, outHeight, outWidth, co]);
}

/** dx = col2im(w[k²·Ci, Co] × dyᵀ[Co, M]). */
export function conv2dBackpropInputGemm(
  backend: tf.KernelBackend,
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  info: ConvInfo,
): tf.TensorInfo {
  const { batchSize, inHeight, inWidth, outChannels: co } = info;
  const { rows, depth, taps, ci } = gemmSizes(info);
  const dyT = allocate(backend, [1, co, rows]);
  const dx = allocate(backend, [batchSize, inHeight, inWidth, ci]);
  {
    const heap = heapFloats(backend);
    transposeInto(heap, floatOffset(backend, dy), rows, co, floatOffset(backend, dyT));
  }
  const w = callKernel(backend, 'Reshape', { x: filter }, { shape: [1, depth, co] });
  const colsT = matMul(backend, w, dyT); // [1, depth, rows]
  release(backend, w, dyT);
  const heap = heapFloats(backend);
  const dxBase = floatOffset(backend, dx);
  heap.fill(0, dxBase, dxBase + batchSize * inHeight * inWidth * ci);
  const colsBase = floatOffset(backend, colsT);
  const offsets = tapOffsets(info);
  for (let m = 0; m < rows; m++) {
    for (let t = 0; t < taps; t++) {
      const target = offsets[m * taps + t]!;
      if (target < 0) continue;
      let src = colsBase + t * ci * rows + m;
      const dst = dxBase + target;
      for (let c = 0; c < ci; c++, src += rows) heap[dst + c]! += heap[src]!;
    }
  }
  release(backend, colsT);
  return dx;
}

/** dw[k²·Ci, Co] = colsᵀ[k²·Ci, M] × dy[M, Co], with colsᵀ built directly (no transposed matmul). */
export function conv2dBackpropFilterGemm(
  backend: tf.KernelBackend,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  info: ConvInfo,
): tf.TensorInfo {
  const { filterHeight: kh, filterWidth: kw, outChannels: co } = info;
  const { rows, depth, taps, ci } = gemmSizes(info);
  const colsT = allocate(backend, [1, depth, rows]);
  const heap = heapFloats(backend);
  const xBase = floatOffset(backend, x);
  const colsBase = floatOffset(backend, colsT);
  const offsets = tapOffsets(info);
  for (let m = 0; m < rows; m++) {
    for (let t = 0; t < taps; t++) {
      const src = offsets[m * taps + t]!;
      let dst = colsBase + t * ci * rows + m;
      if (src < 0) {
        for (let c = 0; c < ci; c++, dst += rows) heap[dst] = 0;
      } else {
        const from = xBase + src;
        for (let c = 0; c < ci; c++, dst += rows) heap[dst] = heap[from + c]!;
      }
    }
  }
  return productReshaped(backend, colsT, dy, [1, rows, co], [kh, kw, ci, co]);
}

/** The product's sizes: M = N·outH·outW rows, k²·Ci deep (taps = k² filter positions). */
function gemmSizes(info: ConvInfo): { rows: number; depth: number; taps: number; ci: number } {
  const taps = info.filterHeight * info.filterWidth;
  const rows = info.batchSize * info.outHeight * info.outWidth;
  return { rows, depth: taps * info.inChannels, taps, ci: info.inChannels };
}

/** dst[c, r] = src[r, c] for a rows × cols matrix, on the heap. */
function transposeInto(heap: Float32Array, src: number, rows: number, cols: number, dst: number): void {
  for (let r = 0; r < rows; r++) {
    let d = dst + r;
    const s = src + r * cols;
    for (let c = 0; c < cols; c++, d += rows) heap[d] = heap[s + c]!;
  }
}
