/**
 * ‖a − b‖ / ‖b‖, the error measure of every kernel-vs-reference test (‖a − b‖ where b is all zeros,
 * e.g. a batch-norm gradient over a single row). No vitest import: scripts/gpu-check.ts uses it (through webgpu-gradients.ts).
 */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`relativeError: ${a.length} values against ${b.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}
