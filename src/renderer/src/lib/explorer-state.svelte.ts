/**
 * The Explorer screen's state. Faces are generated here in the renderer (GeneratorRuntime, tfjs), so a
 * slider drag never waits on IPC or on the trainer; Node is asked only for the weights, the directions
 * cache, saving favorites and exporting animations. One instance lives for the whole session, so leaving
 * the screen and coming back keeps the face, the history and the loaded model.
 *
 * This class lists the runs and opens one at a checkpoint; each part of the screen is a piece made here, which
 * the components read directly.
 */
import { createContext } from 'svelte';
import type { AttributeOffsets, ExplorerRun, Favorite } from '../../../shared/explorer-schemas.ts';
import type { Latent } from '../../../core/explorer/latent.ts';
import type { RgbaImage } from '../../../core/explorer/generator.ts';
import { kao } from './api.ts';
import type { BackendChoice, GeneratorRuntime } from './generator-runtime.ts';
import { errorMessage } from './format.ts';
import type { Notify } from './app-state.svelte.ts';
import { FaceArithmetic } from './explorer-arithmetic.svelte.ts';
import type { ExplorerCore } from './explorer-core.ts';
import { AttributeSliders } from './explorer-attributes.svelte.ts';
import { FaceCanvas } from './explorer-canvas.svelte.ts';
import { DirectionSliders } from './explorer-directions.svelte.ts';
import { FaceEditor } from './explorer-face.svelte.ts';
import { RunFavorites } from './explorer-favorites.svelte.ts';
import { Interpolation } from './explorer-interpolation.svelte.ts';
import { Variations } from './explorer-variations.svelte.ts';

export type ExplorerTab = 'directions' | 'attributes' | 'variations' | 'interpolation' | 'arithmetic' | 'raw';

export class ExplorerState implements ExplorerCore {
  runs = $state.raw<ExplorerRun[]>([]);
  /** The run list was read at least once; `loadError` says why the last read failed. */
  loaded = $state(false);
  loadError = $state<string | undefined>();
  runId = $state<string | undefined>();
  step = $state<number | undefined>();

  /** Loading the generator (weights + backend). */
  modelLoading = $state(false);
  modelError = $state<string | undefined>();
  runtime = $state.raw<GeneratorRuntime | undefined>();
  backend = $state.raw<BackendChoice | undefined>();
  tab = $state<ExplorerTab>('directions');

  run = $derived(this.runs.find((r) => r.id === this.runId));

  readonly canvas: FaceCanvas;
  readonly editor: FaceEditor;
  readonly directions: DirectionSliders;
  readonly attributes: AttributeSliders;
  readonly variations: Variations;
  readonly interpolation: Interpolation;
  readonly favorites: RunFavorites;
  readonly arithmetic: FaceArithmetic;

  #loadToken = 0;
  #pendingFavorite: Favorite | undefined;

  constructor(readonly notify: Notify) {
    this.canvas = new FaceCanvas({ runtime: () => this.runtime, latent: () => this.editor.latent, notify });
    this.editor = new FaceEditor({
      canvas: this.canvas,
      zDim: () => this.runtime?.zDim,
      directions: () => this.directions.found,
      attributeVectors: () => this.attributes.vectors,
    });
    this.directions = new DirectionSliders(this);
    this.attributes = new AttributeSliders(this);
    this.variations = new Variations(this);
    this.interpolation = new Interpolation(this);
    this.favorites = new RunFavorites(this, this.attributes);
    this.arithmetic = new FaceArithmetic(() => this.favorites.list);
  }

  connect(): () => void {
    const offs = [
      this.interpolation.connect(),
      this.favorites.connect(),
      this.attributes.connect(),
      kao.on('training.checkpoint', () => void this.refreshRuns()),
    ];
    return () => offs.forEach((off) => off());
  }

