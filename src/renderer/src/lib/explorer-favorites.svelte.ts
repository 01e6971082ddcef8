import type { Favorite } from '../../../shared/explorer-schemas.ts';
import { kao } from './api.ts';
import { errorMessage } from './format.ts';
import type { AttributeSliders } from './explorer-attributes.svelte.ts';
import type { ExplorerCore } from './explorer-core.ts';

/**
 * The open run's favorites, as the Explorer uses them: saving the face on screen, and the list the
 * interpolation ends and arithmetic groups are picked from (kept fresh by `favorites.changed` events).
 */
export class RunFavorites {
  /** The favorites of the open run that its generator can draw. */
  list = $state.raw<Favorite[]>([]);
  saving = $state(false);

  constructor(
    private readonly explorer: ExplorerCore,
    private readonly attributes: AttributeSliders,
  ) {}

  connect(): () => void {
    return kao.on('favorites.changed', () => void this.load());
  }

  async load(): Promise<void> {
    try {
      const { favorites } = await kao.invoke('favorites.list', {});
      this.list = favorites.filter(
        (f) => f.runId === this.explorer.runId && f.z.length === this.explorer.runtime?.zDim,
      );
    } catch {
      this.list = [];
    }
  }

  /** Saves the face on screen: its z and ψ with the sliders folded in, and the named sliders' positions. */
  async save(name?: string): Promise<Favorite | undefined> {
    const runtime = this.explorer.runtime;
    const face = this.explorer.editor.face;
    if (!runtime || !face || this.saving) return undefined;
    this.saving = true;
    try {
      const { z, truncation } = this.explorer.editor.forSaving(face);
      const attributes = this.attributes.positions(face);
      const favorite = await kao.invoke('favorites.save', {
        runId: runtime.manifest.runId,
        step: runtime.manifest.step,
        z: Array.from(z),
        truncation: Math.min(10, truncation),
        ...(name?.trim() ? { name: name.trim() } : {}),
        ...(attributes ? { attributes } : {}),
      });
      this.explorer.notify('info', `Saved “${favorite.name}” to Favorites.`);
      return favorite;
    } catch (error) {
      this.explorer.notify('error', `The face could not be saved: ${errorMessage(error)}`);
      return undefined;
    } finally {
      this.saving = false;
    }
  }
}
