import type { Latent } from '../../../core/explorer/latent.ts';
import type { RgbaImage } from '../../../core/explorer/generator.ts';
import type { ExplorerState } from './explorer-state.svelte.ts';

/**
 * A face a tab computes from its settings (the interpolation frame, the arithmetic result): drawn again each
 * time its latent changes, and the face the Explorer can continue from. Made while a component initialises,
 * it redraws for as long as that component lives.
 */
export class LatentPreview {
  /** The face as drawn; undefined while there is no latent. */
  image = $state.raw<RgbaImage | undefined>();
  readonly #explorer: ExplorerState;
  readonly #latent: () => Latent | undefined;

  constructor(explorer: ExplorerState, latent: () => Latent | undefined) {
    this.#explorer = explorer;
    this.#latent = latent;
    // Renders can settle out of order while a slider moves: only the latest request's face is kept.
    let latest = 0;
    $effect(() => {
      const current = latent();
      const request = ++latest;
      if (!current) this.image = undefined;
      else
        void explorer.renderLatent(current).then((image) => {
          if (request === latest) this.image = image;
        });
    });
  }

  /** Makes this face the Explorer's current one; nothing while there is no latent. */
  continueFrom(): void {
    const latent = this.#latent();
    if (latent) this.#explorer.editor.continueFrom(latent);
  }
}
