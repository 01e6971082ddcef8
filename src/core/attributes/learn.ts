/**
 * Named sliders for one checkpoint, learned from the tags of the faces the run trained on (InterFaceGAN,
 * Shen et al. 2020, with the classifier trained here instead of downloaded):
 *
 * 1. tags on enough faces with and without them become candidates;
 * 2. per tag, a linear classifier on pixel or D features — whichever recognises the tag better on validation
 *    faces — is trained, and its balanced accuracy measured on test faces neither step saw;
 * 3. random latents are generated and scored, and each tag's direction is the unit normal of the linear fit
 *    of its score on z, projected to leave the other attributes' scores unchanged;
 * 4. every slider's effect is measured on other random faces at +2 (the share whose score rose, its change,
 *    and how much the other attributes moved with it), so the UI can say which sliders to trust.
 */
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { Rng } from '../../shared/rng.ts';
import type {
  AttributeDirection,
  AttributeDirections,
  AttributeEffect,
  AttributesProgress,
} from '../../shared/explorer-schemas.ts';
import { loadPreferredCheckpoint } from '../gan/best-checkpoint.ts';
import { decodeImageSet } from '../gan/data.ts';
import { generatorWeightsOf } from '../gan/generator-node.ts';
import { readRunConfig } from '../gan/run-folder.ts';
import { explorerGeneratorFromWeights, type ExplorerGenerator } from '../explorer/generator.ts';
import { runIdOf } from '../library/model.ts';
import {
  balancedAccuracy,
  scoreFeatures,
  trainLinearClassifiers,
  type LinearClassifiers,
} from './classifier.ts';
import {
  discriminatorFeatureExtractor,
  featureRows,
  pixelFeatureExtractor,
  type FeatureExtractor,
  type FeatureKind,
} from './features.ts';
import { conditionalDirections, fitLatentDirection, tagLabel } from './latent-directions.ts';
import { readTaggedImages, type TaggedImages } from './tagged-images.ts';

export interface LearnAttributesOptions {
  /** Checkpoint step; the newest when omitted. */
  step?: number;
  /** Folder of the training faces; by default the data folder the run recorded. */
  facesDir?: string;
  /** `facesDir`'s tagged images when the caller has read them already (the cache does, for its key). */
  taggedImages?: TaggedImages;
  /** Generated faces the directions are fitted on. Default 2000. */
  samples?: number;
  /** Generated faces each slider's effect is measured on. Default 200. */
  checkFaces?: number;
  /** Faces a tag must be on, and off, to become a slider. Default 20. */
  minFaces?: number;
  /** Held-out balanced accuracy a tag's classifier needs to become a slider. Default 0.6. */
  minAccuracy?: number;
  /** Most sliders kept (the most accurate). Default 16. */
  maxAttributes?: number;
  /** Most tags considered (the most balanced). Default 32. */
  maxCandidates?: number;
  /** Most tagged faces learned from (a fixed sample of them beyond), which keeps learning under half a minute. Default 2000. */
  maxFaces?: number;
  seed?: number;
  onProgress?: (progress: Omit<AttributesProgress, 'runId'>) => void;
  signal?: AbortSignal;
}

/** How far the effect check moves each slider, in standard deviations of z. */
export const EFFECT_STEP = 2;
const MAX_CROSS_TALK = 1000;

type Skipped = AttributeDirections['skipped'];

