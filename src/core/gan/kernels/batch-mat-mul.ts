import type * as tf from '@tensorflow/tfjs';
import { allocate, callKernel, floatOffset, heapFloats, release, stockKernel } from './wasm-kernel-call.ts';

type MatMulArgs = { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap };

/**
 * BatchMatMul with transposeA/transposeB (the gradients of every dense layer): tfjs-wasm 4.22 only
 * runs the un-transposed product on XNNPACK and falls back to a ~10× slower loop otherwise. Transpose
 * the operand explicitly (one pass over the heap), then take the fast path. Batched (rank > 2 with a
 * batch > 1) products go to the stock kernel unchanged.
 */
export function batchMatMulWasm(args: MatMulArgs): tf.TensorInfo | tf.TensorInfo[] {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = args.attrs as unknown as tf.BatchMatMulAttrs;
  const single = (t: tf.TensorInfo) => t.shape.slice(0, -2).every((d) => d === 1);
  const stock = stockKernel('BatchMatMul');
  if (
    (!transposeA && !transposeB) ||
    a.dtype !== 'float32' ||
    b.dtype !== 'float32' ||
    !single(a) ||
    !single(b)
  ) {
    return stock(args as Parameters<tf.KernelFunc>[0]);
  }
  const { backend } = args;
  const temps: tf.TensorInfo[] = [];
  const plain = (t: tf.TensorInfo, transposed: boolean): tf.TensorInfo => {
    const rows = t.shape.at(-2)!;
    const cols = t.shape.at(-1)!;
    if (!transposed) return callKernel(backend, 'Reshape', { x: t }, { shape: [1, rows, cols] });
    const out = allocate(backend, [1, cols, rows]);
    const heap = heapFloats(backend);
    const src = floatOffset(backend, t);
    const dst = floatOffset(backend, out);
    for (let r = 0; r < rows; r++) {
      let d = dst + r;
      const s = src + r * cols;
      for (let c = 0; c < cols; c++, d += rows) heap[d] = heap[s + c]!;
    }
    return out;
  };
  const a2 = plain(a, transposeA);
  temps.push(a2);
  const b2 = plain(b, transposeB);
  temps.push(b2);
  const out = stock({ inputs: { a: a2, b: b2 }, backend, attrs: { transposeA: false, transposeB: false } });
  release(backend, ...temps);
  if (Array.isArray(out)) throw new Error('BatchMatMul returned several outputs');
  // Keep the rank the caller asked for ([M, N] for 2-D operands).
  const rank = Math.max(a.shape.length, b.shape.length);
  const shape = [...Array<number>(rank - 2).fill(1), out.shape.at(-2)!, out.shape.at(-1)!];
  const reshaped = callKernel(backend, 'Reshape', { x: out }, { shape });
  release(backend, out);
  return reshaped;
}
