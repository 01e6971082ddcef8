/**
 * The Explorer screen's state. Faces are generated here in the renderer (GeneratorRuntime, tfjs), so a
 * slider drag never waits on IPC or on the trainer; Node is asked only for the weights, the directions
 * cache, saving favorites and exporting animations. One instance lives for the whole session, so leaving
 * the screen and coming back keeps the face, the history and the loaded model.
 */
import { createContext } from 'svelte';
import { KaoError } from '../../../shared/errors.ts';
import type {
  AttributeDirections,
  AttributeOffsets,
  AttributesProgress,
  ExplorerRun,
  Favorite,
  InterpolationExportResult,
} from '../../../shared/explorer-schemas.ts';
import { History } from '../../../core/explorer/history.ts';
import {
  faceArithmetic,
  interpolate,
  lerp,
  randomLatent,
  slerp,
  truncate,
  variations,
  withComponent,
  type InterpolationMode,
  type Latent,
} from '../../../core/explorer/latent.ts';
import {
  effectiveLatent,
  latentForSaving,
  rebaseAttributes,
  withAttribute,
  withBaseLatent,
  withOffset,
  withTruncation,
  type ExplorerState as FaceState,
} from '../../../core/explorer/state.ts';
import type { PrincipalDirections, PrincipalDirectionsProgress } from '../../../core/explorer/directions.ts';
import type { RgbaImage } from '../../../core/explorer/generator.ts';
import { kao } from './api.ts';
import type { BackendChoice, GeneratorRuntime } from './generator-runtime.ts';
import { errorMessage } from './format.ts';
import type { Notify } from './app-state.svelte.ts';

export type ExplorerTab = 'directions' | 'attributes' | 'variations' | 'interpolation' | 'arithmetic' | 'raw';

/** A face picked as an interpolation end: what it looked like, as the latent the generator sees. */
export interface Endpoint {
  label: string;
  latent: Latent;
}

export interface VariationCell {
  /** Untruncated z of the variation (the explorer continues from it with the current ψ). */
  z: Latent;
  image: RgbaImage;
}

const DIRECTION_SAMPLES = 2048;
const DIRECTION_COUNT = 16;
const MAX_SEED = 2 ** 31 - 1;

export class ExplorerState {
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

  directions = $state.raw<PrincipalDirections | undefined>();
  directionsProgress = $state.raw<PrincipalDirectionsProgress | undefined>();
  directionsError = $state<string | undefined>();

  /** Named sliders of the open checkpoint, learned in Node from the tags of the run's training faces. */
  attributes = $state.raw<AttributeDirections | undefined>();
  attributesLoading = $state(false);
  attributesProgress = $state.raw<AttributesProgress | undefined>();
  attributesError = $state<string | undefined>();
  attributesCancelled = $state(false);
  /** The attributes' vectors as latents, in list order (what `effectiveLatent` adds). */
  attributeVectors = $derived((this.attributes?.attributes ?? []).map((a) => Float32Array.from(a.vector)));

  face = $state.raw<FaceState | undefined>();
  seed = $state(1);
  canUndo = $state(false);
  canRedo = $state(false);
  /** Smoothed time from a slider's input event to the face painted, in ms. */
  latencyMs = $state<number | undefined>();
  /** Bumped after every paint (e2e and the variation grid wait on it). */
  paintCount = $state(0);
  saving = $state(false);
  tab = $state<ExplorerTab>('directions');

  variationAmount = $state(0.3);
  variationSeed = $state(1);
  variationCells = $state.raw<VariationCell[]>([]);

  endpointA = $state.raw<Endpoint | undefined>();
  endpointB = $state.raw<Endpoint | undefined>();
  interpolationMode = $state<InterpolationMode>('spherical');
  interpolationT = $state(0.5);
  exportFrames = $state(24);
  exportFormat = $state<'webp' | 'gif'>('webp');
  exportProgress = $state.raw<{ done: number; total: number } | undefined>();
  exporting = $state(false);
  exported = $state.raw<InterpolationExportResult | undefined>();
  /** The typed file an export would have replaced, while the panel asks. */
  exportExists = $state<string | undefined>();

