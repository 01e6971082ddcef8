import type { GeneratorRuntime } from './generator-runtime.ts';
import type { Notify } from './app-state.svelte.ts';
import type { FaceEditor } from './explorer-face.svelte.ts';

/**
 * What the parts of the Explorer's state work with: the open run and its generator, the face being edited and
 * the app's toasts. `ExplorerState` is one, and hands itself to the parts it makes.
 */
export interface ExplorerCore {
  /** The run being shown (set as soon as it is asked for, before its generator loads). */
  readonly runId: string | undefined;
  readonly runtime: GeneratorRuntime | undefined;
  readonly editor: FaceEditor;
  readonly notify: Notify;
}
