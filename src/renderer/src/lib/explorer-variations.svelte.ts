import { truncate, variations, type Latent } from '../../../core/explorer/latent.ts';
import type { RgbaImage } from '../../../core/explorer/generator.ts';
import { errorMessage } from './format.ts';
import type { ExplorerCore } from './explorer-core.ts';
import { MAX_SEED } from './explorer-face.svelte.ts';

export interface VariationCell {
  /** Untruncated z of the variation (the explorer continues from it with the current ψ). */
  z: Latent;
  image: RgbaImage;
}

/** The Variations tab: a grid of faces near the current one; picking one continues from it. */
export class Variations {
  amount = $state(0.3);
  seed = $state(1);
  cells = $state.raw<VariationCell[]>([]);

  constructor(private readonly explorer: ExplorerCore) {}

  async render(): Promise<void> {
    const runtime = this.explorer.runtime;
    const face = this.explorer.editor.face;
    if (!runtime || !face) return;
    const { z, truncation } = this.explorer.editor.forSaving(face);
    const zs = variations(z, { seed: this.seed, amount: this.amount, count: 16 });
    try {
      const images = await runtime.render(zs.map((v) => truncate(v, truncation)));
      if (this.explorer.runtime === runtime) this.cells = zs.map((v, i) => ({ z: v, image: images[i]! }));
    } catch (error) {
      this.explorer.notify('error', `Variations could not be generated: ${errorMessage(error)}`);
    }
  }

  pick(cell: VariationCell): void {
    const face = this.explorer.editor.face;
    if (!face) return;
    this.explorer.editor.commit({ z: cell.z, truncation: face.truncation, offsets: [], attributes: [] });
    void this.render();
  }

  shuffle(): void {
    this.seed = (this.seed % MAX_SEED) + 1;
    void this.render();
  }
}
