import * as tf from '@tensorflow/tfjs';
import { conv2dBackpropFilterGemm, conv2dBackpropInputGemm, conv2dGemm, prefersGemm } from './gemm-conv.ts';
import { convIgemm, type ConvOp } from './igemm/conv.ts';
import type { KernelCall } from './kernel-memory.ts';
import { stockKernel } from './wasm-kernel-call.ts';

type Shape4 = [number, number, number, number];
type ConvInfo = tf.backend_util.Conv2DInfo;

/** The geometry attrs of a conv op; the gradients name the forward conv's input or filter shape too. */
type ConvAttrs = Pick<tf.Conv2DAttrs, 'strides' | 'pad' | 'dimRoundingMode' | 'dataFormat'> & {
  dilations?: tf.Conv2DAttrs['dilations'];
  inputShape?: Shape4;
  filterShape?: Shape4;
};

/**
 * A channels-last (NHWC) conv's geometry: the forward conv of Conv2D and of both its gradients. `kernel`
 * names the caller in the error for another data format.
 */
export function nhwcConvInfo(
  kernel: string,
  xShape: readonly number[],
  filterShape: readonly number[],
  attrs: ConvAttrs,
): ConvInfo {
  const { strides, pad, dimRoundingMode, dataFormat, dilations = 1 } = attrs;
  if (dataFormat !== undefined && dataFormat !== 'NHWC') throw new Error(`${kernel} (wasm): only NHWC`);
  return tf.backend_util.computeConv2DInfo(
    xShape as Shape4,
    filterShape as Shape4,
    strides,
    dilations,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
}

/** One way to compute a conv op: its output from its two operands (in tfjs's order) and its geometry. */
export type ConvPath = (
  backend: tf.KernelBackend,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  info: ConvInfo,
) => tf.TensorInfo;

const gemmPaths: Record<ConvOp, ConvPath> = {
  Conv2D: conv2dGemm,
  Conv2DBackpropInput: conv2dBackpropInputGemm,
  Conv2DBackpropFilter: conv2dBackpropFilterGemm,
};

/** Each gradient's two operands, by tfjs's input names. */
const operandNames: Record<Exclude<ConvOp, 'Conv2D'>, [string, string]> = {
  Conv2DBackpropInput: ['dy', 'filter'],
  Conv2DBackpropFilter: ['x', 'dy'],
};

/**
 * The paths every wasm conv kernel tries first: Kao's igemm where it applies (see convIgemm), else one
 * XNNPACK GEMM on tiny output maps (see gemm-conv.ts). Null leaves the op to the kernel's own path.
 */
function fastConv(
  op: ConvOp,
  backend: tf.KernelBackend,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  info: ConvInfo,
): tf.TensorInfo | null {
  return (
    convIgemm(op, backend, a, b, info) ?? (prefersGemm(info) ? gemmPaths[op](backend, a, b, info) : null)
  );
}

/**
 * A wasm kernel for a conv gradient: fastConv where it has a path, else `own`. The forward conv's
 * geometry comes from the attrs' inputShape / filterShape where the op has one, else from the operands.
 */
export function convGradientKernel(
  op: Exclude<ConvOp, 'Conv2D'>,
  own: ConvPath,
): (call: KernelCall) => tf.TensorInfo {
  const [first, second] = operandNames[op];
  return ({ inputs, backend, attrs }) => {
    const a = inputs[first]!;
    const b = inputs[second]!;
    const conv = attrs as unknown as ConvAttrs;
    const info = nhwcConvInfo(op, conv.inputShape ?? a.shape, conv.filterShape ?? b.shape, conv);
    return fastConv(op, backend, a, b, info) ?? own(backend, a, b, info);
  };
}

/**
 * Conv2D for the wasm backend: the project's igemm (relaxed-SIMD FMA) where the output channels are a
 * multiple of 8; otherwise tiny output maps go through one XNNPACK GEMM and the rest through the stock
 * XNNPACK convolution.
 */
export function conv2dWasm(args: KernelCall): tf.TensorInfo | tf.TensorInfo[] {
  const { x, filter } = args.inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
  const attrs = args.attrs as unknown as tf.Conv2DAttrs;
  if (attrs.dataFormat === undefined || attrs.dataFormat === 'NHWC') {
    const info = nhwcConvInfo('Conv2D', x.shape, filter.shape, attrs);
    const fast = fastConv('Conv2D', args.backend, x, filter, info);
    if (fast) return fast;
  }
  return stockKernel('Conv2D')(args as Parameters<tf.KernelFunc>[0]);
}
