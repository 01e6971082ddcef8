/**
 * Generators from a run folder (Node): weights read from a checkpoint (to build a generator here, or to
 * ship to the renderer over IPC), and export to the standard tfjs layers-model format.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../util/atomic-file.ts';
import { loadPreferredCheckpoint } from './best-checkpoint.ts';
import { EMA_PREFIX, type Checkpoint } from './checkpoint.ts';
import type { GanConfig } from './config.ts';
import { generatorFromWeights, type Generator, type GeneratorWeights } from './generator-web.ts';
import { generatorParamSpecs, generatorStatSpecs, type WeightRecord } from './models.ts';
import { readRunConfig } from './run-folder.ts';

export { listCheckpoints } from './checkpoint.ts';

/**
 * The generator's weights (parameters + BN running statistics) from the checkpoint at `step`, else the
 * run's best (best-checkpoint.ts), else the newest valid one. Plain data: structured-clone it to the
 * renderer and call `generatorFromWeights` there. A run that keeps a weight average gives the averaged
 * generator (what its samples show) unless `raw` asks for the trained weights themselves.
 */
export async function readGeneratorWeights(
  runDir: string,
  options: { step?: number; raw?: boolean } = {},
): Promise<GeneratorWeights & { step: number; warnings: string[] }> {
  const run = await readRunConfig(resolve(runDir));
  if (!run) throw new Error(`${runDir} is not a training run (no config.json)`);
  const { checkpoint, warnings } = await loadPreferredCheckpoint(resolve(runDir), options);
  if (!checkpoint) throw new Error(`${runDir} has no usable checkpoint yet`);
  return {
    config: run.config,
    weights: generatorWeightsOf(run.config, checkpoint, options),
    step: checkpoint.step,
    warnings,
  };
}

/** The generator's tensors (copied) out of a checkpoint already read: the weight average unless `raw`. */
export function generatorWeightsOf(
  config: GanConfig,
  checkpoint: Pick<Checkpoint, 'step' | 'tensors'>,
  options: { raw?: boolean } = {},
): WeightRecord {
  const weights: WeightRecord = {};
  const prefix = config.emaDecay > 0 && !options.raw ? EMA_PREFIX : '';
  for (const spec of [...generatorParamSpecs(config), ...generatorStatSpecs(config)]) {
    const t = checkpoint.tensors[prefix + spec.name];
    if (!t) throw new Error(`checkpoint at step ${checkpoint.step} lacks ${prefix + spec.name}`);
    weights[spec.name] = { shape: t.shape, data: t.data.slice() };
  }
  return weights;
}

/** A ready generator for a run (its best, else newest, checkpoint unless `step` is given). Dispose it when done. */
export async function loadGenerator(
  runDir: string,
  options: { step?: number; raw?: boolean } = {},
): Promise<{ generator: Generator; config: GanConfig; step: number; warnings: string[] }> {
  const { config, weights, step, warnings } = await readGeneratorWeights(runDir, options);
  return { generator: generatorFromWeights(config, weights), config, step, warnings };
}

