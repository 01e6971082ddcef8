import * as tf from '@tensorflow/tfjs';

type TensorInfo = tf.TensorInfo;

const stockKernels = new Map<string, tf.KernelFunc>();

/** Remembers tfjs-wasm's own kernel before ours replaces it (first call wins, so this is idempotent). */
export function captureStockKernel(kernelName: string): void {
  if (stockKernels.has(kernelName)) return;
  const kernel = tf.getKernel(kernelName, 'wasm');
  if (kernel) stockKernels.set(kernelName, kernel.kernelFunc);
}

export function stockKernel(kernelName: string): tf.KernelFunc {
  const kernel = stockKernels.get(kernelName);
  if (!kernel) throw new Error(`the stock wasm ${kernelName} kernel was not captured`);
  return kernel;
}

/**
 * Calls another wasm kernel directly, the way tfjs' own kernels compose: no engine bookkeeping and no
 * gradient tape. Every intermediate it returns must be released with `release`.
 */
export function callKernel(
  backend: tf.KernelBackend,
  kernelName: string,
  inputs: Record<string, TensorInfo> | TensorInfo[],
  attrs: Record<string, unknown> = {},
): TensorInfo {
  const kernel = tf.getKernel(kernelName, 'wasm');
  if (!kernel) throw new Error(`kernel ${kernelName} is not registered for the wasm backend`);
  const out = kernel.kernelFunc({
    inputs: inputs as tf.NamedTensorInfoMap,
    backend,
    attrs: attrs as tf.NamedAttrMap,
  });
  if (Array.isArray(out)) throw new Error(`kernel ${kernelName} returned several outputs`);
  return out;
}

export function release(backend: tf.KernelBackend, ...infos: TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

export function transpose(backend: tf.KernelBackend, x: TensorInfo, perm: number[]): TensorInfo {
  return callKernel(backend, 'Transpose', { x }, { perm });
}

export function slice(backend: tf.KernelBackend, x: TensorInfo, begin: number[], size: number[]): TensorInfo {
  return callKernel(backend, 'Slice', { x }, { begin, size });
}

/** Wasm Conv2D (XNNPACK) with explicit per-side padding; NHWC input, HWIO filter. */
export function conv2d(
  backend: tf.KernelBackend,
  x: TensorInfo,
  filter: TensorInfo,
  pad: { top: number; bottom: number; left: number; right: number },
  dilations: [number, number] = [1, 1],
): TensorInfo {
  const out = stockKernel('Conv2D')({
    inputs: { x, filter },
    backend,
    attrs: {
      strides: [1, 1],
      dilations,
      pad: [
        [0, 0],
        [pad.top, pad.bottom],
        [pad.left, pad.right],
        [0, 0],
      ],
      dataFormat: 'NHWC',
    },
  });
  if (Array.isArray(out)) throw new Error('Conv2D returned several outputs');
  return out;
}

/** Concat's kernel takes its inputs as an array, not a named map. */
export function concat(backend: tf.KernelBackend, xs: TensorInfo[], axis: number): TensorInfo {
  return callKernel(backend, 'Concat', xs, { axis });
}

interface WasmHeapBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
}

/** A new float32 tensor on the wasm heap; its contents are garbage until written. */
export function allocate(backend: tf.KernelBackend, shape: number[]): TensorInfo {
  return (backend as unknown as WasmHeapBackend).makeOutput(shape, 'float32');
}

/**
 * The whole wasm heap as floats plus the float index where a tensor starts. Take it AFTER every
 * allocation of the kernel: growing the heap detaches older views.
 */
export function heapFloats(backend: tf.KernelBackend): Float32Array {
  return new Float32Array((backend as unknown as WasmHeapBackend).wasm.HEAPU8.buffer);
}

export function floatOffset(backend: tf.KernelBackend, info: TensorInfo): number {
  const data = (backend as unknown as WasmHeapBackend).dataIdMap.get(info.dataId);
  if (!data) throw new Error('tensor is not on the wasm heap');
  return data.memoryOffset / 4;
}