  /** The run list; opens a favorite waiting to be shown, else keeps the open run, else the newest. */
  async load(): Promise<void> {
    await this.refreshRuns();
    const pending = this.#pendingFavorite;
    if (pending) {
      this.#pendingFavorite = undefined;
      await this.openFavorite(pending);
    } else if (!this.runId && this.runs[0]) {
      await this.openRun(this.runs[0].id);
    }
  }

  async refreshRuns(): Promise<void> {
    try {
      this.runs = await kao.invoke('explorer.runs', {});
      this.loadError = undefined;
    } catch (error) {
      this.loadError = errorMessage(error);
    } finally {
      this.loaded = true;
    }
  }

  /** Opens a run at a checkpoint (the newest by default) and shows a face. */
  async openRun(
    runId: string,
    step?: number,
    face?: { z: Latent; truncation: number; attributes?: AttributeOffsets | undefined },
  ): Promise<boolean> {
    const token = ++this.#loadToken;
    this.directions.clear();
    this.runId = runId;
    this.modelLoading = true;
    this.modelError = undefined;
    const previousAttributes = this.attributes.putAway();
    this.variations.cells = [];
    this.interpolation.exported = undefined;
    try {
      const manifest = await kao.invoke('explorer.model', step === undefined ? { runId } : { runId, step });
      if (token !== this.#loadToken) return false;
      // Learned in Node while the generator loads here and GANSpace runs in the page.
      this.attributes.open(runId, manifest.step, previousAttributes, face?.attributes);
      const { GeneratorRuntime } = await import('./generator-runtime.ts');
      const runtime = await GeneratorRuntime.load(manifest, kao.mediaUrl(manifest.weightsPath));
      if (token !== this.#loadToken) {
        runtime.dispose();
        return false;
      }
      const sameModelFamily = this.runtime?.zDim === runtime.zDim && this.runtime.manifest.runId === runId;
      this.runtime?.dispose();
      this.runtime = runtime;
      this.backend = runtime.backend;
      this.step = manifest.step;
      this.editor.open(runtime.zDim, sameModelFamily, face);
      if (!sameModelFamily) {
        this.interpolation.clearEnds();
        this.arithmetic.clear();
      }
      this.attributes.apply();
      void this.favorites.load();
      if (manifest.directions) {
        const { principalDirectionsFromJson } = await import('../../../core/explorer/directions.ts');
        this.directions.set(principalDirectionsFromJson(manifest.directions));
        this.canvas.request();
      } else {
        // The face first, then the directions: both use the same tf backend and the face is what the user waits for.
        this.canvas.request();
        await this.canvas.rendered;
        if (token === this.#loadToken) void this.directions.compute();
      }
      return true;
    } catch (error) {
      if (token === this.#loadToken) this.modelError = errorMessage(error);
      return false;
    } finally {
      if (token === this.#loadToken) this.modelLoading = false;
    }
  }

  /** Draws a latent with the open generator (a tab's preview: interpolation ends and frame, arithmetic). */
  async renderLatent(latent: Latent): Promise<RgbaImage | undefined> {
    if (!this.runtime) return undefined;
    return (await this.runtime.render([latent]))[0];
  }

  /** Shows a favorite exactly as saved: its run, checkpoint, z and ψ, and its named sliders where they were. */
  async openFavorite(favorite: Favorite): Promise<void> {
    if (!this.loaded) {
      this.#pendingFavorite = favorite;
      return;
    }
    const ok = await this.openRun(favorite.runId, favorite.step, {
      z: Float32Array.from(favorite.z),
      truncation: favorite.truncation,
      attributes: favorite.attributes,
    });
    if (ok) this.notify('info', `Opened “${favorite.name}” in the explorer.`);
  }

  /** Queues a favorite for when the Explorer screen loads (from the Favorites screen). */
  queueFavorite(favorite: Favorite): void {
    this.#pendingFavorite = favorite;
  }
}

/** Created once in App.svelte, so leaving the screen keeps the model; read with `useExplorerState()`. */
export const [useExplorerState, setExplorerState] = createContext<ExplorerState>();
