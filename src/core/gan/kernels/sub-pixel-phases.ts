/**
 * The sub-pixel decomposition of a strided transposed convolution along one axis (used by both wasm
 * Conv2DBackpropInput paths): output pixel y with (y + padBefore) = u·stride + p only receives the filter
 * taps a ≡ p (mod stride), from dy rows u, u − 1, …
 */

/** The phases along one axis: which output pixels each has and which dy rows feed them. */
export function axisPhases(stride: number, kernel: number, padBefore: number, size: number, dySize: number) {
  const phases = [];
  for (let p = 0; p < stride; p++) {
    const taps = Math.max(0, Math.ceil((kernel - p) / stride));
    const u0 = Math.ceil((padBefore - p) / stride);
    const first = u0 * stride + p - padBefore;
    const count = first < size ? Math.ceil((size - first) / stride) : 0;
    // Output j of the phase reads dy[u0 + j − t] for t < taps: rows u0 − taps + 1 … u0 + count − 1.
    const lo = u0 - taps + 1;
    const hi = u0 + count - 1;
    const dyStart = Math.min(Math.max(0, lo), dySize);
    const dyEnd = Math.max(Math.min(dySize - 1, hi), dyStart - 1);
    phases.push({
      p,
      taps,
      first,
      count,
      dyStart,
      dyCount: dyEnd - dyStart + 1,
      padBefore: dyStart - lo,
      padAfter: hi - dyEnd,
    });
  }
  return phases;
}
