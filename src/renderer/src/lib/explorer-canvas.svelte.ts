import type { Latent } from '../../../core/explorer/latent.ts';
import type { GeneratorRuntime } from './generator-runtime.ts';
import { errorMessage } from './format.ts';
import type { Notify } from './app-state.svelte.ts';

/**
 * The Explorer's canvas: draws the current face. While one render runs, later requests collapse into one, so
 * a fast drag paints the newest face instead of working through a backlog.
 */
export class FaceCanvas {
  /** Smoothed time from a slider's input event to the face painted, in ms. */
  latencyMs = $state<number | undefined>();
  /** Bumped after every paint (e2e and the variation grid wait on it). */
  paintCount = $state(0);

  #canvas: HTMLCanvasElement | undefined;
  #rendering = false;
  #renderQueued = false;
  /** Settles when the latest render has painted. */
  #rendered: Promise<void> = Promise.resolve();
  #inputAt: number | undefined;
  readonly #runtime: () => GeneratorRuntime | undefined;
  readonly #latent: () => Latent | undefined;
  readonly #notify: Notify;

  constructor(options: {
    runtime: () => GeneratorRuntime | undefined;
    /** The latent the generator sees for the current face. */
    latent: () => Latent | undefined;
    notify: Notify;
  }) {
    this.#runtime = options.runtime;
    this.#latent = options.latent;
    this.#notify = options.notify;
  }

  attach(canvas: HTMLCanvasElement | undefined): void {
    this.#canvas = canvas;
    if (canvas) this.request();
  }

  /** A slider moved: the next paint is timed from the first such input since the last render began. */
  markInput(): void {
    this.#inputAt ??= performance.now();
  }

  /** Settles when the latest render has painted. */
  get rendered(): Promise<void> {
    return this.#rendered;
  }

  /** Renders the current face; while one render runs, later requests collapse into one. */
  request(): void {
    if (this.#rendering) {
      this.#renderQueued = true;
      return;
    }
    this.#rendered = this.#render();
  }

  async #render(): Promise<void> {
    const runtime = this.#runtime();
    const latent = this.#latent();
    const canvas = this.#canvas;
    if (!runtime || !latent || !canvas) return;
    this.#rendering = true;
    const startedAt = this.#inputAt;
    this.#inputAt = undefined;
    try {
      const [image] = await runtime.render([latent]);
      if (this.#runtime() !== runtime) return;
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
      this.#notify('error', `The face could not be generated: ${errorMessage(error)}`);
    } finally {
      this.#rendering = false;
      if (this.#renderQueued) {
        this.#renderQueued = false;
        this.#rendered = this.#render();
      }
    }
  }
}
