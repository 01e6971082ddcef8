/**
 * The Faces screen's selection as immutable sets of face ids: every change makes a new set, so the state
 * holds it in one `$state.raw` field and a select-all of 50,000 ids is one assignment, not 50,000 signals.
 */
export type Selection = ReadonlySet<string>;

export const emptySelection: Selection = new Set<string>();

export function selectionOf(ids: Iterable<string>): Selection {
  return new Set(ids);
}

export function toggled(selection: Selection, id: string): Selection {
  const next = new Set(selection);
  if (next.has(id)) next.delete(id);
  else next.add(id);
  return next;
}

export function withAll(selection: Selection, ids: Iterable<string>): Selection {
  const next = new Set(selection);
  for (const id of ids) next.add(id);
  return next;
}

/** "96×96 px at 120, 40": where a face was found on its illustration. */
export function describeBox(b: { x: number; y: number; width: number; height: number }): string {
  return `${b.width}×${b.height} px at ${b.x}, ${b.y}`;
}
