/**
 * Dense linear algebra for the small (k×k, k ≲ 40) matrices of the PCA: float64, plain arrays. The big
 * products run on tf; only their k×k summaries land here.
 */

/** Symmetric eigendecomposition by cyclic Jacobi rotations, eigenvalues sorted descending. */
export function symmetricEigen(
  matrix: Float64Array,
  n: number,
): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(matrix);
  // vectors is row-major n×n; column j is the eigenvector of values[j].
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    let scale = 0;
    for (let i = 0; i < n; i++) {
      scale += a[i * n + i]! ** 2;
      for (let j = i + 1; j < n; j++) off += a[i * n + j]! ** 2;
    }
    if (off <= 1e-30 * Math.max(scale, 1e-300)) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (apq === 0) continue;
        const app = a[p * n + p]!;
        const aqq = a[q * n + q]!;
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p]!;
          const akq = a[k * n + q]!;
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k]!;
          const aqk = a[q * n + k]!;
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p]!;
          const vkq = v[k * n + q]!;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => a[j * n + j]! - a[i * n + i]!);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    values[dst] = a[src * n + src]!;
    for (let k = 0; k < n; k++) vectors[k * n + dst] = v[k * n + src]!;
  });
  return { values, vectors };
}

/**
 * The k×m matrix that orthonormalizes the columns of A given only G = AᵀA (k×k): A·T has orthonormal
 * columns spanning A's numerically non-degenerate part (m ≤ k columns survive). Eigen-based, so it tolerates
 * rank-deficient A (dead ReLU units) where Cholesky-QR would fail.
 */
export function orthonormalizer(
  gram: Float64Array,
  k: number,
  relativeTolerance = 1e-10,
): { transform: Float64Array; rank: number } {
  const { values, vectors } = symmetricEigen(gram, k);
  const largest = Math.max(values[0] ?? 0, 0);
  let rank = 0;
  while (rank < k && values[rank]! > relativeTolerance * largest && values[rank]! > 0) rank++;
  const transform = new Float64Array(k * rank);
  for (let j = 0; j < rank; j++) {
    const inv = 1 / Math.sqrt(values[j]!);
    for (let i = 0; i < k; i++) transform[i * rank + j] = vectors[i * k + j]! * inv;
  }
  return { transform, rank };
}