export async function learnAttributes(
  runDir: string,
  options: LearnAttributesOptions = {},
): Promise<AttributeDirections> {
  const started = performance.now();
  const {
    samples = 2000,
    checkFaces = 200,
    minFaces = 20,
    minAccuracy = 0.6,
    maxAttributes = 16,
    maxCandidates = 32,
    maxFaces = 2000,
    seed = 0,
    onProgress,
    signal,
  } = options;
  const dir = resolve(runDir);
  const run = await readRunConfig(dir);
  if (!run) throw new Error(`${runDir} is not a training run (no config.json)`);
  const { config } = run;
  // One read of the checkpoint serves both networks: G draws the faces, D may describe them.
  const { checkpoint } = await loadPreferredCheckpoint(
    dir,
    options.step === undefined ? {} : { step: options.step },
  );
  if (!checkpoint) throw new Error(`${runDir} has no usable checkpoint yet`);
  const step = checkpoint.step;
  const base = { runId: runIdOf(dir), step, zDim: config.zDim, cached: false };
  const empty = (note: string, faces = 0, taggedFaces = 0, skipped: Skipped = []): AttributeDirections => ({
    ...base,
    faces,
    taggedFaces,
    attributes: [],
    skipped,
    note,
    seconds: (performance.now() - started) / 1000,
  });

  const facesDir = options.facesDir ?? run.data.dir;
  if (!facesDir) {
    return empty(
      'This run does not record the folder of faces it trained on, so there are no tags to learn from. ' +
        'Runs started from the app or with `kao train --data DIR` record it.',
    );
  }
  let tagged: TaggedImages;
  try {
    tagged = options.taggedImages ?? (await readTaggedImages(facesDir));
  } catch (error) {
    return empty(`The faces this run trained on could not be read (${(error as Error).message}).`);
  }
  if (tagged.images.length === 0) {
    return empty(
      `None of the ${tagged.total} faces this run trained on carries tags. Tags come with images crawled ` +
        'from a Moebooru board, or imported with a .txt or gallery-dl .json file beside each image.',
      tagged.total,
    );
  }
  const taggedFaces = tagged.images.length;
  if (taggedFaces > maxFaces) tagged = { ...tagged, images: fixedSample(tagged.images, maxFaces) };
  const { candidates, skipped } = chooseCandidates(tagged, minFaces, maxCandidates);
  if (candidates.length === 0) {
    return empty(
      `No tag is on at least ${minFaces} and off at least ${minFaces} of the ${tagged.images.length} ` +
        'tagged faces, so none can be learned yet. More tagged faces will bring named sliders.',
      tagged.total,
      taggedFaces,
      skipped,
    );
  }

  throwIfAborted(signal);
  onProgress?.({ phase: 'faces', done: 0, total: tagged.images.length });
  const decoded = await decodeImageSet(
    tagged.images.map((image) => image.path),
    config.imageSize,
  );
  const decodedPaths = decoded.paths;
  const tagsOf = new Map(tagged.images.map((image) => [image.path, new Set(image.tags)]));
  const count = decoded.count;
  const tagCount = candidates.length;
  const labels = new Uint8Array(count * tagCount);
  decodedPaths.forEach((path, n) => {
    const tags = tagsOf.get(path)!;
    candidates.forEach((tag, t) => (labels[n * tagCount + t] = tags.has(tag) ? 1 : 0));
  });
  const folds = decodedPaths.map(foldOf);
  onProgress?.({ phase: 'faces', done: tagged.images.length, total: tagged.images.length });

  const extractors: FeatureExtractor[] = [pixelFeatureExtractor()];
  try {
    extractors.push(discriminatorFeatureExtractor(config, checkpoint.tensors));
  } catch {
    // A checkpoint without D weights (an exported generator) still has the pixel features.
  }
  const generator = explorerGeneratorFromWeights(config, generatorWeightsOf(config, checkpoint));
  try {
    // 2. Classifiers: choose each tag's features on the validation fold, measure on the test fold.
    const perKind = new Map<FeatureKind, { features: Float32Array; validation: number[] }>();
    for (const [k, extractor] of extractors.entries()) {
      throwIfAborted(signal);
      onProgress?.({ phase: 'classifiers', done: k, total: extractors.length * 2 });
      const { data } = await featureRows(extractor, decoded.data, count, config.imageSize);
      const train = rowsWhere(folds, (f) => f >= 2);
      const validation = rowsWhere(folds, (f) => f === 1);
      const classifiers = fit(data, labels, train, tagCount);
      const logits = await scoreRows(classifiers, data, validation);
      const validationLabels = pick(labels, validation, tagCount);
      perKind.set(extractor.kind, {
        features: data,
        validation: candidates.map((_, t) =>
          balancedAccuracy(logits, validationLabels, validation.length, tagCount, t),
        ),
      });
    }
    const chosenKind = candidates.map((_, t) => {
      let best: FeatureKind = 'pixels';
      for (const [kind, { validation }] of perKind) {
        if ((validation[t] ?? 0) > (perKind.get(best)!.validation[t] ?? 0)) best = kind;
      }
      return best;
    });
    const finalClassifiers = new Map<FeatureKind, LinearClassifiers>();
    const testAccuracy = new Array<number>(tagCount).fill(Number.NaN);
    const trainAndValidation = rowsWhere(folds, (f) => f >= 1);
    const test = rowsWhere(folds, (f) => f === 0);
    const testLabels = pick(labels, test, tagCount);
    for (const [kind, { features }] of perKind) {
      if (!chosenKind.includes(kind)) continue;
      throwIfAborted(signal);
      const classifiers = fit(features, labels, trainAndValidation, tagCount);
      finalClassifiers.set(kind, classifiers);
      const logits = await scoreRows(classifiers, features, test);
      chosenKind.forEach((chosen, t) => {
        if (chosen === kind) testAccuracy[t] = balancedAccuracy(logits, testLabels, test.length, tagCount, t);
      });
    }
    onProgress?.({ phase: 'classifiers', done: extractors.length * 2, total: extractors.length * 2 });

    const positives = candidates.map((_, t) =>
      countWhere(trainAndValidation, (n) => labels[n * tagCount + t] === 1),
    );
    const kept: number[] = [];
    candidates.forEach((tag, t) => {
      const accuracy = testAccuracy[t]!;
      if (Number.isNaN(accuracy)) {
        skipped.push({ tag, reason: 'too few held-out faces with and without it to measure' });
      } else if (accuracy < minAccuracy) {
        skipped.push({
          tag,
          reason: `recognised on only ${Math.round(accuracy * 100)} % of held-out faces (needs ${Math.round(minAccuracy * 100)} %)`,
        });
      } else kept.push(t);
    });
    kept.sort((a, b) => testAccuracy[b]! - testAccuracy[a]!);
    for (const t of kept.splice(maxAttributes)) {
      skipped.push({ tag: candidates[t]!, reason: `not among the ${maxAttributes} most accurate` });
    }
    if (kept.length === 0) {
      return empty(
        'No tag could be recognised reliably enough on held-out faces to make a slider.',
        tagged.total,
        tagged.images.length,
        skipped,
      );
    }

    // 3. Directions from generated faces.
    const scorer = (latents: Float32Array, n: number) =>
      scoreLatents(
        generator,
        extractors,
        finalClassifiers,
        chosenKind,
        kept,
        latents,
        n,
        config.zDim,
        signal,
      );
    const rng = new Rng(seed);
    const latents = rng.normalArray(samples * config.zDim);
    onProgress?.({ phase: 'sampling', done: 0, total: samples });
    const scores = await scorer(latents, samples);
    onProgress?.({ phase: 'sampling', done: samples, total: samples });
    onProgress?.({ phase: 'directions', done: 0, total: kept.length });
    const primal = kept.map((_, a) => {
      const column = Float64Array.from({ length: samples }, (_, n) => scores[n * kept.length + a]!);
      return fitLatentDirection(latents, column, config.zDim).vector;
    });
    const vectors = conditionalDirections(primal).map((d) => d.vector);
    const scoreStd = kept.map((_, a) => std(scores, samples, kept.length, a));
    onProgress?.({ phase: 'directions', done: kept.length, total: kept.length });

    // 4. Effects at +EFFECT_STEP on other random faces.
    const check = new Rng(seed + 1).normalArray(checkFaces * config.zDim);
    const before = await scorer(check, checkFaces);
    const effects: AttributeEffect[] = [];
    for (const [a, vector] of vectors.entries()) {
      throwIfAborted(signal);
      onProgress?.({ phase: 'checking', done: a, total: vectors.length });
      const moved = Float32Array.from(check);
      for (let n = 0; n < checkFaces; n++) {
        for (let i = 0; i < config.zDim; i++) moved[n * config.zDim + i]! += EFFECT_STEP * vector[i]!;
      }
      const after = await scorer(moved, checkFaces);
      effects.push(
        effectOf(
          a,
          before,
          after,
          checkFaces,
          scoreStd,
          kept.map((t) => candidates[t]!),
        ),
      );
    }
    onProgress?.({ phase: 'checking', done: vectors.length, total: vectors.length });

    const attributes: AttributeDirection[] = kept.map((t, a) => ({
      tag: candidates[t]!,
      label: tagLabel(candidates[t]!),
      vector: Array.from(vectors[a]!),
      positives: positives[t]!,
      negatives: trainAndValidation.length - positives[t]!,
      accuracy: testAccuracy[t]!,
      heldOut: test.length,
      features: chosenKind[t]!,
      effect: effects[a]!,
    }));
    return {
      ...base,
      faces: tagged.total,
      taggedFaces,
      attributes,
      skipped: skipped.slice(0, 200),
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    generator.dispose();
    for (const extractor of extractors) extractor.dispose();
  }
}

/** Tags on ≥ minFaces and off ≥ minFaces tagged faces, the most balanced first; the rest with reasons. */
export function chooseCandidates(
  tagged: Pick<TaggedImages, 'images'>,
  minFaces: number,
  maxCandidates: number,
): { candidates: string[]; skipped: Skipped } {
  const counts = new Map<string, number>();
  for (const image of tagged.images)
    for (const tag of image.tags) counts.set(tag, (counts.get(tag) ?? 0) + 1);
  const total = tagged.images.length;
  const eligible: Array<{ tag: string; balance: number }> = [];
  const skipped: Skipped = [];
  for (const [tag, on] of [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))) {
    const off = total - on;
    if (on < minFaces) skipped.push({ tag, reason: `on ${on} of ${total} tagged faces (needs ${minFaces})` });
    else if (off < minFaces)
      skipped.push({
        tag,
        reason:
          off === 0
            ? `on every tagged face`
            : `missing from only ${off} of ${total} tagged faces (needs ${minFaces})`,
      });
    else eligible.push({ tag, balance: Math.min(on, off) });
  }
  eligible.sort((a, b) => b.balance - a.balance || a.tag.localeCompare(b.tag));
  for (const { tag } of eligible.slice(maxCandidates)) {
    skipped.push({ tag, reason: `not among the ${maxCandidates} tags with the most faces on both sides` });
  }
  // Rare tags are the long tail: the list shows the most common ones first and stays short.
  return { candidates: eligible.slice(0, maxCandidates).map((e) => e.tag), skipped: skipped.slice(0, 150) };
}

