import { createContext } from 'svelte';
import type { EventOf, Settings } from '../../../shared/contract.ts';
import {
  MAX_IDS_PER_REQUEST,
  type CascadeStatus,
  type FaceCounts,
  type FaceExtractionForm,
  type FaceFilter,
  type FaceIndexSettings,
  type FaceItem,
  type FacesState as FacesStateResponse,
} from '../../../shared/faces-schemas.ts';
import { kao } from './api.ts';
import { controlJob, isJobBusy, isJobEnded, jobFraction, RefreshThrottle } from './job-snapshot.ts';
import type { JobControl } from './job-snapshot.ts';
import { formErrors } from './form-errors.ts';
import { emptySelection, selectionOf, toggled, withAll, type Selection } from './faces-selection.ts';
import { errorMessage } from './format.ts';
import { PagedList, range, type Page } from './paged-list.svelte.ts';

export type ExtractionJob = EventOf<'faces.extraction'>;
type Form = Required<FaceExtractionForm>;
type FacePage = Page<FaceItem> & { counts: FaceCounts };

/** Crops come in pages of this many faces. */
const PAGE_SIZE = 200;
const FORM_FIELDS = new Set(['size', 'margin', 'scaleFactor', 'minNeighbors', 'minSize', 'cascadePath']);

const idleJob: ExtractionJob = { phase: 'idle' };
const noCounts: FaceCounts = {
  images: 0,
  failedImages: 0,
  faces: 0,
  kept: 0,
  excluded: 0,
  duplicatesDropped: 0,
  tooSmallDropped: 0,
  tagged: 0,
};

/**
 * Everything the Faces screen shows: the extraction form and job, the cascade's status, and the review grid
 * (pages of crops fetched for the rows in view, a selection of ids, the focused face shown on its source).
 * Indices are positions in the current filter's list; the selection is by id so it survives refreshes.
 */
export class FacesState {
  form = $state<Form>(defaultForm());
  job = $state<ExtractionJob>(idleJob);
  info = $state<FacesStateResponse | undefined>();
  counts = $state<FaceCounts>(noCounts);
  formError = $state<string | undefined>();
  fieldErrors = $state<Record<string, string>>({});
  cascadePath = $state('');
  cascadeError = $state<string | undefined>();
  loaded = $state(false);

  filter = $state<FaceFilter>('all');
  listError = $state<string | undefined>();
  actionError = $state<string | undefined>();
  /** "N faces removed because their illustrations were deleted": told once (not an error), until dismissed. */
  prunedNotice = $state<string | undefined>();
  /** Selected face ids (replaced, never mutated: a select-all of 50,000 is one assignment). */
  selected = $state.raw<Selection>(emptySelection);
  focus = $state<number | undefined>();
  anchor: number | undefined;
  /** The face shown on its source illustration; kept while its page reloads. */
  inspected = $state<FaceItem | undefined>();
  /** The large source view is open. */
  viewing = $state(false);

  busy = $derived(isJobBusy(this.job));
  cascade = $derived<CascadeStatus | undefined>(this.info?.cascade);
  indexSettings = $derived<FaceIndexSettings | undefined>(this.info?.indexSettings);
  /** Existing faces were made with other options: extracting now means rebuilding. */
  optionsDiffer = $derived(
    !!this.indexSettings &&
      this.counts.faces + this.counts.images > 0 &&
      !sameOptions(this.indexSettings, this.form),
  );