  /** Favorites of the open run: interpolation ends and arithmetic groups come from here. */
  favorites = $state.raw<Favorite[]>([]);
  groups = $state<{ a: string[]; b: string[]; c: string[] }>({ a: [], b: [], c: [] });

  run = $derived(this.runs.find((r) => r.id === this.runId));

  #history: History<FaceState> | undefined;
  #canvas: HTMLCanvasElement | undefined;
  #rendering = false;
  #renderQueued = false;
  /** Settles when the latest render has painted. */
  #rendered: Promise<void> = Promise.resolve();
  #inputAt: number | undefined;
  #editing = false;
  #loadToken = 0;
  #directionsAbort: AbortController | undefined;
  #pendingFavorite: Favorite | undefined;
  /** The latest attributes request (older answers are dropped) and which checkpoint it asked about. */
  #attributesRequest = 0;
  /** The checkpoint whose sliders this window is waiting for. */
  #attributesInFlight: { runId: string; step: number } | undefined;
  #attributesKey: string | undefined;
  /** Attributes that arrived before their checkpoint's face was set up; applied once it is. */
  #receivedAttributes: AttributeDirections | undefined;
  /** Slider positions of an opened favorite, put back once its checkpoint's attributes are known. */
  #pendingRestore: { key: string; offsets: AttributeOffsets } | undefined;

  constructor(private readonly notify: Notify) {}

