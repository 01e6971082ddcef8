/**
 * Undo/redo for explorer states. Holds snapshots, not diffs: explorer states are a few hundred floats, so a
 * capped list of copies is simpler and cannot drift. Treat pushed states as immutable (the latent functions
 * never mutate their inputs, so this comes for free).
 */
export class History<T> {
  #past: T[] = [];
  #present: T;
  #future: T[] = [];
  readonly #cap: number;

  /** `cap` bounds how many undo steps are kept; the oldest fall off first. */
  constructor(initial: T, cap = 100) {
    if (!Number.isInteger(cap) || cap < 1)
      throw new RangeError(`history cap must be a positive integer, got ${cap}`);
    this.#present = initial;
    this.#cap = cap;
  }

  get current(): T {
    return this.#present;
  }
  get canUndo(): boolean {
    return this.#past.length > 0;
  }
  get canRedo(): boolean {
    return this.#future.length > 0;
  }
  get undoDepth(): number {
    return this.#past.length;
  }
  get redoDepth(): number {
    return this.#future.length;
  }

  /** A new state after a user action: it becomes current and the redo branch is dropped. */
  push(state: T): T {
    this.#past.push(this.#present);
    if (this.#past.length > this.#cap) this.#past.splice(0, this.#past.length - this.#cap);
    this.#present = state;
    this.#future = [];
    return state;
  }

  /**
   * Replaces the current state without an undo step: for a slider drag, push once on pointer-down and
   * `replace` on every move, so one drag is one undo.
   */
  replace(state: T): T {
    this.#present = state;
    return state;
  }

  /** Steps back; returns the now-current state, or undefined (and changes nothing) when there is none. */
  undo(): T | undefined {
    return this.#step(this.#past, this.#future);
  }

  redo(): T | undefined {
    return this.#step(this.#future, this.#past);
  }

  /** Makes the newest state of `from` current and keeps the current one on `to` (undo and redo mirrored). */
  #step(from: T[], to: T[]): T | undefined {
    const state = from.pop();
    if (state === undefined) return undefined;
    to.push(this.#present);
    this.#present = state;
    return state;
  }

  /**
   * Rewrites every kept state, undo and redo branches included (e.g. to re-express faces in sliders learned
   * again, so an undo still shows exactly the face it showed before). Steps and their order stay as they are.
   */
  map(change: (state: T) => T): T {
    this.#past = this.#past.map(change);
    this.#future = this.#future.map(change);
    this.#present = change(this.#present);
    return this.#present;
  }

  /** Forgets everything but `state` (e.g. after switching to another run, whose latents mean something else). */
  reset(state: T): void {
    this.#past = [];
    this.#future = [];
    this.#present = state;
  }
}