  /** The current filter's faces, fetched a page at a time for the rows in view. */
  readonly #list = new PagedList<FaceItem, FacePage>({
    pageSize: PAGE_SIZE,
    fetch: async (offset, limit) => {
      const page = await kao.invoke('faces.list', { filter: this.filter, offset, limit });
      return { ...page, items: page.faces };
    },
    onError: (error) => (this.listError = errorMessage(error)),
    onPage: (page) => (this.counts = page.counts),
  });
  /** While an extraction adds faces, the grid re-reads the list at most every 1.5 s. */
  #refresher = new RefreshThrottle(() => void this.refresh());

  async load(settings: Settings | undefined): Promise<void> {
    // The state outlives the screen: a source view left open on the last visit does not reopen by itself.
    this.viewing = false;
    if (settings) this.form = { ...settings.faces, rebuild: false };
    this.cascadePath = settings?.faces.cascadePath ?? '';
    try {
      const [job] = await Promise.all([kao.invoke('faces.extract.state', {}), this.reloadInfo()]);
      this.job = job;
    } catch (error) {
      this.formError = errorMessage(error);
    }
    await this.refresh();
    this.loaded = true;
  }

  async reloadInfo(): Promise<void> {
    try {
      this.info = await kao.invoke('faces.state', {});
      this.counts = this.info.counts;
      if (this.info.pruned?.faces) this.prunedNotice = prunedMessage(this.info.pruned.faces);
      this.listError = undefined;
    } catch (error) {
      this.listError = errorMessage(error);
    }
  }

  /** Subscribes to extraction progress and to changes made elsewhere; returns the cleanup. */
  connect(): () => void {
    const offJob = kao.on('faces.extraction', (job) => {
      this.job = job;
      const ended = isJobEnded(job);
      this.#refresher.changed(job.progress?.totalFaces ?? -1, ended);
      if (ended && job.progress?.pruned) this.prunedNotice = prunedMessage(job.progress.pruned);
      if (ended) void this.reloadInfo();
    });
    // Another window excluded faces, or an extraction ended: show the list as it is now.
    const offChanged = kao.on('faces.changed', ({ counts }) => {
      this.counts = counts;
      this.#refresher.changed(-1, true);
    });
    return () => {
      offJob();
      offChanged();
      this.#refresher.cancel();
    };
  }

  // ------------------------------------------------------------ extraction

  async start(): Promise<boolean> {
    this.formError = undefined;
    this.fieldErrors = {};
    try {
      this.job = await kao.invoke('faces.extract.start', {
        ...this.form,
        cascadePath: this.form.cascadePath.trim(),
        rebuild: this.optionsDiffer,
      });
      return true;
    } catch (error) {
      ({ formError: this.formError, fieldErrors: this.fieldErrors } = formErrors(error, FORM_FIELDS));
      return false;
    }
  }

  /** Pauses, resumes or cancels the extraction; a refusal shows as the form's error. */
  async control(action: JobControl): Promise<void> {
    await controlJob(
      () => kao.invoke(`faces.extract.${action}`, {}),
      { get: () => this.job, set: (job) => (this.job = job) },
      (message) => (this.formError = message),
    );
  }

  /** Puts the options the existing faces were made with back into the form. */
  useIndexOptions(): void {
    if (this.indexSettings) this.form = { ...this.form, ...this.indexSettings };
  }

  /**
   * Checks and saves a local copy of the cascade; answers the saved path (undefined when refused). An
   * extraction that failed for want of it is started again with it, so the stale failure goes away and the
   * file is visibly in use.
   */
  async useCascade(path = this.cascadePath): Promise<string | undefined> {
    this.cascadeError = undefined;
    try {
      const status = await kao.invoke('faces.cascade.use', { path: path.trim() });
      if (this.info) this.info = { ...this.info, cascade: status };
      this.form = { ...this.form, cascadePath: path.trim() };
      if (this.job.phase === 'failed' && status.state === 'ready') {
        this.job = idleJob;
        await this.start();
      }
      return path.trim();
    } catch (error) {
      this.cascadeError = errorMessage(error);
      return undefined;
    }
  }

  // ------------------------------------------------------------ the grid's data

  setFilter(filter: FaceFilter): void {
    if (filter === this.filter) return;
    this.filter = filter;
    this.selected = emptySelection;
    this.focus = undefined;
    this.anchor = undefined;
    this.#list.clear();
    void this.refresh();
  }

  /** The grid's rendered cells changed: fetch the pages they are on. */
  setVisible(first: number, end: number): void {
    void this.#list.setVisible(first, end);
  }

  /** Faces in the current filter; undefined until the first page arrives. */
  get total(): number | undefined {
    return this.#list.total;
  }

  /** Faces by index in the current filter, for the pages fetched so far. */
  get items(): ReadonlyMap<number, FaceItem> {
    return this.#list.items;
  }

  /** Re-reads the list's size and the rows in view, swapping them in at once. */
  async refresh(): Promise<void> {
    this.#refresher.refreshed();
    const pages = await this.#list.refresh();
    if (!pages) return;
    if (pages[0]) this.counts = pages[0].counts;
    this.listError = undefined;
    this.#afterListChange();
  }

  /** Keeps focus inside the list and the inspected face current after the list changed under it. */
  #afterListChange(): void {
    const total = this.total ?? 0;
    if (this.focus !== undefined) {
      if (total === 0) {
        this.focus = undefined;
      } else if (this.focus >= total) {
        this.focus = total - 1;
      }
    }
    const focused = this.focus === undefined ? undefined : this.items.get(this.focus);
    if (focused) this.inspected = focused;
    else if (this.inspected && total === 0) this.inspected = undefined;
  }

  // ------------------------------------------------------------ selection and focus

  /** A click on a cell: plain selects it, Ctrl/⌘ toggles it, Shift selects the range from the anchor. */
  async click(index: number, modifiers: { shift: boolean; toggle: boolean }): Promise<void> {
    const face = this.items.get(index);
    if (!face) return;
    if (modifiers.shift && this.anchor !== undefined) {
      await this.#selectRange(this.anchor, index, modifiers.toggle);
      this.#setFocus(index);
      return;
    }
    if (modifiers.toggle) {
      this.selected = toggled(this.selected, face.id);
    } else {
      this.selected = selectionOf([face.id]);
    }
    this.anchor = index;
    this.#setFocus(index);
  }

  /**
   * Arrow keys: plain moves focus and selects that face alone, Shift extends the range from the anchor,
   * Ctrl/⌘ moves focus only.
   */
  async move(delta: number, modifiers: { shift: boolean; toggle: boolean }): Promise<void> {
    const total = this.total ?? 0;
    if (total === 0) return;
    const from = this.focus ?? (delta > 0 ? -1 : total);
    const to = Math.max(0, Math.min(total - 1, from + delta));
    if (modifiers.shift) {
      if (this.anchor === undefined) this.anchor = this.focus ?? to;
      this.#setFocus(to);
      await this.#selectRange(this.anchor, to, false);
      return;
    }
    this.#setFocus(to);
    if (modifiers.toggle) return;
    this.anchor = to;
    const face = await this.#faceAt(to);
    if (face && this.focus === to) this.selected = selectionOf([face.id]);
  }

  /** Space: toggles the focused face in or out of the selection. */
  async toggleFocused(): Promise<void> {
    if (this.focus === undefined) return;
    const face = await this.#faceAt(this.focus);
    if (!face) return;
    this.selected = toggled(this.selected, face.id);
    this.anchor = this.focus;
  }

  async selectAll(): Promise<void> {
    try {
      const { ids } = await kao.invoke('faces.ids', { filter: this.filter });
      this.selected = selectionOf(ids);
    } catch (error) {
      this.actionError = errorMessage(error);
    }
  }

  clearSelection(): void {
    this.selected = emptySelection;
    this.anchor = this.focus;
  }

  /**
   * Excludes (or restores) the selection, or the focused face when nothing is selected. Faces that leave
   * the current filter leave the selection too.
   */
  async setExcluded(excluded: boolean): Promise<void> {
    this.actionError = undefined;
    let ids = [...this.selected];
    if (ids.length === 0 && this.focus !== undefined) {
      const face = this.items.get(this.focus);
      if (face) ids = [face.id];
    }
    if (ids.length === 0) return;
    try {
      for (let i = 0; i < ids.length; i += MAX_IDS_PER_REQUEST) {
        this.counts = await kao.invoke('faces.setExcluded', {
          ids: ids.slice(i, i + MAX_IDS_PER_REQUEST),
          excluded,
        });
      }
    } catch (error) {
      this.actionError = errorMessage(error);
    }
    const leaves = (this.filter === 'kept' && excluded) || (this.filter === 'excluded' && !excluded);
    if (leaves) {
      this.selected = emptySelection;
      this.anchor = this.focus;
    }
    if (this.inspected && ids.includes(this.inspected.id)) this.inspected = { ...this.inspected, excluded };
    await this.refresh();
    // The face now at the focused position is the next one to review: select it, as a move would.
    if (leaves && this.focus !== undefined) {
      const next = this.items.get(this.focus);
      if (next) this.selected = selectionOf([next.id]);
    }
  }

  /** The large source view shows the focused face; ←/→ in it move through the list. */
  openViewer(): void {
    if (this.inspected) this.viewing = true;
  }

  #setFocus(index: number): void {
    this.focus = index;
    const face = this.items.get(index);
    if (face) this.inspected = face;
    else void this.#faceAt(index).then((f) => f && this.focus === index && (this.inspected = f));
  }

  async #faceAt(index: number): Promise<FaceItem | undefined> {
    const known = this.items.get(index);
    if (known) return known;
    await this.#list.ensure(index, index + 1);
    return this.items.get(index);
  }

  async #selectRange(from: number, to: number, add: boolean): Promise<void> {
    const [start, end] = from <= to ? [from, to + 1] : [to, from + 1];
    let ids: string[] = [];
    const loaded = range(start, end).map((i) => this.items.get(i)?.id);
    if (loaded.every((id) => id !== undefined)) {
      ids = loaded as string[];
    } else {
      try {
        ids = (await kao.invoke('faces.ids', { filter: this.filter, offset: start, limit: end - start })).ids;
      } catch (error) {
        this.actionError = errorMessage(error);
        return;
      }
    }
    this.selected = add ? withAll(this.selected, ids) : selectionOf(ids);
  }
}

function sameOptions(a: FaceIndexSettings, b: Form): boolean {
  return (
    a.size === b.size &&
    a.margin === b.margin &&
    a.scaleFactor === b.scaleFactor &&
    a.minNeighbors === b.minNeighbors &&
    a.minSize === b.minSize
  );
}

function defaultForm(): Form {
  return {
    size: 96,
    margin: 0.25,
    scaleFactor: 1.1,
    minNeighbors: 5,
    minSize: 24,
    cascadePath: '',
    rebuild: false,
  };
}

/** Share of the images this run has to process that it has processed. */
export function extractionFraction(job: ExtractionJob): number {
  return jobFraction(job, (p) => (p.toProcess > 0 ? p.processed / p.toProcess : 0));
}

export function prunedMessage(faces: number): string {
  return faces === 1
    ? '1 face removed because its source illustration was deleted from the dataset.'
    : `${faces.toLocaleString()} faces removed because their source illustrations were deleted from the dataset.`;
}

/** Created once in App.svelte, so the state outlives a screen switch; read with `useFacesState()`. */
export const [useFacesState, setFacesState] = createContext<FacesState>();
