import { expect } from 'vitest';

/**
 * ‖a − b‖ / ‖b‖, the error measure of every kernel-vs-reference test (‖a − b‖ where b is all zeros,
 * e.g. a batch-norm gradient over a single row).
 */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}
