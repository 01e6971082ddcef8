/**
 * What the explorer needs from a trained generator, and turning its output into pixels. Browser-safe: the
 * renderer builds one from weights sent over IPC; Node builds one from a checkpoint (src/core/library).
 */
import * as tf from '@tensorflow/tfjs';
import type { GanConfig } from '../gan/config.ts';
import { generatorFromWeights, type Generator } from '../gan/generator-web.ts';
import { generatorForward, generatorProjection, type ParamSet, type WeightRecord } from '../gan/models.ts';
import type { Latent } from './latent.ts';
import type { LatentFeatures } from './directions.ts';

export interface ExplorerGenerator {
  readonly zDim: number;
  readonly imageSize: number;
  /** z [B, zDim] → images [B, S, S, 3] in [-1, 1], inference mode (BN running statistics). */
  forward(latents: tf.Tensor2D): tf.Tensor4D;
  /** The first layer's activations (dense → reshape → BN → ReLU): what GANSpace's PCA runs on. */
  project: LatentFeatures;
  dispose(): void;
}

/** The explorer's view of the gan engineer's inference generator (`generatorFromWeights`). */
export function explorerGenerator(generator: Generator): ExplorerGenerator {
  return {
    zDim: generator.config.zDim,
    imageSize: generator.config.imageSize,
    forward: (latents) => generator.forward(latents),
    project: (latents) => generator.project(latents),
    dispose: () => generator.dispose(),
  };
}

/**
 * An inference-only generator from a weight record (checkpoint contents: `g.*` parameters and the BN
 * running statistics); the renderer builds one from weights sent over IPC. Extra `d.*` entries are ignored.
 */
export function explorerGeneratorFromWeights(config: GanConfig, weights: WeightRecord): ExplorerGenerator {
  // A scope around construction frees the temporary tensors variables are built from (paramSetFromRecord
  // leaves one per parameter: the whole model's size per load). Variables are not scope-tracked, so they stay.
  tf.engine().startScope();
  try {
    return explorerGenerator(generatorFromWeights(config, weights));
  } finally {
    tf.engine().endScope();
  }
}

/**
 * Wraps live parameter maps (e.g. a GAN being trained, to explore it between steps) without copying.
 * `owns` says whether `dispose` frees them.
 */
export function explorerGeneratorFromParams(
  config: GanConfig,
  params: ParamSet,
  stats: ParamSet,
  owns = false,
): ExplorerGenerator {
  const { zDim, imageSize } = config;
  return {
    zDim,
    imageSize,
    forward: (latents) => {
      checkLatentBatch(latents, zDim);
      return tf.tidy(() => generatorForward(config, params, stats, latents, false).images);
    },
    project: (latents) => {
      checkLatentBatch(latents, zDim);
      return generatorProjection(config, params, stats, latents);
    },
    dispose: () => {
      if (!owns) return;
      for (const set of [params, stats]) {
        for (const v of set.values()) v.dispose();
        set.clear();
      }
    },
  };
}

function checkLatentBatch(latents: tf.Tensor2D, zDim: number): void {
  if (latents.rank !== 2 || latents.shape[1] !== zDim) {
    throw new Error(`expected latents of shape [batch, ${zDim}], got [${latents.shape.join(', ')}]`);
  }
}

/** An RGBA image; `new ImageData(data, width, height)` in the browser, sharp raw input in Node. */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8ClampedArray;
}

/**
 * Renders latents to RGBA pixels: [-1, 1] → round((x + 1)·127.5), opaque alpha. Batched (one generator
 * call per `batchSize` faces) because a 4×4 variations grid is 16 images at once. Deterministic for a given
 * backend: same z, same weights → same bytes.
 */
export async function generateImages(
  generator: ExplorerGenerator,
  latents: readonly Latent[],
  options: { batchSize?: number } = {},
): Promise<RgbaImage[]> {
  const { batchSize = 64 } = options;
  const { zDim, imageSize: size } = generator;
  const images: RgbaImage[] = [];
  for (let start = 0; start < latents.length; start += batchSize) {
    const chunk = latents.slice(start, start + batchSize);
    const flat = new Float32Array(chunk.length * zDim);
    chunk.forEach((z, i) => {
      if (z.length !== zDim)
        throw new RangeError(`latent ${start + i} has ${z.length} values, the model expects ${zDim}`);
      flat.set(z, i * zDim);
    });
    const pixels = tf.tidy(() => {
      const out = generator.forward(tf.tensor2d(flat, [chunk.length, zDim]));
      const rgb = out.add(1).mul(127.5).round().clipByValue(0, 255);
      const alpha = tf.fill([chunk.length, size, size, 1], 255);
      return tf.concat([rgb, alpha], 3).toInt();
    });
    const data = await pixels.data();
    pixels.dispose();
    const perImage = size * size * 4;
    for (let i = 0; i < chunk.length; i++) {
      images.push({
        width: size,
        height: size,
        data: Uint8ClampedArray.from(data.subarray(i * perImage, (i + 1) * perImage)),
      });
    }
  }
  return images;
}
