import type { PrincipalDirections, PrincipalDirectionsProgress } from '../../../core/explorer/directions.ts';
import { kao } from './api.ts';
import { errorMessage } from './format.ts';
import type { ExplorerCore } from './explorer-core.ts';

const DIRECTION_SAMPLES = 2048;
const DIRECTION_COUNT = 16;

/**
 * The open checkpoint's principal-direction sliders (GANSpace): read from the run's cache, or found here in
 * the page in small chunks while the face can already be edited, then cached in the run.
 */
export class DirectionSliders {
  found = $state.raw<PrincipalDirections | undefined>();
  progress = $state.raw<PrincipalDirectionsProgress | undefined>();
  error = $state<string | undefined>();

  #abort: AbortController | undefined;

  constructor(private readonly explorer: ExplorerCore) {}

  /** Another checkpoint is being opened: its directions are not these, and finding these stops. */
  clear(): void {
    this.#abort?.abort();
    this.found = undefined;
    this.progress = undefined;
    this.error = undefined;
  }

  /** Finds GANSpace directions in small chunks (the sliders work meanwhile) and caches them in the run. */
  async compute(): Promise<void> {
    const runtime = this.explorer.runtime;
    if (!runtime) return;
    this.#abort?.abort();
    const abort = new AbortController();
    this.#abort = abort;
    this.error = undefined;
    this.progress = { phase: 'sampling', done: 0, total: DIRECTION_SAMPLES };
    try {
      const directions = await runtime.directions({
        samples: DIRECTION_SAMPLES,
        components: DIRECTION_COUNT,
        signal: abort.signal,
        onProgress: (progress) => {
          if (!abort.signal.aborted) this.progress = progress;
        },
      });
      if (abort.signal.aborted || this.explorer.runtime !== runtime) return;
      this.set(directions);
      const { principalDirectionsToJson } = await import('../../../core/explorer/directions.ts');
      await kao
        .invoke('explorer.saveDirections', {
          runId: runtime.manifest.runId,
          step: runtime.manifest.step,
          directions: principalDirectionsToJson(directions),
        })
        .catch((error: unknown) =>
          this.explorer.notify('warning', `Directions not cached: ${errorMessage(error)}`),
        );
    } catch (error) {
      if (!abort.signal.aborted) this.error = errorMessage(error);
    } finally {
      if (this.#abort === abort) {
        this.#abort = undefined;
        this.progress = undefined;
      }
    }
  }

  /** Puts directions into use (found here, or read from the run's cache). */
  set(directions: PrincipalDirections): void {
    this.found = directions;
    const face = this.explorer.editor.face;
    if (face && face.offsets.length !== directions.directions.length) {
      // Directions arrive after the face: give it one zero offset per slider, without an undo step.
      this.explorer.editor.replace({ ...face, offsets: directions.directions.map(() => 0) });
    }
  }
}
