/**
 * Resize-convolution (Odena et al. 2016): nearest-neighbour ×2 upsampling followed by a 3×3 'same'
 * convolution, computed as ONE stride-2 transposed convolution with a 4×4 kernel derived from the 3×3
 * one. Every output phase then reads the same total weight, so there is no checkerboard, and it costs
 * 4 multiply-adds per output and input channel (the literal resize + 3×3 costs 9, a 5×5 transposed
 * convolution 6.25). Browser-safe: tf ops only, differentiable on every backend.
 *
 * Derivation, per axis: output 2i+a after nearest ×2 then taps K₋₁, K₀, K₁ reads input rows
 *   a = 0: x[i−1]·K₋₁ + x[i]·(K₀+K₁)        a = 1: x[i]·(K₋₁+K₀) + x[i+1]·K₁
 * and tf's stride-2 'same' transposed convolution with a 4-tap kernel w (padding 1) computes
 *   a = 0: x[i]·w₁ + x[i−1]·w₃               a = 1: x[i+1]·w₀ + x[i]·w₂
 * so w = A·K with A the 4×3 matrix below. Zero padding matches on both sides.
 */
import * as tf from '@tensorflow/tfjs';

/** w = A·K along one spatial axis (rows: w₀…w₃; columns: K₋₁, K₀, K₁). */
const TAPS = [
  [0, 0, 1],
  [0, 1, 1],
  [1, 1, 0],
  [1, 0, 0],
];

/** The 4×4 transposed-convolution kernel [4, 4, out, in] equivalent to nearest ×2 + this 3×3 kernel. */
export function resizeConvKernel(kernel3: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw, outC, inC] = kernel3.shape;
    if (kh !== 3 || kw !== 3) throw new Error(`resize-convolution needs a 3×3 kernel, got ${kh}×${kw}`);
    const a = tf.tensor2d(TAPS.flat(), [4, 3]);
    const rest = outC * inC;
    // Rows: [3, 3·rest] → [4, 3·rest]; then the same along columns, with the column axis moved first.
    const rows = tf.matMul(a, kernel3.reshape([3, 3 * rest])).reshape([4, 3, outC, inC]);
    const cols = tf.matMul(a, rows.transpose([1, 0, 2, 3]).reshape([3, 4 * rest]));
    return cols.reshape([4, 4, outC, inC]).transpose([1, 0, 2, 3]) as tf.Tensor4D;
  });
}

/** x [B, H, W, in] → [B, 2H, 2W, out]: nearest ×2 then the 3×3 convolution `kernel3` [3, 3, out, in]. */
export function resizeConv2x(x: tf.Tensor4D, kernel3: tf.Tensor4D): tf.Tensor4D {
  const [batch, height, width] = x.shape;
  const outC = kernel3.shape[2];
  return tf.conv2dTranspose(x, resizeConvKernel(kernel3), [batch, height * 2, width * 2, outC], 2, 'same');
}

/**
 * Nearest-neighbour ×2 as a broadcast (each pixel repeated into a 2×2 block). Same values as
 * tf.image.resizeNearestNeighbor; its gradient (a sum over each block) is right on every backend, where
 * tfjs 4.22's ResizeNearestNeighborGrad on the cpu backend is not.
 */
export function nearestUpsample2x(x: tf.Tensor4D): tf.Tensor4D {
  const [batch, height, width, channels] = x.shape;
  return x
    .reshape([batch, height, 1, width, 1, channels])
    .mul(tf.ones([1, 1, 2, 1, 2, 1]))
    .reshape([batch, height * 2, width * 2, channels]) as tf.Tensor4D;
}

/** The literal definition (resize, then convolve), the reference the tests check resizeConv2x against. */
export function resizeConv2xReference(x: tf.Tensor4D, kernel3: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const up = nearestUpsample2x(x);
    // A transposed-conv kernel is [h, w, out, in]; conv2d wants [h, w, in, out] (no flip: the
    // transposed convolution's taps read the input un-flipped, see the derivation above).
    return tf.conv2d(up, kernel3.transpose([0, 1, 3, 2]) as tf.Tensor4D, 1, 'same');
  });
}
