/**
 * DiffAugment as one kernel and one gradient kernel (wasm heap or cpu arrays, the same loops), instead
 * of a dozen tf ops plus a Gather each way. Browser-safe: only @tensorflow/tfjs.
 *
 * The augmentation is affine in x: colour C (brightness b, saturation s, contrast k, per image), then a
 * pixel mapping R (translation + cutout: output pixel p reads input pixel source[p], or nothing):
 *   y1 = x + b;  y2 = s·(y1 − g) + g with g = mean over channels of y1 (per pixel);
 *   y3 = k·(y2 − m) + m with m = mean of y2 over the image;  out = R·y3.
 * The gradient is Cᵀ·Rᵀ·dy: dy3 = Rᵀ·dy (each source pixel feeds at most one output pixel),
 *   dy2 = k·dy3 + (1 − k)·mean(dy3);  dy1 = s·dy2 + (1 − s)·mean over channels of dy2;  dx = dy1.
 * The reference is recipe/diff-augment.ts's composition of tf ops (`diffAugmentComposed`).
 */
import * as tf from '@tensorflow/tfjs';
import { cpuMemory, wasmMemory, type KernelCall, type KernelMemory, type View } from './kernel-memory.ts';

export const DIFF_AUGMENT = 'KaoDiffAugment';
export const DIFF_AUGMENT_GRAD = 'KaoDiffAugmentGrad';

/** What the kernel needs per batch (tfjs passes attrs through untouched). */
export interface DiffAugmentAttrs {
  /** Per image: brightness shift, saturation factor, contrast factor; undefined = no colour. */
  color: Float32Array | undefined;
  /** Per output pixel (of the whole batch): the input pixel it reads, or −1 for zero; undefined = identity. */
  source: Int32Array | undefined;
}

function attrsOf(call: KernelCall): DiffAugmentAttrs {
  return call.attrs as unknown as DiffAugmentAttrs;
}

/** The kernels' view of an NHWC tensor: [images, pixels, channels]. */
interface Dims {
  images: number;
  pixels: number;
  channels: number;
}

function dims(shape: readonly number[]): Dims {
  const [images, height, width, channels] = shape as [number, number, number, number];
  return { images, pixels: height * width, channels };
}

/** y = R·C·x. */
function forwardValues(x: View, out: View, size: Dims, attrs: DiffAugmentAttrs, scratch: Float32Array): void {
  const { images, pixels, channels } = size;
  const { color, source } = attrs;
  const perImage = pixels * channels;
  // Colour into scratch (the mapping reads it), or straight from x when there is none.
  const coloured = color ? scratch : undefined;
  if (coloured) {
    for (let b = 0; b < images; b++) {
      const bright = color![b * 3]!;
      const sat = color![b * 3 + 1]!;
      const contrast = color![b * 3 + 2]!;
      const base = b * perImage;
      let total = 0;
      for (let p = 0; p < pixels; p++) {
        const o = base + p * channels;
        let grey = 0;
        for (let c = 0; c < channels; c++) grey += x.a[x.o + o + c]! + bright;
        grey /= channels;
        for (let c = 0; c < channels; c++) {
          const v = sat * (x.a[x.o + o + c]! + bright - grey) + grey;
          coloured[o + c] = v;
          total += v;
        }
      }
      const mean = total / perImage;
      for (let i = 0; i < perImage; i++) coloured[base + i] = contrast * (coloured[base + i]! - mean) + mean;
    }
  }
  const read = (i: number) => (coloured ? coloured[i]! : x.a[x.o + i]!);
  const total = images * perImage;
  if (!source) {
    for (let i = 0; i < total; i++) out.a[out.o + i] = read(i);
    return;
  }
  for (let p = 0; p < images * pixels; p++) {
    const src = source[p]!;
    const o = out.o + p * channels;
    if (src < 0) for (let c = 0; c < channels; c++) out.a[o + c] = 0;
    else for (let c = 0; c < channels; c++) out.a[o + c] = read(src * channels + c);
  }
}

