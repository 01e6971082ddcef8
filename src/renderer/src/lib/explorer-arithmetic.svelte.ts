import type { Favorite } from '../../../shared/explorer-schemas.ts';
import { faceArithmetic, truncate, type Latent } from '../../../core/explorer/latent.ts';

export type ArithmeticGroup = 'a' | 'b' | 'c';

/** The Arithmetic tab: favorites picked into groups A, B and C, and the face A − B + C they make. */
export class FaceArithmetic {
  groups = $state<Record<ArithmeticGroup, string[]>>({ a: [], b: [], c: [] });

  readonly #favorites: () => readonly Favorite[];

  /** `favorites`: the ones that can be picked (the open run's). */
  constructor(favorites: () => readonly Favorite[]) {
    this.#favorites = favorites;
  }

  toggle(group: ArithmeticGroup, id: string): void {
    const current = this.groups[group];
    this.groups = {
      ...this.groups,
      [group]: current.includes(id) ? current.filter((x) => x !== id) : [...current, id],
    };
  }

  /** Nothing picked (another run was opened: its latents mean something else). */
  clear(): void {
    this.groups = { a: [], b: [], c: [] };
  }

  /** mean(A) − mean(B) + mean(C) of the picked favorites, as the latents they were shown with. */
  get latent(): Latent | undefined {
    const pick = (ids: string[]) =>
      this.#favorites()
        .filter((f) => ids.includes(f.id))
        .map((f) => truncate(Float32Array.from(f.z), f.truncation));
    const [a, b, c] = [pick(this.groups.a), pick(this.groups.b), pick(this.groups.c)];
    if (!a.length || !b.length || !c.length) return undefined;
    return faceArithmetic(a, b, c);
  }
}
