/**
 * Spectral normalisation (Miyato et al. 2018): each discriminator weight W is used as W / σ(W), σ its
 * largest singular value, estimated by one power iteration per discriminator update from a persistent
 * vector u (part of the training state, checkpointed). As in the paper, u and v are constants to the
 * gradient: the caller computes them outside the tape and only σ = vᵀ·W·u is differentiated.
 * Browser-safe: tf ops only.
 */
import * as tf from '@tensorflow/tfjs';

/** A weight as the matrix whose spectral norm is taken: [everything but the output axis, outputs]. */
function asMatrix(weight: tf.Tensor): tf.Tensor2D {
  const outputs = weight.shape.at(-1)!;
  return weight.reshape([-1, outputs]) as tf.Tensor2D;
}

function normalized(x: tf.Tensor1D): tf.Tensor1D {
  return x.div(tf.norm(x).add(1e-12));
}

export interface PowerIterate {
  /** The refined right singular vector [outputs]: store it back as the layer's u. */
  u: tf.Tensor1D;
  /** The left singular vector [rows]. */
  v: tf.Tensor1D;
}

/** One power iteration from `u` [outputs]: v = normalize(W·u), u' = normalize(Wᵀ·v). */
export function powerIteration(weight: tf.Tensor, u: tf.Tensor): PowerIterate {
  return tf.tidy(() => {
    const w = asMatrix(weight);
    const v = normalized(tf.matMul(w, u.reshape([-1, 1])).reshape([-1]) as tf.Tensor1D);
    const next = normalized(tf.matMul(v.reshape([1, -1]), w).reshape([-1]) as tf.Tensor1D);
    return { u: next, v };
  });
}

/** σ = vᵀ·W·u (differentiable in W only). */
export function spectralNorm(weight: tf.Tensor, vectors: PowerIterate): tf.Scalar {
  const w = asMatrix(weight);
  return tf
    .matMul(tf.matMul(vectors.v.reshape([1, -1]), w), vectors.u.reshape([-1, 1]))
    .reshape([]) as tf.Scalar;
}

/** W / σ(W), in W's shape. */
export function spectrallyNormalized<T extends tf.Tensor>(weight: T, vectors: PowerIterate): T {
  return weight.div(spectralNorm(weight, vectors));
}
