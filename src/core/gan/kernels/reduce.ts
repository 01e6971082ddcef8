import * as tf from '@tensorflow/tfjs';
import { allocate, floatOffset, heapFloats, stockKernel } from './wasm-kernel-call.ts';

type ReduceArgs = { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap };

/**
 * Sum / Mean over every axis but the last — the per-channel reductions of batch norm and of bias and
 * BN-parameter gradients on NHWC tensors. tfjs-wasm 4.22 first transposes the reduced axes to the end
 * (a full copy of the activation); here one pass accumulates rows straight off the heap (in float64).
 * Any other reduction goes to the stock kernel.
 */
function leadingAxesReduce(kernelName: 'Sum' | 'Mean') {
  return (args: ReduceArgs): tf.TensorInfo | tf.TensorInfo[] => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs;
    const rank = x.shape.length;
    const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
    const leading = rank >= 2 && axes.length === rank - 1 && axes.every((a, i) => a === i);
    if (x.dtype !== 'float32' || !leading)
      return stockKernel(kernelName)(args as Parameters<tf.KernelFunc>[0]);
    const { backend } = args;
    const channels = x.shape[rank - 1]!;
    const rows = tf.util.sizeFromShape(x.shape) / channels;
    const out = allocate(backend, keepDims ? [...Array<number>(rank - 1).fill(1), channels] : [channels]);
    const heap = heapFloats(backend);
    const acc = new Float64Array(channels);
    let o = floatOffset(backend, x);
    for (let r = 0; r < rows; r++) for (let c = 0; c < channels; c++) acc[c]! += heap[o++]!;
    const scale = kernelName === 'Mean' ? 1 / rows : 1;
    const dst = floatOffset(backend, out);
    for (let c = 0; c < channels; c++) heap[dst + c] = acc[c]! * scale;
    return out;
  };
}

export const sumWasm = leadingAxesReduce('Sum');
export const meanWasm = leadingAxesReduce('Mean');
