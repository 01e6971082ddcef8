/** 64-bit DCT perceptual hash: robust to rescaling and recompression, so near-duplicate crops collide. */
export const PHASH_INPUT_SIDE = 32;
const LOW = 8;

const cosines = (() => {
  // cosines[u * N + x] = cos((2x + 1) u π / 2N), the DCT-II basis.
  const n = PHASH_INPUT_SIDE;
  const table = new Float64Array(LOW * n);
  for (let u = 0; u < LOW; u++) {
    for (let x = 0; x < n; x++) table[u * n + x] = Math.cos(((2 * x + 1) * u * Math.PI) / (2 * n));
  }
  return table;
})();

/**
 * One axis of the separable DCT: the LOW lowest DCT-II coefficients of each of `lines` rows of
 * PHASH_INPUT_SIDE samples, written transposed (coefficient k of row l at [k·lines + l]) so that the
 * same pass over the result transforms the other axis.
 */
function lowFrequencyRows(input: ArrayLike<number>, lines: number): Float64Array {
  const n = PHASH_INPUT_SIDE;
  const out = new Float64Array(LOW * lines);
  for (let l = 0; l < lines; l++) {
    for (let k = 0; k < LOW; k++) {
      let sum = 0;
      for (let t = 0; t < n; t++) sum += input[l * n + t]! * cosines[k * n + t]!;
      out[k * lines + l] = sum;
    }
  }
  return out;
}

/** Hash of a 32×32 grayscale image (row-major bytes) as 16 hex digits. */
export function perceptualHash(gray32: Uint8Array): string {
  const n = PHASH_INPUT_SIDE;
  if (gray32.length !== n * n)
    throw new Error(`perceptualHash needs ${n}×${n} gray pixels, got ${gray32.length}`);
  // Separable DCT keeping only the 8×8 lowest frequencies: rows, then (transposed) columns.
  const coefficients = lowFrequencyRows(lowFrequencyRows(gray32, n), LOW);
  // The DC term only measures brightness; the median of the others splits the bits evenly.
  const median = medianOf(coefficients.subarray(1));
  let hi = 0;
  let lo = 0;
  for (let i = 0; i < 64; i++) {
    const bit = coefficients[i]! > median ? 1 : 0;
    if (i < 32) hi = (hi << 1) | bit;
    else lo = (lo << 1) | bit;
  }
  return toHex8(hi) + toHex8(lo);
}

function medianOf(values: Float64Array): number {
  const sorted = Array.from(values).sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function toHex8(word: number): string {
  return (word >>> 0).toString(16).padStart(8, '0');
}

/** Number of differing bits between two 16-hex-digit hashes. */
export function hammingDistance(a: string, b: string): number {
  return (
    popcount32(parseInt(a.slice(0, 8), 16) ^ parseInt(b.slice(0, 8), 16)) +
    popcount32(parseInt(a.slice(8), 16) ^ parseInt(b.slice(8), 16))
  );
}

function popcount32(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
}

/**
 * Finds stored hashes within a Hamming distance quickly at 50,000+ faces: split 64 bits into distance+1
 * chunks; two hashes within the distance agree exactly on at least one chunk (pigeonhole), so only hashes
 * sharing a chunk value are compared.
 */
export class NearDuplicateIndex<T> {
  readonly #maxDistance: number;
  readonly #chunks: Array<[start: number, width: number]>;
  readonly #tables: Array<Map<number, Array<{ hash: string; value: T }>>>;

  constructor(maxDistance: number) {
    if (maxDistance < 0 || maxDistance > 20) throw new Error(`maxDistance must be 0…20, got ${maxDistance}`);
    this.#maxDistance = maxDistance;
    const count = maxDistance + 1;
    this.#chunks = [];
    let start = 0;
    for (let i = 0; i < count; i++) {
      const width = Math.floor(64 / count) + (i < 64 % count ? 1 : 0);
      this.#chunks.push([start, width]);
      start += width;
    }
    this.#tables = this.#chunks.map(() => new Map());
  }

  /** The first stored entry within the distance of `hash`, if any. */
  findNear(hash: string): { hash: string; value: T; distance: number } | undefined {
    const bits = BigInt('0x' + hash);
    let best: { hash: string; value: T; distance: number } | undefined;
    for (let i = 0; i < this.#chunks.length; i++) {
      const bucket = this.#tables[i]!.get(chunkOf(bits, this.#chunks[i]!));
      if (!bucket) continue;
      for (const entry of bucket) {
        const distance = hammingDistance(hash, entry.hash);
        if (distance <= this.#maxDistance && (!best || distance < best.distance))
          best = { ...entry, distance };
      }
    }
    return best;
  }

  add(hash: string, value: T): void {
    const bits = BigInt('0x' + hash);
    for (let i = 0; i < this.#chunks.length; i++) {
      const key = chunkOf(bits, this.#chunks[i]!);
      const table = this.#tables[i]!;
      const bucket = table.get(key);
      if (bucket) bucket.push({ hash, value });
      else table.set(key, [{ hash, value }]);
    }
  }
}

function chunkOf(bits: bigint, [start, width]: [number, number]): number {
  return Number((bits >> BigInt(start)) & ((1n << BigInt(width)) - 1n));
}
