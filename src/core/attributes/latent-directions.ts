/**
 * Attribute directions in z (InterFaceGAN, Shen et al. 2020): a linear map from z to an attribute's score,
 * whose unit normal is the direction a named slider moves along, and the conditional edit that leaves other
 * attributes' scores unchanged. Pure arithmetic on Float32/64 arrays, no tensors.
 */

/**
 * The unit direction in z along which `scores` grow fastest, by ridge regression of the centred scores on
 * the centred latents (rows of `latents`, row-major [count, zDim]). With z ~ N(0, I) this is InterFaceGAN's
 * hyperplane normal without the SVM's top/bottom selection: every sample counts. `fit` is the correlation
 * between the scores and their projection on the direction (how linear the attribute is in z).
 */
export function fitLatentDirection(
  latents: Float32Array,
  scores: ArrayLike<number>,
  zDim: number,
  ridge = 1e-3,
): { vector: Float32Array; fit: number } {
  const count = scores.length;
  if (latents.length !== count * zDim) {
    throw new RangeError(`${latents.length} latent values for ${count} scores of ${zDim} dimensions`);
  }
  if (count < 2) throw new RangeError('at least two samples are needed to fit a direction');
  const meanZ = new Float64Array(zDim);
  let meanS = 0;
  for (let n = 0; n < count; n++) {
    meanS += scores[n]!;
    for (let i = 0; i < zDim; i++) meanZ[i]! += latents[n * zDim + i]!;
  }
  meanS /= count;
  for (let i = 0; i < zDim; i++) meanZ[i]! /= count;

  // Normal equations (ZcᵀZc + λN·I) w = Zcᵀ sc.
  const gram = new Float64Array(zDim * zDim);
  const rhs = new Float64Array(zDim);
  const row = new Float64Array(zDim);
  for (let n = 0; n < count; n++) {
    const s = scores[n]! - meanS;
    for (let i = 0; i < zDim; i++) row[i] = latents[n * zDim + i]! - meanZ[i]!;
    for (let i = 0; i < zDim; i++) {
      const ri = row[i]!;
      rhs[i]! += ri * s;
      for (let j = 0; j <= i; j++) gram[i * zDim + j]! += ri * row[j]!;
    }
  }
  for (let i = 0; i < zDim; i++) {
    for (let j = 0; j < i; j++) gram[j * zDim + i] = gram[i * zDim + j]!;
    gram[i * zDim + i]! += ridge * count;
  }
  const w = choleskySolve(gram, rhs, zDim);
  const length = Math.hypot(...w);
  if (!(length > 0)) return { vector: new Float32Array(zDim), fit: 0 };
  const vector = Float32Array.from(w, (x) => x / length);

  // Correlation of the scores with z·vector.
  let sp = 0;
  let pp = 0;
  let ss = 0;
  for (let n = 0; n < count; n++) {
    let p = 0;
    for (let i = 0; i < zDim; i++) p += (latents[n * zDim + i]! - meanZ[i]!) * vector[i]!;
    const s = scores[n]! - meanS;
    sp += s * p;
    pp += p * p;
    ss += s * s;
  }
  return { vector, fit: pp > 0 && ss > 0 ? sp / Math.sqrt(pp * ss) : 0 };
}

/**
 * Each direction with the others' span projected out, renormalised (InterFaceGAN's conditional
 * manipulation, generalised from two attributes to several): moving along it leaves the other attributes'
 * linear scores unchanged. A direction the others almost span keeps what little is left, scaled to unit
 * length; `kept` is that remainder's length before scaling (1 = independent of the others).
 */
export function conditionalDirections(vectors: readonly Float32Array[]): Array<{
  vector: Float32Array;
  kept: number;
}> {
  return vectors.map((vector, i) => {
    const basis = orthonormalBasis(vectors.filter((_, j) => j !== i));
    const out = Float64Array.from(vector);
    for (const b of basis) {
      const d = dot(out, b);
      for (let k = 0; k < out.length; k++) out[k]! -= d * b[k]!;
    }
    const kept = Math.hypot(...out) / (Math.hypot(...vector) || 1);
    if (!(kept > 1e-6)) return { vector: Float32Array.from(vector), kept: 0 };
    const length = Math.hypot(...out);
    return { vector: Float32Array.from(out, (x) => x / length), kept };
  });
}

/** `blonde_hair` → `blonde hair`; `hatsune_miku_(cosplay)` → `hatsune miku (cosplay)`. */
export function tagLabel(tag: string): string {
  return tag.replace(/_/g, ' ').trim();
}

/** Gram–Schmidt (twice, for stability), dropping vectors that the earlier ones already span. */
function orthonormalBasis(vectors: readonly Float32Array[]): Float64Array[] {
  const basis: Float64Array[] = [];
  for (const v of vectors) {
    const u = Float64Array.from(v);
    const original = Math.hypot(...u);
    for (let pass = 0; pass < 2; pass++) {
      for (const b of basis) {
        const d = dot(u, b);
        for (let k = 0; k < u.length; k++) u[k]! -= d * b[k]!;
      }
    }
    const length = Math.hypot(...u);
    if (length > 1e-6 * original) basis.push(u.map((x) => x / length));
  }
  return basis;
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** Solves A x = b for symmetric positive-definite A (n×n, row-major). */
function choleskySolve(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = a[i * n + j]!;
      for (let k = 0; k < j; k++) sum -= l[i * n + k]! * l[j * n + k]!;
      if (i === j) {
        if (!(sum > 0)) throw new Error('the latent samples do not span z (matrix not positive definite)');
        l[i * n + i] = Math.sqrt(sum);
      } else {
        l[i * n + j] = sum / l[j * n + j]!;
      }
    }
  }
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let sum = b[i]!;
    for (let k = 0; k < i; k++) sum -= l[i * n + k]! * y[k]!;
    y[i] = sum / l[i * n + i]!;
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let sum = y[i]!;
    for (let k = i + 1; k < n; k++) sum -= l[k * n + i]! * x[k]!;
    x[i] = sum / l[i * n + i]!;
  }
  return x;
}
