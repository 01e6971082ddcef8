import type { GanState } from '../../src/core/gan/parallel/state.ts';

/** Every float of a GAN's training state in one array (records in a fixed order, names sorted). */
export function flatGanState(state: GanState): Float32Array {
  const records = [
    state.g,
    state.d,
    state.gStats,
    state.dStats,
    state.gEma ?? {},
    state.optG.m,
    state.optG.v,
    state.optD.m,
    state.optD.v,
  ];
  const parts = records.flatMap((r) =>
    Object.keys(r)
      .sort()
      .map((name) => r[name]!.data),
  );
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