  connect(): () => void {
    const offs = [
      kao.on('explorer.export', (progress) => {
        if (this.exporting) this.exportProgress = progress;
      }),
      kao.on('favorites.changed', () => void this.loadFavorites()),
      kao.on('explorer.attributes', (progress) => {
        if (this.attributesLoading && progress.runId === this.runId) this.attributesProgress = progress;
      }),
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
    this.#directionsAbort?.abort();
    this.runId = runId;
    this.modelLoading = true;
    this.modelError = undefined;
    this.directions = undefined;
    this.directionsProgress = undefined;
    this.directionsError = undefined;
    // The face on screen until the new one is set up has no attribute sliders (their vectors are per checkpoint).
    const previousAttributes = this.attributes;
    this.attributes = undefined;
    this.#pendingRestore = undefined;
    this.variationCells = [];
    this.exported = undefined;
    try {
      const manifest = await kao.invoke('explorer.model', step === undefined ? { runId } : { runId, step });
      if (token !== this.#loadToken) return false;
      const key = attributesKey(runId, manifest.step);
      if (face?.attributes && Object.keys(face.attributes).length > 0)
        this.#pendingRestore = { key, offsets: face.attributes };
      // Learned in Node while the generator loads here and GANSpace runs in the page.
      if (previousAttributes && attributesKey(previousAttributes.runId, previousAttributes.step) === key)
        this.#receivedAttributes = previousAttributes;
      else if (!(this.attributesLoading && this.#attributesKey === key))
        void this.loadAttributes(runId, manifest.step);
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
      // Latents mean something else in another run; another checkpoint of the same run keeps the face.
      const start: FaceState = face
        ? { z: Float32Array.from(face.z), truncation: face.truncation, offsets: [], attributes: [] }
        : sameModelFamily && this.face
          ? { ...this.face, offsets: [], attributes: [] }
          : {
              z: randomLatent(this.seed, runtime.zDim),
              truncation: this.face?.truncation ?? 1,
              offsets: [],
              attributes: [],
            };
      if (!sameModelFamily) {
        this.endpointA = undefined;
        this.endpointB = undefined;
        this.groups = { a: [], b: [], c: [] };
      }
      this.#resetHistory(start);
      this.#applyAttributes();
      void this.loadFavorites();
      if (manifest.directions) {
        const { principalDirectionsFromJson } = await import('../../../core/explorer/directions.ts');
        this.#setDirections(principalDirectionsFromJson(manifest.directions));
        this.requestRender();
      } else {
        // The face first, then the directions: both use the same tf backend and the face is what the user waits for.
        this.requestRender();
        await this.#rendered;
        if (token === this.#loadToken) void this.computeDirections();
      }
      return true;
    } catch (error) {
      if (token === this.#loadToken) this.modelError = errorMessage(error);
      return false;
    } finally {
      if (token === this.#loadToken) this.modelLoading = false;
    }
  }

  /** Finds GANSpace directions in small chunks (the sliders work meanwhile) and caches them in the run. */
  async computeDirections(): Promise<void> {
    const runtime = this.runtime;
    if (!runtime) return;
    this.#directionsAbort?.abort();
    const abort = new AbortController();
    this.#directionsAbort = abort;
    this.directionsError = undefined;
    this.directionsProgress = { phase: 'sampling', done: 0, total: DIRECTION_SAMPLES };
    try {
      const directions = await runtime.directions({
        samples: DIRECTION_SAMPLES,
        components: DIRECTION_COUNT,
        signal: abort.signal,
        onProgress: (progress) => {
          if (!abort.signal.aborted) this.directionsProgress = progress;
        },
      });
      if (abort.signal.aborted || this.runtime !== runtime) return;
      this.#setDirections(directions);
      const { principalDirectionsToJson } = await import('../../../core/explorer/directions.ts');
      await kao
        .invoke('explorer.saveDirections', {
          runId: runtime.manifest.runId,
          step: runtime.manifest.step,
          directions: principalDirectionsToJson(directions),
        })
        .catch((error: unknown) => this.notify('warning', `Directions not cached: ${errorMessage(error)}`));
    } catch (error) {
      if (!abort.signal.aborted) this.directionsError = errorMessage(error);
    } finally {
      if (this.#directionsAbort === abort) {
        this.#directionsAbort = undefined;
        this.directionsProgress = undefined;
      }
    }
  }

  #setDirections(directions: PrincipalDirections): void {
    this.directions = directions;
    if (this.face && this.face.offsets.length !== directions.directions.length) {
      // Directions arrive after the face: give it one zero offset per slider, without an undo step.
      const face = { ...this.face, offsets: directions.directions.map(() => 0) };
      this.#history?.replace(face);
      this.face = face;
    }
  }

  // ------------------------------------------------------------ named attribute sliders

  /**
   * Asks Node for the checkpoint's named sliders (read from the run folder's cache, or learned: up to half a
   * minute, with `explorer.attributes` progress events). A request for another checkpoint is cancelled first.
   */
  async loadAttributes(runId: string, step: number, recompute = false): Promise<void> {
    const request = ++this.#attributesRequest;
    await this.cancelAttributes();
    if (request !== this.#attributesRequest) return;
    this.#attributesInFlight = { runId, step };
    this.#attributesKey = attributesKey(runId, step);
    this.#receivedAttributes = undefined;
    this.attributesLoading = true;
    this.attributesProgress = undefined;
    this.attributesError = undefined;
    this.attributesCancelled = false;
    try {
      const result = await kao.invoke('explorer.attributes', {
        runId,
        step,
        ...(recompute ? { recompute } : {}),
      });
      if (request !== this.#attributesRequest) return;
      this.#receivedAttributes = result;
      this.#applyAttributes();
    } catch (error) {
      if (request !== this.#attributesRequest) return;
      if (error instanceof KaoError && error.code === 'cancelled') this.attributesCancelled = true;
      else this.attributesError = errorMessage(error);
    } finally {
      if (request === this.#attributesRequest) {
        this.attributesLoading = false;
        this.attributesProgress = undefined;
      }
    }
  }

  /** Learns the open checkpoint's sliders again (after tagging more faces); the face stays as it is. */
  relearnAttributes(): void {
    const manifest = this.runtime?.manifest;
    if (manifest) void this.loadAttributes(manifest.runId, manifest.step, true);
  }

  /** Tries again after an error or a cancel (the cache makes this instant when learning had finished). */
  retryAttributes(): void {
    const manifest = this.runtime?.manifest;
    if (manifest) void this.loadAttributes(manifest.runId, manifest.step);
  }

  /** Cancels this window's learning only (another window may be learning other sliders in the same app). */
  async cancelAttributes(): Promise<void> {
    const inFlight = this.#attributesInFlight;
    if (this.attributesLoading && inFlight) {
      await kao.invoke('explorer.cancelAttributes', inFlight).catch(() => undefined);
    }
  }

  /**
   * Puts received attributes into use once the face of their checkpoint is on screen. Every state in the
   * history is re-expressed in the new sliders (same latent, positions kept by tag), so undo after
   * "Learn again" still shows the faces it showed; an opened favorite gets its saved positions back.
   */
  #applyAttributes(): void {
    const result = this.#receivedAttributes;
    const runtime = this.runtime;
    const history = this.#history;
    if (!result || !runtime || !history || !this.face) return;
    if (result.runId !== runtime.manifest.runId || result.step !== runtime.manifest.step) return;
    this.#receivedAttributes = undefined;
    if (result.zDim !== runtime.zDim) {
      this.attributesError = `The sliders were learned for a z of ${result.zDim} values, this generator takes ${runtime.zDim}.`;
      return;
    }
    const oldList = this.attributes?.attributes ?? [];
    const oldVectors = this.attributeVectors;
    const newVectors = result.attributes.map((a) => Float32Array.from(a.vector));
    let changed = false;
    // Where each new slider's tag was in the old list (-1: a new tag, starting at 0).
    const oldIndex = result.attributes.map((a) => oldList.findIndex((old) => old.tag === a.tag));
    history.map((state) => {
      const aligned = { ...state, attributes: oldList.map((_, i) => state.attributes[i] ?? 0) };
      if (aligned.attributes.some((o) => o !== 0)) changed = true;
      const offsets = oldIndex.map((k) => (k >= 0 ? aligned.attributes[k]! : 0));
      return rebaseAttributes(aligned, oldVectors, newVectors, offsets);
    });
    this.attributes = result;

    const restore = this.#pendingRestore;
    this.#pendingRestore = undefined;
    // Only onto the favorite as opened: after an edit, its saved positions would no longer describe the face.
    if (restore?.key === attributesKey(result.runId, result.step) && !history.canUndo && !history.canRedo) {
      const tags = result.attributes.map((a) => a.tag);
      const saved = Object.entries(restore.offsets);
      if (saved.every(([tag]) => tags.includes(tag))) {
        const offsets = tags.map((tag) => restore.offsets[tag] ?? 0);
        history.replace(rebaseAttributes(history.current, newVectors, newVectors, offsets));
        changed = true;
      } else {
        this.notify(
          'info',
          'This favorite was saved with named sliders this checkpoint no longer has; it is shown as saved, with the sliders at 0.',
        );
      }
    }
    this.face = history.current;
    this.#syncHistory();
    if (changed) this.requestRender();
  }

  // ------------------------------------------------------------ rendering

  attachCanvas(canvas: HTMLCanvasElement | undefined): void {
    this.#canvas = canvas;
    if (canvas) this.requestRender();
  }

  /** The latent the generator sees for the current face. */
  get latent(): Latent | undefined {
    return this.face
      ? effectiveLatent(this.#alignedFace(this.face), this.directions, this.attributeVectors)
      : undefined;
  }

  /** Renders the current face; while one render runs, later requests collapse into one. */
  requestRender(): void {
    if (this.#rendering) {
      this.#renderQueued = true;
      return;
    }
    this.#rendered = this.#render();
  }

  async #render(): Promise<void> {
    const runtime = this.runtime;
    const latent = this.latent;
    const canvas = this.#canvas;
    if (!runtime || !latent || !canvas) return;
    this.#rendering = true;
    const startedAt = this.#inputAt;
    this.#inputAt = undefined;
    try {
      const [image] = await runtime.render([latent]);
      if (this.runtime !== runtime) return;
      const { paint } = await import('./generator-runtime.ts');
      paint(canvas, image!);
      // Painted = the next frame after the pixels were put.
      await new Promise((resolve) => requestAnimationFrame(resolve));
      if (startedAt !== undefined) {
        const ms = performance.now() - startedAt;
        this.latencyMs = this.latencyMs === undefined ? ms : this.latencyMs * 0.7 + ms * 0.3;
        canvas.dataset.lastLatency = ms.toFixed(1);
      }
      this.paintCount++;
    } catch (error) {
      this.notify('error', `The face could not be generated: ${errorMessage(error)}`);
    } finally {
      this.#rendering = false;
      if (this.#renderQueued) {
        this.#renderQueued = false;
        this.#rendered = this.#render();
      }
    }
  }

  // ------------------------------------------------------------ edits and history

  /** The face with exactly one offset per loaded slider of each kind (sliders arrive after the face). */
  #alignedFace(face: FaceState): FaceState {
    const count = this.directions?.directions.length ?? 0;
    const attributeCount = this.attributes?.attributes.length ?? 0;
    if (face.offsets.length === count && face.attributes.length === attributeCount) return face;
    return {
      ...face,
      offsets: Array.from({ length: count }, (_, i) => face.offsets[i] ?? 0),
      attributes: Array.from({ length: attributeCount }, (_, i) => face.attributes[i] ?? 0),
    };
  }

  #resetHistory(face: FaceState): void {
    const aligned = this.#alignedFace(face);
    this.#history = new History(aligned, 100);
    this.face = aligned;
    this.#syncHistory();
  }

  #syncHistory(): void {
    this.canUndo = this.#history?.canUndo ?? false;
    this.canRedo = this.#history?.canRedo ?? false;
  }

  /** A discrete change (new face, variation picked): one undo step. */
  #commit(face: FaceState): void {
    if (!this.#history) return;
    this.#editing = false;
    this.face = this.#history.push(this.#alignedFace(face));
    this.#syncHistory();
    this.requestRender();
  }

  /** A slider moving: the first input of a drag is an undo step, the rest replace it. */
  #edit(face: FaceState): void {
    if (!this.#history) return;
    this.#inputAt ??= performance.now();
    const aligned = this.#alignedFace(face);
    this.face = this.#editing ? this.#history.replace(aligned) : this.#history.push(aligned);
    this.#editing = true;
    this.#syncHistory();
    this.requestRender();
  }

  /** A slider released (its `change` event): the next input starts a new undo step. */
  endEdit(): void {
    this.#editing = false;
  }

  setOffset(index: number, value: number): void {
    if (this.face) this.#edit(withOffset(this.#alignedFace(this.face), index, value));
  }

  setAttribute(index: number, value: number): void {
    if (this.face) this.#edit(withAttribute(this.#alignedFace(this.face), index, value));
  }

  setTruncation(value: number): void {
    if (this.face) this.#edit(withTruncation(this.face, value));
  }

  setComponent(index: number, value: number): void {
    if (this.face) this.#edit({ ...this.face, z: withComponent(this.face.z, index, value) });
  }

  /** Principal-direction sliders back to 0 (one undo step); the attribute sliders have their own reset. */
  resetSliders(): void {
    if (this.face) this.#commit({ ...this.face, offsets: this.face.offsets.map(() => 0) });
  }

  resetAttributes(): void {
    if (this.face) this.#commit({ ...this.face, attributes: this.face.attributes.map(() => 0) });
  }

  undo(): void {
    this.#restore(this.#history?.undo());
  }

  redo(): void {
    this.#restore(this.#history?.redo());
  }

  /** Shows a face from the history (nothing when there is no step to take). */
  #restore(face: FaceState | undefined): void {
    if (!face) return;
    this.#editing = false;
    this.face = face;
    this.#syncHistory();
    this.requestRender();
  }

  /** The face of a seed: the same seed always gives the same face. */
  showSeed(seed: number): void {
    if (!this.runtime || !this.face) return;
    this.seed = clampSeed(seed);
    this.#commit(withBaseLatent(this.face, randomLatent(this.seed, this.runtime.zDim)));
  }

  randomFace(): void {
    this.showSeed(Math.floor(Math.random() * MAX_SEED));
  }

  /** Continue from a latent the generator should see as-is (interpolation frame, arithmetic result). */
  continueFrom(latent: Latent): void {
    if (this.face) this.#commit({ z: Float32Array.from(latent), truncation: 1, offsets: [], attributes: [] });
  }

  // ------------------------------------------------------------ variations

  async renderVariations(): Promise<void> {
    const runtime = this.runtime;
    if (!runtime || !this.face) return;
    const { z, truncation } = latentForSaving(
      this.#alignedFace(this.face),
      this.directions,
      this.attributeVectors,
    );
    const zs = variations(z, { seed: this.variationSeed, amount: this.variationAmount, count: 16 });
    try {
      const images = await runtime.render(zs.map((v) => truncate(v, truncation)));
      if (this.runtime === runtime) this.variationCells = zs.map((v, i) => ({ z: v, image: images[i]! }));
    } catch (error) {
      this.notify('error', `Variations could not be generated: ${errorMessage(error)}`);
    }
  }

  pickVariation(cell: VariationCell): void {
    if (!this.face) return;
    this.#commit({ z: cell.z, truncation: this.face.truncation, offsets: [], attributes: [] });
    void this.renderVariations();
  }

  shuffleVariations(): void {
    this.variationSeed = (this.variationSeed % MAX_SEED) + 1;
    void this.renderVariations();
  }

  // ------------------------------------------------------------ interpolation

  setEndpoint(which: 'a' | 'b', endpoint: Endpoint): void {
    if (which === 'a') this.endpointA = endpoint;
    else this.endpointB = endpoint;
  }

  setEndpointFromCurrent(which: 'a' | 'b'): void {
    const latent = this.latent;
    if (latent)
      this.setEndpoint(which, {
        label: `Seed ${this.seed}${this.face?.offsets.some((o) => o) || this.face?.attributes.some((o) => o) ? ' (edited)' : ''}`,
        latent,
      });
  }

  setEndpointFromFavorite(which: 'a' | 'b', favorite: Favorite): void {
    this.setEndpoint(which, {
      label: favorite.name,
      latent: truncate(Float32Array.from(favorite.z), favorite.truncation),
    });
  }

  /** The frame under the scrubber, or undefined until both ends are set. */
  get interpolationLatent(): Latent | undefined {
    if (!this.endpointA || !this.endpointB) return undefined;
    const step = this.interpolationMode === 'spherical' ? slerp : lerp;
    return step(this.endpointA.latent, this.endpointB.latent, this.interpolationT);
  }

  /** A strip of frames from A to B for the preview. */
  async renderInterpolationStrip(count = 8): Promise<RgbaImage[]> {
    if (!this.runtime || !this.endpointA || !this.endpointB) return [];
    return this.runtime.render(
      interpolate(this.endpointA.latent, this.endpointB.latent, count, this.interpolationMode),
    );
  }

  async renderLatent(latent: Latent): Promise<RgbaImage | undefined> {
    if (!this.runtime) return undefined;
    return (await this.runtime.render([latent]))[0];
  }

  async exportAnimation(outPath?: string, overwrite = false): Promise<void> {
    const runtime = this.runtime;
    if (!runtime || !this.endpointA || !this.endpointB || this.exporting) return;
    this.exporting = true;
    this.exported = undefined;
    this.exportExists = undefined;
    this.exportProgress = { done: 0, total: this.exportFrames };
    try {
      this.exported = await kao.invoke('explorer.exportInterpolation', {
        runId: runtime.manifest.runId,
        step: runtime.manifest.step,
        from: Array.from(this.endpointA.latent),
        to: Array.from(this.endpointB.latent),
        frames: this.exportFrames,
        mode: this.interpolationMode,
        format: this.exportFormat,
        ...(outPath?.trim() ? { outPath: outPath.trim() } : {}),
        ...(overwrite ? { overwrite: true } : {}),
      });
    } catch (error) {
      // The file is there already: the panel asks before replacing it.
      if (error instanceof KaoError && error.code === 'exists') this.exportExists = outPath?.trim();
      else this.notify('error', `The animation could not be exported: ${errorMessage(error)}`);
    } finally {
      this.exporting = false;
      this.exportProgress = undefined;
    }
  }

  async cancelExport(): Promise<void> {
    await kao.invoke('explorer.cancelExport', {}).catch(() => undefined);
  }

  // ------------------------------------------------------------ favorites and arithmetic

  async loadFavorites(): Promise<void> {
    try {
      const { favorites } = await kao.invoke('favorites.list', {});
      this.favorites = favorites.filter((f) => f.runId === this.runId && f.z.length === this.runtime?.zDim);
    } catch {
      this.favorites = [];
    }
  }

  toggleGroup(group: 'a' | 'b' | 'c', id: string): void {
    const current = this.groups[group];
    this.groups = {
      ...this.groups,
      [group]: current.includes(id) ? current.filter((x) => x !== id) : [...current, id],
    };
  }

  /** mean(A) − mean(B) + mean(C) of the picked favorites, as the latents they were shown with. */
  get arithmeticLatent(): Latent | undefined {
    const pick = (ids: string[]) =>
      this.favorites
        .filter((f) => ids.includes(f.id))
        .map((f) => truncate(Float32Array.from(f.z), f.truncation));
    const [a, b, c] = [pick(this.groups.a), pick(this.groups.b), pick(this.groups.c)];
    if (!a.length || !b.length || !c.length) return undefined;
    return faceArithmetic(a, b, c);
  }

  async save(name?: string): Promise<Favorite | undefined> {
    const runtime = this.runtime;
    if (!runtime || !this.face || this.saving) return undefined;
    this.saving = true;
    try {
      const face = this.#alignedFace(this.face);
      const { z, truncation } = latentForSaving(face, this.directions, this.attributeVectors);
      const attributes = this.#namedPositions(face);
      const favorite = await kao.invoke('favorites.save', {
        runId: runtime.manifest.runId,
        step: runtime.manifest.step,
        z: Array.from(z),
        truncation: Math.min(10, truncation),
        ...(name?.trim() ? { name: name.trim() } : {}),
        ...(attributes ? { attributes } : {}),
      });
      this.notify('info', `Saved “${favorite.name}” to Favorites.`);
      return favorite;
    } catch (error) {
      this.notify('error', `The face could not be saved: ${errorMessage(error)}`);
      return undefined;
    } finally {
      this.saving = false;
    }
  }

  /** The face's non-zero attribute sliders by tag, or undefined when all are at 0. */
  #namedPositions(face: FaceState): AttributeOffsets | undefined {
    const list = this.attributes?.attributes ?? [];
    const entries = list.map((a, i) => [a.tag, face.attributes[i] ?? 0] as const).filter(([, v]) => v !== 0);
    return entries.length ? Object.fromEntries(entries) : undefined;
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

function attributesKey(runId: string, step: number): string {
  return `${runId}@${step}`;
}

function clampSeed(seed: number): number {
  if (!Number.isFinite(seed)) return 1;
  return Math.min(MAX_SEED, Math.max(0, Math.round(seed)));
}

/** Created once in App.svelte, so leaving the screen keeps the model; read with `useExplorerState()`. */
export const [useExplorerState, setExplorerState] = createContext<ExplorerState>();
