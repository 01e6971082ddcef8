/**
 * Where a hand-written kernel's tensors live, as float views: the whole wasm heap (tfjs-wasm) or the cpu
 * backend's arrays. A kernel body written against `View`s runs on both, so the cpu backend (the pure-JS
 * reference) checks exactly the code wasm runs. Browser-safe.
 */
import * as tf from '@tensorflow/tfjs';
import { allocate, floatOffset, heapFloats } from './wasm-kernel-call.ts';

export type KernelCall = {
  inputs: tf.NamedTensorInfoMap;
  backend: tf.KernelBackend;
  attrs?: tf.NamedAttrMap;
};

/**
 * A float tensor's values: the array they live in (the whole wasm heap, or a cpu array), the same
 * memory as int32 (the gradient reads the sign bits of y) and the index of the first value.
 */
export interface View {
  a: Float32Array;
  bits: Int32Array;
  o: number;
}

export function viewOf(a: Float32Array, o: number): View {
  return { a, bits: new Int32Array(a.buffer, a.byteOffset, a.length), o };
}

/**
 * Where a kernel's tensors live, as views: its inputs (`undefined` stays `undefined`), fresh outputs of
 * these shapes, and `results()` to hand the outputs back to the backend.
 */
export type KernelMemory = (
  backend: tf.KernelBackend,
  inputs: ReadonlyArray<tf.TensorInfo | undefined>,
  outputShapes: ReadonlyArray<readonly number[]>,
) => { ins: Array<View | undefined>; outs: View[]; results: () => tf.TensorInfo[] };

/** Wasm: outputs allocated first (allocation may grow the heap), then every view is into the heap. */
export const wasmMemory: KernelMemory = (backend, inputs, outputShapes) => {
  const outputs = outputShapes.map((shape) => allocate(backend, [...shape]));
  const heap = viewOf(heapFloats(backend), 0);
  const at = (t: tf.TensorInfo): View => ({ ...heap, o: floatOffset(backend, t) });
  return { ins: inputs.map((t) => t && at(t)), outs: outputs.map(at), results: () => outputs };
};

/** Cpu (the pure-JS reference backend): its arrays, and new ones written back as outputs. */
export const cpuMemory: KernelMemory = (backend, inputs, outputShapes) => {
  const view = (t: tf.TensorInfo): View => {
    const values = backend.readSync(t.dataId);
    return viewOf(
      values instanceof Float32Array ? values : Float32Array.from(values as ArrayLike<number>),
      0,
    );
  };
  const arrays = outputShapes.map((shape) => new Float32Array(tf.util.sizeFromShape([...shape])));
  return {
    ins: inputs.map((t) => t && view(t)),
    outs: arrays.map((a) => viewOf(a, 0)),
    results: () =>
      arrays.map((a, i) => {
        const shape = [...outputShapes[i]!];
        return { dataId: backend.write(a, shape, 'float32'), shape, dtype: 'float32' };
      }),
  };
};