/** The same network as generatorForward (inference mode), as a tf.layers model. */
export function buildLayersGenerator(config: GanConfig, weights: WeightRecord): tf.LayersModel {
  const { zDim, baseSize, kernelSize, gChannels, bnEpsilon, bnMomentum } = config;
  const model = tf.sequential({ name: 'kao_generator' });
  const bn = (i: number) =>
    tf.layers.batchNormalization({
      axis: -1,
      epsilon: bnEpsilon,
      momentum: 1 - bnMomentum,
      name: `g_bn${i}`,
    });
  model.add(
    tf.layers.dense({
      inputShape: [zDim],
      units: baseSize * baseSize * gChannels[0]!,
      useBias: false,
      name: 'g_dense',
    }),
  );
  model.add(tf.layers.reshape({ targetShape: [baseSize, baseSize, gChannels[0]!] }));
  model.add(bn(0));
  model.add(tf.layers.reLU());
  // Resize-convolution is literally nearest ×2 then a 3×3 convolution (its kernels are stored as
  // [3, 3, out, in], a Conv2D layer wants [3, 3, in, out]: transposed when the weights are set).
  const resize = config.upsample === 'resize';
  const up = (filters: number, name: string, extra: { useBias?: boolean; activation?: 'tanh' }) => {
    if (!resize) {
      model.add(
        tf.layers.conv2dTranspose({ filters, kernelSize, strides: 2, padding: 'same', name, ...extra }),
      );
      return;
    }
    model.add(tf.layers.upSampling2d({ size: [2, 2], interpolation: 'nearest', name: `${name}_resize` }));
    model.add(tf.layers.conv2d({ filters, kernelSize: 3, padding: 'same', name, ...extra }));
  };
  for (let i = 1; i < gChannels.length; i++) {
    up(gChannels[i]!, `g_up${i}`, { useBias: false });
    model.add(bn(i));
    model.add(tf.layers.reLU());
  }
  up(3, 'g_out', { activation: 'tanh' });
  // Per layer (a model's own weight list puts all trainable weights before the BN moving statistics).
  const byLayer: Record<string, string[]> = {
    g_dense: ['g.dense.kernel'],
    g_out: ['g.out.kernel', 'g.out.bias'],
  };
  for (let i = 0; i < gChannels.length; i++) {
    if (i > 0) byLayer[`g_up${i}`] = [`g.up${i}.kernel`];
    byLayer[`g_bn${i}`] = [
      `g.bn${i}.gamma`,
      `g.bn${i}.beta`,
      `g.bn${i}.movingMean`,
      `g.bn${i}.movingVariance`,
    ];
  }
  for (const [layerName, names] of Object.entries(byLayer)) {
    const values = names.map((name) => {
      const w = weights[name];
      if (!w) throw new Error(`generator weights lack ${name}`);
      const t = tf.tensor(w.data, w.shape);
      if (!(resize && name.endsWith('.kernel') && name !== 'g.dense.kernel')) return t;
      const asConv = t.transpose([0, 1, 3, 2]);
      t.dispose();
      return asConv;
    });
    model.getLayer(layerName).setWeights(values);
    tf.dispose(values);
  }
  return model;
}

/**
 * Writes the generator as a tfjs layers model (`model.json` + `weights.bin`), loadable with
 * `tf.loadLayersModel`. Input z [B, zDim] ~ N(0, 1); output NHWC RGB in [-1, 1].
 */
export async function exportGenerator(
  runDir: string,
  outDir: string,
  options: { step?: number } = {},
): Promise<{ modelPath: string; weightsPath: string; step: number }> {
  const { config, weights, step } = await readGeneratorWeights(runDir, options);
  const model = buildLayersGenerator(config, weights);
  const modelPath = join(resolve(outDir), 'model.json');
  const weightsPath = join(resolve(outDir), 'weights.bin');
  try {
    await mkdir(resolve(outDir), { recursive: true });
    await model.save(
      tf.io.withSaveHandler(async (artifacts) => {
        const data = artifacts.weightData;
        const bytes = data === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(data);
        await writeFileAtomic(weightsPath, new Uint8Array(bytes));
        const modelJson = {
          modelTopology: artifacts.modelTopology,
          format: 'layers-model',
          generatedBy: `Kao Studio (tfjs ${tf.version.tfjs})`,
          convertedBy: null,
          weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
          userDefinedMetadata: {
            kao: {
              preset: config.preset,
              zDim: config.zDim,
              imageSize: config.imageSize,
              step,
              output: 'NHWC RGB in [-1, 1]',
            },
          },
        };
        await writeFileAtomic(modelPath, JSON.stringify(modelJson));
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
  } finally {
    model.dispose();
  }
  return { modelPath, weightsPath, step };
}
