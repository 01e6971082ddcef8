import { History } from '../../../core/explorer/history.ts';
import { randomLatent, withComponent, type Latent } from '../../../core/explorer/latent.ts';
import {
  effectiveLatent,
  latentForSaving,
  withAttribute,
  withBaseLatent,
  withOffset,
  withTruncation,
  type ExplorerState as FaceState,
} from '../../../core/explorer/state.ts';
import type { PrincipalDirections } from '../../../core/explorer/directions.ts';
import type { FaceCanvas } from './explorer-canvas.svelte.ts';

export const MAX_SEED = 2 ** 31 - 1;

/**
 * The Explorer's face and every edit of it, with undo/redo. The history keeps whole faces; each has one offset
 * per loaded slider of each kind, padded as it goes in (the sliders arrive after the face). A slider drag is
 * one undo step. Every edit is drawn on the canvas.
 */
export class FaceEditor {
  face = $state.raw<FaceState | undefined>();
  seed = $state(1);
  canUndo = $state(false);
  canRedo = $state(false);

  #history: History<FaceState> | undefined;
  #editing = false;
  readonly #canvas: FaceCanvas;
  readonly #zDim: () => number | undefined;
  readonly #directions: () => PrincipalDirections | undefined;
  readonly #attributeVectors: () => readonly Latent[];

  constructor(options: {
    canvas: FaceCanvas;
    /** The open generator's z size; undefined while none is loaded. */
    zDim: () => number | undefined;
    directions: () => PrincipalDirections | undefined;
    /** The named sliders' vectors, in list order. */
    attributeVectors: () => readonly Latent[];
  }) {
    this.#canvas = options.canvas;
    this.#zDim = options.zDim;
    this.#directions = options.directions;
    this.#attributeVectors = options.attributeVectors;
  }

  /** The latent the generator sees for the current face. */
  get latent(): Latent | undefined {
    return this.face
      ? effectiveLatent(this.#align(this.face), this.#directions(), this.#attributeVectors())
      : undefined;
  }

  /** `face` as a favorite stores it: an untruncated z and ψ, with the sliders folded in. */
  forSaving(face: FaceState): { z: Latent; truncation: number } {
    return latentForSaving(this.#align(face), this.#directions(), this.#attributeVectors());
  }

  /** The face with exactly one offset per loaded slider of each kind (sliders arrive after the face). */
  #align(face: FaceState): FaceState {
    const count = this.#directions()?.directions.length ?? 0;
    const attributeCount = this.#attributeVectors().length;
    if (face.offsets.length === count && face.attributes.length === attributeCount) return face;
    return {
      ...face,
      offsets: Array.from({ length: count }, (_, i) => face.offsets[i] ?? 0),
      attributes: Array.from({ length: attributeCount }, (_, i) => face.attributes[i] ?? 0),
    };
  }

  /**
   * Starts over, without undo steps, on a checkpoint just opened: at `opened` (a favorite) when given; else
   * another checkpoint of the same run keeps the face (`keep`), and another run, whose latents mean something
   * else, shows the seed's face at the same ψ.
   */
  open(zDim: number, keep: boolean, opened?: { z: Latent; truncation: number }): void {
    const start: FaceState = opened
      ? { z: Float32Array.from(opened.z), truncation: opened.truncation, offsets: [], attributes: [] }
      : keep && this.face
        ? { ...this.face, offsets: [], attributes: [] }
        : {
            z: randomLatent(this.seed, zDim),
            truncation: this.face?.truncation ?? 1,
            offsets: [],
            attributes: [],
          };
    const aligned = this.#align(start);
    this.#history = new History(aligned, 100);
    this.face = aligned;
    this.#sync();
  }

  #sync(): void {
    this.canUndo = this.#history?.canUndo ?? false;
    this.canRedo = this.#history?.canRedo ?? false;
  }

  /** A discrete change (new face, variation picked): one undo step. */
  commit(face: FaceState): void {
    if (!this.#history) return;
    this.#editing = false;
    this.face = this.#history.push(this.#align(face));
    this.#sync();
    this.#canvas.request();
  }

  /** A slider moving: the first input of a drag is an undo step, the rest replace it. */
  #edit(face: FaceState): void {
    if (!this.#history) return;
    this.#canvas.markInput();
    const aligned = this.#align(face);
    this.face = this.#editing ? this.#history.replace(aligned) : this.#history.push(aligned);
    this.#editing = true;
    this.#sync();
    this.#canvas.request();
  }

  /** A slider released (its `change` event): the next input starts a new undo step. */
  endEdit(): void {
    this.#editing = false;
  }

  /** Draws the face again: its sliders changed under it (learned again, or a favorite's positions put back). */
  redraw(): void {
    this.#canvas.request();
  }

  /** Changes the current face without an undo step or a draw (sliders that arrived after the face). */
  replace(face: FaceState): void {
    this.#history?.replace(face);
    this.face = face;
  }

  /** Rewrites every kept face, undo and redo branches included, without an undo step or a draw. */
  rewrite(change: (face: FaceState) => FaceState): void {
    if (!this.#history) return;
    this.face = this.#history.map(change);
    this.#sync();
  }

  /** The face is as it was opened: nothing to undo or redo yet. */
  get untouched(): boolean {
    return !this.#history?.canUndo && !this.#history?.canRedo;
  }

  setOffset(index: number, value: number): void {
    if (this.face) this.#edit(withOffset(this.#align(this.face), index, value));
  }

  setAttribute(index: number, value: number): void {
    if (this.face) this.#edit(withAttribute(this.#align(this.face), index, value));
  }

  setTruncation(value: number): void {
    if (this.face) this.#edit(withTruncation(this.face, value));
  }

  setComponent(index: number, value: number): void {
    if (this.face) this.#edit({ ...this.face, z: withComponent(this.face.z, index, value) });
  }

  /** Principal-direction sliders back to 0 (one undo step); the attribute sliders have their own reset. */
  resetSliders(): void {
    if (this.face) this.commit({ ...this.face, offsets: this.face.offsets.map(() => 0) });
  }

  resetAttributes(): void {
    if (this.face) this.commit({ ...this.face, attributes: this.face.attributes.map(() => 0) });
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
    this.#sync();
    this.#canvas.request();
  }

  /** The face of a seed: the same seed always gives the same face. */
  showSeed(seed: number): void {
    const zDim = this.#zDim();
    if (zDim === undefined || !this.face) return;
    this.seed = clampSeed(seed);
    this.commit(withBaseLatent(this.face, randomLatent(this.seed, zDim)));
  }

  randomFace(): void {
    this.showSeed(Math.floor(Math.random() * MAX_SEED));
  }

  /** Continue from a latent the generator should see as-is (interpolation frame, arithmetic result). */
  continueFrom(latent: Latent): void {
    if (this.face) this.commit({ z: Float32Array.from(latent), truncation: 1, offsets: [], attributes: [] });
  }
}

function clampSeed(seed: number): number {
  if (!Number.isFinite(seed)) return 1;
  return Math.min(MAX_SEED, Math.max(0, Math.round(seed)));
}
