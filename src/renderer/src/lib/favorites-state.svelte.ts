import { createContext } from 'svelte';
import type { Favorite } from '../../../shared/explorer-schemas.ts';
import { KaoError } from '../../../shared/errors.ts';
import { kao } from './api.ts';
import { startDownload } from './download.ts';
import { errorMessage } from './format.ts';
import type { Notify } from './app-state.svelte.ts';

/** The Favorites screen's state: the library listing, kept fresh by `favorites.changed` events. */
export class FavoritesState {
  favorites = $state.raw<Favorite[]>([]);
  problems = $state.raw<Array<{ file: string; reason: string }>>([]);
  canCopy = $state(false);
  canReveal = $state(false);
  loaded = $state(false);
  loadError = $state<string | undefined>();
  /** Where the last export of each favorite went: a server path, or the name of a browser download. */
  exports = $state<Record<string, { download: boolean; path: string }>>({});
  busy = $state<Record<string, string>>({});

  constructor(private readonly notify: Notify) {}

  connect(): () => void {
    return kao.on('favorites.changed', () => void this.load());
  }

  async load(): Promise<void> {
    try {
      const listing = await kao.invoke('favorites.list', {});
      this.favorites = listing.favorites;
      this.problems = listing.problems;
      this.canCopy = listing.canCopy;
      this.canReveal = listing.canReveal;
      this.loadError = undefined;
    } catch (error) {
      this.loadError = errorMessage(error);
    } finally {
      this.loaded = true;
    }
  }

  async #act<T>(id: string, label: string, work: () => Promise<T>): Promise<T | undefined> {
    this.busy = { ...this.busy, [id]: label };
    try {
      return await work();
    } catch (error) {
      this.notify('error', errorMessage(error));
      return undefined;
    } finally {
      const { [id]: _done, ...rest } = this.busy;
      this.busy = rest;
    }
  }

  async rename(id: string, name: string): Promise<void> {
    const updated = await this.#act(id, 'renaming', () => kao.invoke('favorites.rename', { id, name }));
    if (updated) this.favorites = this.favorites.map((f) => (f.id === id ? updated : f));
  }

  async remove(id: string): Promise<void> {
    const done = await this.#act(id, 'deleting', () => kao.invoke('favorites.delete', { id }));
    if (done) this.favorites = this.favorites.filter((f) => f.id !== id);
  }

  /**
   * Exports a favorite at `size`: as a browser download, or saved at `to` (or the default folder). An
   * existing file is replaced only with `overwrite`; without it the answer is 'exists' so the card can ask.
   */
  async exportPng(
    id: string,
    size: number,
    options: { to?: string; overwrite?: boolean; download?: boolean } = {},
  ): Promise<'done' | 'exists' | 'failed'> {
    this.busy = { ...this.busy, [id]: options.download ? 'preparing the download' : 'exporting' };
    try {
      const to = options.to?.trim();
      const result = await kao.invoke('favorites.export', {
        id,
        size,
        ...(to ? { to } : {}),
        ...(options.overwrite ? { overwrite: true } : {}),
        ...(options.download ? { download: true } : {}),
      });
      const note =
        result.source === 'saved-image' ? ' (upscaled from the saved image: the model is gone)' : '';
      if (result.downloadUrl) {
        const fileName = result.fileName ?? result.path;
        startDownload(result.downloadUrl, fileName);
        this.exports = { ...this.exports, [id]: { download: true, path: fileName } };
        this.notify('info', `Downloading ${fileName}${note}`);
      } else {
        this.exports = { ...this.exports, [id]: { download: false, path: result.path } };
        this.notify('info', `Exported ${result.size}×${result.size} PNG to ${result.path}${note}`);
      }
      return 'done';
    } catch (error) {
      if (error instanceof KaoError && error.code === 'exists') return 'exists';
      this.notify('error', errorMessage(error));
      return 'failed';
    } finally {
      const { [id]: _done, ...rest } = this.busy;
      this.busy = rest;
    }
  }

  /** Desktop: main puts the file on the clipboard. Browser: the page copies the PNG it already shows. */
  async copy(favorite: Favorite): Promise<void> {
    await this.#act(favorite.id, 'copying', async () => {
      const { copied } = await kao.invoke('favorites.copy', { id: favorite.id });
      if (!copied) {
        if (!navigator.clipboard?.write) throw new Error('This browser cannot copy images to the clipboard.');
        const blob = await (await fetch(kao.mediaUrl(favorite.imagePath))).blob();
        await navigator.clipboard.write([new ClipboardItem({ 'image/png': blob })]);
      }
      this.notify('info', `Copied “${favorite.name}” to the clipboard.`);
    });
  }

  async reveal(id: string): Promise<void> {
    await this.#act(id, 'revealing', () => kao.invoke('favorites.reveal', { id }));
  }
}

/** Created once in App.svelte, so the state outlives a screen switch; read with `useFavoritesState()`. */
export const [useFavoritesState, setFavoritesState] = createContext<FavoritesState>();
