import { SvelteMap } from 'svelte/reactivity';

/** One page of a long list, as the services answer `dataset.list` and `faces.list`. */
export interface Page<T> {
  offset: number;
  total: number;
  items: readonly T[];
}

/**
 * A long list read in pages for a virtual grid (the Dataset gallery, the Faces review): the pages under the
 * rows in view are fetched as they scroll in, and `refresh` re-reads them and swaps them in at once, so the
 * cells keep their old content until the new one is here. Each refresh starts a new generation: pages of an
 * older one that arrive late are dropped.
 */
export class PagedList<T, P extends Page<T> = Page<T>> {
  /** Items by index, for the pages fetched so far in this generation. */
  readonly items = new SvelteMap<number, T>();
  /** Items in the list; undefined until the first page arrives. */
  total = $state<number | undefined>();

  #visible: [number, number] = [0, 0];
  // eslint-disable-next-line svelte/prefer-svelte-reactivity -- bookkeeping, never rendered
  #loading = new Map<number, Promise<void>>();
  #generation = 0;
  readonly #pageSize: number;
  readonly #fetch: (offset: number, limit: number) => Promise<P>;
  readonly #onError: (error: unknown) => void;
  readonly #onPage: (page: P) => void;

  constructor(options: {
    pageSize: number;
    fetch: (offset: number, limit: number) => Promise<P>;
    /** A page could not be read. */
    onError: (error: unknown) => void;
    /** A page fetched for scrolling arrived (a refresh hands its pages back instead). */
    onPage?: (page: P) => void;
  }) {
    this.#pageSize = options.pageSize;
    this.#fetch = options.fetch;
    this.#onError = options.onError;
    this.#onPage = options.onPage ?? (() => undefined);
  }

  /** [first, end) of the cells the grid renders now. */
  get visible(): readonly [number, number] {
    return this.#visible;
  }

  /** The grid's rendered cells changed: fetch the pages they are on. */
  setVisible(first: number, end: number): Promise<void> {
    this.#visible = [first, end];
    return this.ensure(first, end);
  }

  /** Forgets the list (another filter was picked); the next refresh reads it from the top. */
  clear(): void {
    this.total = undefined;
    this.items.clear();
    this.#visible = [0, 0];
  }

  /** Re-reads the size and the pages in view and swaps them in; the pages, or undefined if stale or failed. */
  async refresh(): Promise<P[] | undefined> {
    const generation = ++this.#generation;
    this.#loading.clear();
    const [first, end] = this.#visible;
    const firstPage = Math.floor(first / this.#pageSize);
    const lastPage = Math.max(firstPage, Math.floor(Math.max(first, end - 1) / this.#pageSize));
    let pages: P[];
    try {
      pages = await Promise.all(range(firstPage, lastPage + 1).map((page) => this.#read(page)));
    } catch (error) {
      this.#onError(error);
      return undefined;
    }
    if (generation !== this.#generation) return undefined;
    this.items.clear();
    for (const page of pages) this.#put(page);
    this.total = pages[0]?.total ?? 0;
    return pages;
  }

  /** Fetches the pages of [first, end) not yet here; resolves once they are (also when already on their way). */
  async ensure(first: number, end: number): Promise<void> {
    const generation = this.#generation;
    const waits = range(Math.floor(first / this.#pageSize), Math.ceil(end / this.#pageSize)).flatMap(
      (page) => {
        const pending = this.#loading.get(page);
        if (pending) return [pending];
        if (this.items.has(page * this.#pageSize)) return [];
        const load: Promise<void> = this.#load(page, generation).finally(() => {
          if (this.#loading.get(page) === load) this.#loading.delete(page);
        });
        this.#loading.set(page, load);
        return [load];
      },
    );
    await Promise.all(waits);
  }

  async #load(page: number, generation: number): Promise<void> {
    try {
      const result = await this.#read(page);
      if (generation !== this.#generation) return;
      this.#put(result);
      this.total = result.total;
      this.#onPage(result);
    } catch (error) {
      this.#onError(error);
    }
  }

  #read(page: number): Promise<P> {
    return this.#fetch(page * this.#pageSize, this.#pageSize);
  }

  #put(page: P): void {
    page.items.forEach((item, i) => this.items.set(page.offset + i, item));
  }
}

/** start, start + 1, …, end - 1. */
export function range(start: number, end: number): number[] {
  return Array.from({ length: Math.max(0, end - start) }, (_, i) => start + i);
}
