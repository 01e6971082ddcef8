/**
 * The numbers behind the app's advice on how much data and training a face generator needs. One place, so
 * the Training screen, the New run form and the Explorer say the same thing.
 */

/**
 * Kept faces a run needs to learn faces rather than noise or near-copies of a few crops.
 *
 * Measured with the quality harness (docs/quality.md): the default preset trained on 400 faces for
 * 16 CPU-minutes scores SWD 21.4 on faces it never saw — recognisable faces, as good as the 25.4 it reaches
 * with 1,200 — while the classic recipe stays at ~87 (blobs) with either. Smaller sets were not measured:
 * below 400 the app says more faces will help. Fewer still train, and are fine for trying the app.
 */
export const GOOD_RUN_FACES = 400;

/** Faces an illustration yields when nothing is known yet (solo-tagged posts: about one each). */
export const DEFAULT_FACES_PER_ILLUSTRATION = 0.8;

/** The crawl that should bring a face set up to GOOD_RUN_FACES, from what extraction has yielded so far. */
export function crawlToReachGoodRun(
  keptFaces: number,
  illustrations: number,
): { illustrations: number; facesPerIllustration: number } {
  const yieldSoFar = illustrations >= 20 && keptFaces > 0 ? keptFaces / illustrations : undefined;
  const facesPerIllustration = Math.min(Math.max(yieldSoFar ?? DEFAULT_FACES_PER_ILLUSTRATION, 0.2), 3);
  const missing = Math.max(GOOD_RUN_FACES - keptFaces, 0);
  // Rounded up to whole pages of 100 posts, with a tenth more for posts that fail or hold no usable face.
  const wanted = Math.ceil((missing / facesPerIllustration) * 1.1);
  return { illustrations: Math.ceil(wanted / 100) * 100, facesPerIllustration };
}

/**
 * How far a checkpoint is along, in steps of batch 64-ish updates. The anime-48 recipe shows recognisable
 * faces after some 10,000 steps on a few thousand faces (its preset note); before ~1,000 steps a generator
 * still draws noise and colour blobs.
 */
export const STEPS_BARELY_TRAINED = 1_000;
export const STEPS_WELL_TRAINED = 10_000;

export type TrainingLevel = 'barely' | 'early' | 'trained';

export function trainingLevel(step: number): TrainingLevel {
  if (step < STEPS_BARELY_TRAINED) return 'barely';
  if (step < STEPS_WELL_TRAINED) return 'early';
  return 'trained';
}

/**
 * Steps without a better checkpoint after which the Training screen says a running run has probably
 * peaked. On 400 faces the default preset's in-training SWD bottomed out at step 1,500 (two seeds, measured
 * every 500 steps) and then climbed while D over-fitted (docs/quality.md, "The best checkpoint"); the best
 * checkpoint is kept either way, so stopping then loses nothing and frees the computer.
 */
export const STEPS_WITHOUT_IMPROVEMENT = 2_000;

/** Steps since the best checkpoint when they reach STEPS_WITHOUT_IMPROVEMENT, else undefined. */
export function stepsPastPeak(best: { step: number } | undefined, step: number): number | undefined {
  if (!best) return undefined;
  const since = step - best.step;
  return since >= STEPS_WITHOUT_IMPROVEMENT ? since : undefined;
}