/** dx = Cᵀ·Rᵀ·dy. */
function gradValues(dy: View, dx: View, size: Dims, attrs: DiffAugmentAttrs): void {
  const { images, pixels, channels } = size;
  const { color, source } = attrs;
  const perImage = pixels * channels;
  const total = images * perImage;
  // Rᵀ: scatter each output pixel's gradient back to its source (unread pixels get 0).
  if (source) {
    for (let i = 0; i < total; i++) dx.a[dx.o + i] = 0;
    for (let p = 0; p < images * pixels; p++) {
      const src = source[p]!;
      if (src < 0) continue;
      for (let c = 0; c < channels; c++) dx.a[dx.o + src * channels + c] = dy.a[dy.o + p * channels + c]!;
    }
  } else {
    for (let i = 0; i < total; i++) dx.a[dx.o + i] = dy.a[dy.o + i]!;
  }
  if (!color) return;
  // Cᵀ in place: contrast, then saturation (brightness passes the gradient through).
  for (let b = 0; b < images; b++) {
    const sat = color[b * 3 + 1]!;
    const contrast = color[b * 3 + 2]!;
    const base = dx.o + b * perImage;
    let sum = 0;
    for (let i = 0; i < perImage; i++) sum += dx.a[base + i]!;
    const shift = ((1 - contrast) * sum) / perImage;
    for (let i = 0; i < perImage; i++) dx.a[base + i] = contrast * dx.a[base + i]! + shift;
    for (let p = 0; p < pixels; p++) {
      const o = base + p * channels;
      let mean = 0;
      for (let c = 0; c < channels; c++) mean += dx.a[o + c]!;
      mean /= channels;
      for (let c = 0; c < channels; c++) dx.a[o + c] = sat * dx.a[o + c]! + (1 - sat) * mean;
    }
  }
}

function forwardKernel(memory: KernelMemory): (call: KernelCall) => tf.TensorInfo {
  return (call) => {
    const { x } = call.inputs as { x: tf.TensorInfo };
    const size = dims(x.shape);
    const attrs = attrsOf(call);
    const { ins, outs, results } = memory(call.backend, [x], [x.shape]);
    const scratch = new Float32Array(attrs.color ? size.images * size.pixels * size.channels : 0);
    forwardValues(ins[0]!, outs[0]!, size, attrs, scratch);
    return results()[0]!;
  };
}

function gradKernel(memory: KernelMemory): (call: KernelCall) => tf.TensorInfo {
  return (call) => {
    const { dy } = call.inputs as { dy: tf.TensorInfo };
    const { ins, outs, results } = memory(call.backend, [dy], [dy.shape]);
    gradValues(ins[0]!, outs[0]!, dims(dy.shape), attrsOf(call));
    return results()[0]!;
  };
}

let registered = false;

/** Registers both kernels on wasm and cpu and the forward kernel's gradient. Idempotent. */
export function registerDiffAugmentKernels(): void {
  if (registered) return;
  const kernels: Array<[string, string, KernelMemory, typeof forwardKernel]> = [
    [DIFF_AUGMENT, 'wasm', wasmMemory, forwardKernel],
    [DIFF_AUGMENT_GRAD, 'wasm', wasmMemory, gradKernel],
    [DIFF_AUGMENT, 'cpu', cpuMemory, forwardKernel],
    [DIFF_AUGMENT_GRAD, 'cpu', cpuMemory, gradKernel],
  ];
  for (const [kernelName, backendName, memory, make] of kernels) {
    if (!tf.getKernel(kernelName, backendName))
      tf.registerKernel({ kernelName, backendName, kernelFunc: make(memory) as tf.KernelFunc });
  }
  if (!tf.getGradient(DIFF_AUGMENT)) {
    tf.registerGradient({
      kernelName: DIFF_AUGMENT,
      gradFunc: (dy, _saved, attrs) => ({
        x: () => tf.engine().runKernel(DIFF_AUGMENT_GRAD, { dy: dy as tf.Tensor }, attrs) as tf.Tensor,
      }),
    });
  }
  registered = true;
}

/** Whether the active backend has the fused kernel (wasm, cpu); others use the tf-op composition. */
export function hasDiffAugmentKernel(): boolean {
  registerDiffAugmentKernels();
  return tf.getKernel(DIFF_AUGMENT, tf.getBackend()) !== undefined;
}

/** Runs the fused augmentation on x [B, H, W, C] (float32). */
export function diffAugmentKernel(x: tf.Tensor4D, attrs: DiffAugmentAttrs): tf.Tensor4D {
  registerDiffAugmentKernels();
  return tf.engine().runKernel(DIFF_AUGMENT, { x }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}
