import * as tf from '@tensorflow/tfjs';
import { callKernel, concat, conv2d, release, slice, transpose } from './wasm-kernel-call.ts';

/**
 * Conv2DBackpropInput for the wasm backend, replacing the stock one (a naive loop at ~4 GFLOP/s). It
 * is both the gradient of every strided conv and the forward pass of the generator's transposed convs.
 *
 * Sub-pixel decomposition: output pixel y with (y + padTop) = u·s + p only receives filter taps
 * a ≡ p (mod s), so each of the s×s output phases is a plain stride-1 conv of dy with a flipped,
 * strided slice of the filter. When the kernel size is a multiple of the stride all phases have the
 * same tap count and become ONE conv with s²·Ci output channels followed by DepthToSpace; otherwise
 * each phase is its own conv and the results are concatenated on channels first.
 */
export function conv2dBackpropInputWasm({
  inputs,
  backend,
  attrs,
}: {
  inputs: tf.NamedTensorInfoMap;
  backend: tf.KernelBackend;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo {
  const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } =
    attrs as unknown as tf.Conv2DBackpropInputAttrs;
  if (dataFormat !== undefined && dataFormat !== 'NHWC')
    throw new Error('Conv2DBackpropInput (wasm): only NHWC');
  const info = tf.backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;
  if (sh !== sw) throw new Error('Conv2DBackpropInput (wasm): unequal strides are not supported');
  const s = sh;

  // Rows/columns of the phase grid: output pixel y sits at grid row u = ⌊(y + padTop) / s⌋.
  const rows = Math.ceil((padTop + inHeight) / s);
  const cols = Math.ceil((padLeft + inWidth) / s);
  const temps: tf.TensorInfo[] = [];

  // dy rows at or past `rows` never reach an output pixel.
  let dyUsed = dy;
  if (rows < outHeight || cols < outWidth) {
    dyUsed = slice(
      backend,
      dy,
      [0, 0, 0, 0],
      [batchSize, Math.min(rows, outHeight), Math.min(cols, outWidth), outChannels],
    );
    temps.push(dyUsed);
  }
  const dyRows = dyUsed.shape[1]!;
  const dyCols = dyUsed.shape[2]!;

  // flipped[a', b', co, ci] = filter[kh-1-a', kw-1-b', ci, co]
  const reversed = callKernel(backend, 'Reverse', { x: filter }, { dims: [0, 1] });
  const flipped = transpose(backend, reversed, [0, 1, 3, 2]);
  temps.push(reversed, flipped);
  const tapsOf = (phase: number, k: number) => Math.ceil((k - phase) / s);
  // Phase p's taps p, p+s, …, reversed: a strided slice of the flipped filter starting at k-1-p-s·(T-1).
  const phaseFilter = (py: number, px: number): tf.TensorInfo => {
    const ty = tapsOf(py, kh);
    const tx = tapsOf(px, kw);
    return callKernel(
      backend,
      'StridedSlice',
      { x: flipped },
      {
        begin: [kh - 1 - py - s * (ty - 1), kw - 1 - px - s * (tx - 1), 0, 0],
        end: [kh, kw, outChannels, inChannels],
        strides: [s, s, 1, 1],
        beginMask: 0,
        endMask: 0,
        ellipsisMask: 0,
        newAxisMask: 0,
        shrinkAxisMask: 0,
      },
    );
  };
  const phaseConv = (phaseFilterInfo: tf.TensorInfo): tf.TensorInfo => {
    const ty = phaseFilterInfo.shape[0]!;
    const tx = phaseFilterInfo.shape[1]!;
    return conv2d(backend, dyUsed, phaseFilterInfo, {
      top: ty - 1,
      bottom: rows - dyRows,
      left: tx - 1,
      right: cols - dyCols,
    });
  };

  let grid: tf.TensorInfo;
  if (s === 1) {
    grid = phaseConv(flipped);
  } else {
    const uniform = kh % s === 0 && kw % s === 0;
    const filters: tf.TensorInfo[] = [];
    for (let py = 0; py < s; py++) for (let px = 0; px < s; px++) filters.push(phaseFilter(py, px));
    temps.push(...filters);
    let phases: tf.TensorInfo;
    if (uniform) {
      const combined = concat(backend, filters, 3);
      temps.push(combined);
      phases = phaseConv(combined);
    } else {
      if (kh < s || kw < s)
        throw new Error('Conv2DBackpropInput (wasm): kernel smaller than stride is not supported');
      const outs = filters.map(phaseConv);
      phases = concat(backend, outs, 3);
      temps.push(...outs);
    }
    temps.push(phases);
    grid = callKernel(backend, 'DepthToSpace', { x: phases }, { blockSize: s, dataFormat: 'NHWC' });
  }

  let dx = grid;
  if (padTop !== 0 || padLeft !== 0 || grid.shape[1] !== inHeight || grid.shape[2] !== inWidth) {
    temps.push(grid);
    dx = slice(backend, grid, [0, padTop, padLeft, 0], [batchSize, inHeight, inWidth, inChannels]);
  }
  release(backend, ...temps);
  return dx;
}
