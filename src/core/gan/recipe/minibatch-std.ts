/**
 * Minibatch standard deviation (Karras et al. 2018): one extra feature map holding how much the images
 * of a small group differ, so the discriminator can tell a collapsed generator's look-alike batches from
 * real variety. Browser-safe: tf ops only, differentiable on every backend.
 */
import * as tf from '@tensorflow/tfjs';

/** Images per group: ProGAN's 4, or the whole batch when it is not divisible by 4. */
export function minibatchGroupSize(batch: number): number {
  return batch % 4 === 0 ? 4 : batch;
}

/**
 * x [B, H, W, C] → [B, H, W, C+1]: image b's extra channel is the mean over (H, W, C) of the standard
 * deviation across its group {b mod M, b mod M + M, …} (M = B / group size), as in ProGAN.
 */
export function minibatchStdDev(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [batch, height, width, channels] = x.shape;
    const group = minibatchGroupSize(batch);
    const groups = batch / group;
    const y = x.reshape([group, groups, height, width, channels]);
    const centred = y.sub(y.mean(0, true));
    const std = centred.square().mean(0).add(1e-8).sqrt(); // [M, H, W, C]
    const perGroup = std.mean([1, 2, 3]).reshape([groups, 1, 1, 1]);
    const feature = tf.tile(perGroup, [group, height, width, 1]) as tf.Tensor4D;
    return tf.concat([x, feature], 3);
  });
}
