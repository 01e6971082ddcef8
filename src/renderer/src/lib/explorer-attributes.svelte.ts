import { KaoError } from '../../../shared/errors.ts';
import type {
  AttributeDirections,
  AttributeOffsets,
  AttributesProgress,
} from '../../../shared/explorer-schemas.ts';
import { rebaseAttributes, type ExplorerState as FaceState } from '../../../core/explorer/state.ts';
import { kao } from './api.ts';
import { errorMessage } from './format.ts';
import type { ExplorerCore } from './explorer-core.ts';

/**
 * The open checkpoint's named sliders, learned in Node from the tags of the run's training faces (read from
 * the run folder's cache, or learned: up to half a minute, with `explorer.attributes` progress events).
 */
export class AttributeSliders {
  learned = $state.raw<AttributeDirections | undefined>();
  loading = $state(false);
  progress = $state.raw<AttributesProgress | undefined>();
  error = $state<string | undefined>();
  cancelled = $state(false);
  /** The sliders' vectors as latents, in list order (what `effectiveLatent` adds). */
  vectors = $derived((this.learned?.attributes ?? []).map((a) => Float32Array.from(a.vector)));

  /** The latest request (older answers are dropped). */
  #request = 0;
  /** The checkpoint whose sliders this window is waiting for. */
  #inFlight: { runId: string; step: number } | undefined;
  #inFlightKey: string | undefined;
  /** Sliders that arrived before their checkpoint's face was set up; applied once it is. */
  #received: AttributeDirections | undefined;
  /** Slider positions of an opened favorite, put back once its checkpoint's sliders are known. */
  #pendingRestore: { key: string; offsets: AttributeOffsets } | undefined;

  constructor(private readonly explorer: ExplorerCore) {}

  connect(): () => void {
    return kao.on('explorer.attributes', (progress) => {
      if (this.loading && progress.runId === this.explorer.runId) this.progress = progress;
    });
  }

  /**
   * Another checkpoint is being opened: the face on screen until its face is set up has no named sliders
   * (their vectors are per checkpoint). Returns the sliders put away, for `open`.
   */
  putAway(): AttributeDirections | undefined {
    const previous = this.learned;
    this.learned = undefined;
    this.#pendingRestore = undefined;
    return previous;
  }

  /**
   * The sliders of the checkpoint being opened: the ones put away when they are its own, else asked for
   * (unless already on their way). `saved`: an opened favorite's positions, put back once the sliders are here.
   */
  open(
    runId: string,
    step: number,
    previous: AttributeDirections | undefined,
    saved?: AttributeOffsets,
  ): void {
    const key = attributesKey(runId, step);
    if (saved && Object.keys(saved).length > 0) this.#pendingRestore = { key, offsets: saved };
    if (previous && attributesKey(previous.runId, previous.step) === key) this.#received = previous;
    else if (!(this.loading && this.#inFlightKey === key)) void this.#load(runId, step);
  }

  /** Asks Node for a checkpoint's sliders; a request for another checkpoint is cancelled first. */
  async #load(runId: string, step: number, recompute = false): Promise<void> {
    const request = ++this.#request;
    await this.cancel();
    if (request !== this.#request) return;
    this.#inFlight = { runId, step };
    this.#inFlightKey = attributesKey(runId, step);
    this.#received = undefined;
    this.loading = true;
    this.progress = undefined;
    this.error = undefined;
    this.cancelled = false;
    try {
      const result = await kao.invoke('explorer.attributes', {
        runId,
        step,
        ...(recompute ? { recompute } : {}),
      });
      if (request !== this.#request) return;
      this.#received = result;
      this.apply();
    } catch (error) {
      if (request !== this.#request) return;
      if (error instanceof KaoError && error.code === 'cancelled') this.cancelled = true;
      else this.error = errorMessage(error);
    } finally {
      if (request === this.#request) {
        this.loading = false;
        this.progress = undefined;
      }
    }
  }

  /** Learns the open checkpoint's sliders again (after tagging more faces); the face stays as it is. */
  relearn(): void {
    const manifest = this.explorer.runtime?.manifest;
    if (manifest) void this.#load(manifest.runId, manifest.step, true);
  }

  /** Tries again after an error or a cancel (the cache makes this instant when learning had finished). */
  retry(): void {
    const manifest = this.explorer.runtime?.manifest;
    if (manifest) void this.#load(manifest.runId, manifest.step);
  }

  /** Cancels this window's learning only (another window may be learning other sliders in the same app). */
  async cancel(): Promise<void> {
    const inFlight = this.#inFlight;
    if (this.loading && inFlight) {
      await kao.invoke('explorer.cancelAttributes', inFlight).catch(() => undefined);
    }
  }

  /**
   * Puts received sliders into use once the face of their checkpoint is on screen. Every face in the history
   * is re-expressed in the new sliders (same latent, positions kept by tag), so undo after "Learn again"
   * still shows the faces it showed; an opened favorite gets its saved positions back.
   */
  apply(): void {
    const result = this.#received;
    const runtime = this.explorer.runtime;
    if (!result || !runtime || !this.explorer.editor.face) return;
    if (result.runId !== runtime.manifest.runId || result.step !== runtime.manifest.step) return;
    this.#received = undefined;
    if (result.zDim !== runtime.zDim) {
      this.error = `The sliders were learned for a z of ${result.zDim} values, this generator takes ${runtime.zDim}.`;
      return;
    }
    const oldList = this.learned?.attributes ?? [];
    const oldVectors = this.vectors;
    const newVectors = result.attributes.map((a) => Float32Array.from(a.vector));
    let changed = false;
    // Where each new slider's tag was in the old list (-1: a new tag, starting at 0).
    const oldIndex = result.attributes.map((a) => oldList.findIndex((old) => old.tag === a.tag));
    this.explorer.editor.rewrite((state) => {
      const aligned = { ...state, attributes: oldList.map((_, i) => state.attributes[i] ?? 0) };
      if (aligned.attributes.some((o) => o !== 0)) changed = true;
      const offsets = oldIndex.map((k) => (k >= 0 ? aligned.attributes[k]! : 0));
      return rebaseAttributes(aligned, oldVectors, newVectors, offsets);
    });
    this.learned = result;

    const restore = this.#pendingRestore;
    this.#pendingRestore = undefined;
    // Only onto the favorite as opened: after an edit, its saved positions would no longer describe the face.
    if (restore?.key === attributesKey(result.runId, result.step) && this.explorer.editor.untouched) {
      const tags = result.attributes.map((a) => a.tag);
      const saved = Object.entries(restore.offsets);
      if (saved.every(([tag]) => tags.includes(tag))) {
        const offsets = tags.map((tag) => restore.offsets[tag] ?? 0);
        this.explorer.editor.replace(
          rebaseAttributes(this.explorer.editor.face, newVectors, newVectors, offsets),
        );
        changed = true;
      } else {
        this.explorer.notify(
          'info',
          'This favorite was saved with named sliders this checkpoint no longer has; it is shown as saved, with the sliders at 0.',
        );
      }
    }
    if (changed) this.explorer.editor.redraw();
  }

  /** The face's non-zero slider positions by tag, or undefined when all are at 0. */
  positions(face: FaceState): AttributeOffsets | undefined {
    const list = this.learned?.attributes ?? [];
    const entries = list.map((a, i) => [a.tag, face.attributes[i] ?? 0] as const).filter(([, v]) => v !== 0);
    return entries.length ? Object.fromEntries(entries) : undefined;
  }
}

function attributesKey(runId: string, step: number): string {
  return `${runId}@${step}`;
}