/** `count` of the images, the same ones every time: those whose name hashes lowest. */
function fixedSample<T extends { path: string }>(images: T[], count: number): T[] {
  const key = (image: T) => createHash('sha256').update(image.path).digest('hex');
  return images
    .map((image) => ({ image, key: key(image) }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .slice(0, count)
    .map((entry) => entry.image);
}

/** 0 = test, 1 = validation, 2–4 = training: a fixed split by the file's name, the same on every run. */
function foldOf(path: string): number {
  return createHash('sha256').update(path.split(/[\\/]/).pop()!).digest()[0]! % 5;
}

function rowsWhere(folds: number[], keep: (fold: number) => boolean): number[] {
  return folds.flatMap((fold, n) => (keep(fold) ? [n] : []));
}

function countWhere(rows: number[], test: (row: number) => boolean): number {
  return rows.reduce((sum, row) => sum + (test(row) ? 1 : 0), 0);
}

function pick<T extends Float32Array | Uint8Array>(data: T, rows: number[], width: number): T {
  const out = new (data.constructor as new (n: number) => T)(rows.length * width);
  rows.forEach((row, i) => out.set(data.subarray(row * width, (row + 1) * width), i * width));
  return out;
}

function fit(
  features: Float32Array,
  labels: Uint8Array,
  rows: number[],
  tagCount: number,
): LinearClassifiers {
  const featureSize = features.length / (labels.length / tagCount);
  return trainLinearClassifiers(
    pick(features, rows, featureSize),
    pick(labels, rows, tagCount),
    rows.length,
    tagCount,
  );
}

async function scoreRows(
  classifiers: LinearClassifiers,
  features: Float32Array,
  rows: number[],
): Promise<Float32Array> {
  if (rows.length === 0) return new Float32Array(0);
  const x = tf.tensor2d(pick(features, rows, classifiers.featureSize), [
    rows.length,
    classifiers.featureSize,
  ]);
  const logits = scoreFeatures(classifiers, x);
  x.dispose();
  const data = (await logits.data()) as Float32Array;
  logits.dispose();
  return data;
}

/** Scores [count, kept.length] of the faces `latents` generate, each tag by its chosen classifier. */
async function scoreLatents(
  generator: ExplorerGenerator,
  extractors: FeatureExtractor[],
  classifiers: Map<FeatureKind, LinearClassifiers>,
  chosenKind: FeatureKind[],
  kept: number[],
  latents: Float32Array,
  count: number,
  zDim: number,
  signal: AbortSignal | undefined,
  batchSize = 64,
): Promise<Float32Array> {
  const out = new Float32Array(count * kept.length);
  for (let start = 0; start < count; start += batchSize) {
    throwIfAborted(signal);
    const n = Math.min(batchSize, count - start);
    const columns = tf.tidy(() => {
      const images = generator.forward(
        tf.tensor2d(latents.subarray(start * zDim, (start + n) * zDim), [n, zDim]),
      );
      const byKind = new Map<FeatureKind, tf.Tensor2D>();
      for (const extractor of extractors) {
        const c = classifiers.get(extractor.kind);
        if (c) byKind.set(extractor.kind, scoreFeatures(c, extractor.extract(images)));
      }
      return tf.stack(
        kept.map((t) => byKind.get(chosenKind[t]!)!.slice([0, t], [n, 1]).reshape([n])),
        1,
      );
    });
    out.set((await columns.data()) as Float32Array, start * kept.length);
    columns.dispose();
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  return out;
}

function std(scores: Float32Array, count: number, width: number, column: number): number {
  let sum = 0;
  let square = 0;
  for (let n = 0; n < count; n++) {
    const v = scores[n * width + column]!;
    sum += v;
    square += v * v;
  }
  const mean = sum / count;
  return Math.sqrt(Math.max(square / count - mean * mean, 1e-12));
}

function effectOf(
  attribute: number,
  before: Float32Array,
  after: Float32Array,
  count: number,
  scoreStd: number[],
  tags: string[],
): AttributeEffect {
  const width = tags.length;
  let rose = 0;
  let own = 0;
  const others = new Float64Array(width);
  for (let n = 0; n < count; n++) {
    for (let b = 0; b < width; b++) {
      const change = (after[n * width + b]! - before[n * width + b]!) / scoreStd[b]!;
      if (b === attribute) {
        own += change;
        if (change > 0) rose++;
      } else others[b]! += change;
    }
  }
  const change = own / count;
  let mostAffected: string | undefined;
  let largest = 0;
  for (let b = 0; b < width; b++) {
    if (b !== attribute && Math.abs(others[b]!) / count >= largest) {
      largest = Math.abs(others[b]!) / count;
      mostAffected = tags[b];
    }
  }
  return {
    moved: rose / count,
    change,
    // A slider that does not raise its own score has no meaningful ratio: report it as all cross-talk.
    crossTalk: Math.min(MAX_CROSS_TALK, change > 0 ? largest / change : largest > 0 ? MAX_CROSS_TALK : 0),
    ...(mostAffected ? { mostAffected } : {}),
  };
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason ?? new Error('cancelled');
}
