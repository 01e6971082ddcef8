import { createContext } from 'svelte';
import type {
  FollowCursor,
  MetricPoint,
  RunDetail,
  RunSummary,
  TrainingOptions,
  TrainingProgressEvent,
} from '../../../shared/training-schemas.ts';
import type { EventOf } from '../../../shared/contract.ts';
import { kao } from './api.ts';
import { errorMessage } from './format.ts';
import {
  canContinue,
  holderKey,
  insertSample,
  isLiveState,
  MetricSeries,
  runStateLabels,
  type SampleRef,
} from './training-series.ts';
import type { Notify } from './app-state.svelte.ts';

export type TrainingAction = 'starting' | 'pausing' | 'resuming' | 'stopping' | 'continuing';

/**
 * The Training screen's state: the run list, the opened run (metrics history + live points, sample
 * grids), and the live run's progress. Everything live arrives through `training.*` events.
 */
export class TrainingState {
  runs = $state<RunSummary[]>([]);
  loaded = $state(false);
  loadError = $state<string | undefined>();

  /** The opened run. */
  selectedId = $state<string | undefined>();
  detail = $state.raw<RunDetail | undefined>();
  detailLoading = $state(false);
  detailError = $state<string | undefined>();
  /** Not reactive on purpose (it grows every step); `seriesVersion` tells the charts to redraw. */
  series = new MetricSeries();
  seriesVersion = $state(0);
  samples = $state.raw<SampleRef[]>([]);
  /** Index into `samples` the user scrubbed to; undefined follows the newest grid. */
  sampleIndex = $state<number | undefined>();

  /** The run the trainer works on (running or paused), and its latest progress. */
  liveRunId = $state<string | undefined>();
  progress = $state.raw<TrainingProgressEvent | undefined>();
  action = $state<TrainingAction | undefined>();
  /** Stop was asked for; the trainer is writing its checkpoint until the state event arrives. */
  stopping = $state(false);
  /** Why the last start failed (no faces, bad options), shown in the form rather than as a toast. */
  startError = $state<string | undefined>();
  /** Where the last export of each run went. */
  exports = $state<Record<string, string>>({});
  /** Kept faces (what a new run trains on); undefined until known. */
  keptFaces = $state<number | undefined>();
  /** Illustrations extraction has processed (for the faces-per-illustration yield); undefined until known. */
  illustrations = $state<number | undefined>();
  /** Resume offers the user dismissed this session. */
  dismissedOffers = $state<string[]>([]);
  /** Why following the opened run (trained by another process) failed last; cleared by the next success. */
  followError = $state<string | undefined>();

  #pendingMetrics: MetricPoint[] = [];
  #pendingSamples: SampleRef[] = [];
  #openToken = 0;
  /** Where following the opened run's files stands: from `training.run`, moved on by `training.follow`. */
  #followCursor: FollowCursor | undefined;
  #checkingLocks = false;
  #following = false;

  selected = $derived(this.runs.find((r) => r.id === this.selectedId));
  liveRun = $derived(this.runs.find((r) => r.id === this.liveRunId && isLiveState(r.state)));
  /** The newest run that was stopped or cut off and can go on: offered prominently. */
  resumeOffer = $derived(
    this.liveRun
      ? undefined
      : this.runs.find((r) => canContinue(r) && !r.trainingElsewhere && !this.dismissedOffers.includes(r.id)),
  );
  currentSample = $derived(this.samples[this.sampleIndex ?? this.samples.length - 1]);

  /** The newest logged point; reads `seriesVersion` so the stats strip follows points as they arrive. */
  get latest(): MetricPoint | undefined {
    void this.seriesVersion;
    return this.series.latest;
  }

  constructor(private readonly notify: Notify) {}

  /** Subscribes to the training events; returns the cleanup. */
  connect(): () => void {
    const offs = [
      kao.on('training.progress', (p) => this.#onProgress(p)),
      kao.on('training.metric', (m) => this.#onMetric(m)),
      kao.on('training.sample', (s) => this.#onSample(s)),
      kao.on('training.checkpoint', (c) =>
        this.#patchRun(c.runId, { checkpointStep: c.step, ...(c.best ? { best: c.best } : {}) }),
      ),
      kao.on('training.state', (s) => this.#onState(s)),
      kao.on('faces.changed', (c) => {
        this.keptFaces = c.counts.kept;
        this.illustrations = c.counts.images;
      }),
    ];
    return () => offs.forEach((off) => off());
  }

  async load(): Promise<void> {
    void this.refreshFaces();
    try {
      await this.refreshRuns();
      this.loadError = undefined;
      // Reopen what matters: the live run, else the newest run. The state outlives the screen, so a run
      // opened on an earlier visit is read again (its metrics and grids went on while the screen was away).
      const live = this.runs.find((r) => isLiveState(r.state));
      this.liveRunId = live?.id;
      const first = this.selected ?? live ?? this.runs[0];
      if (first) await this.open(first.id);
    } catch (error) {
      this.loadError = errorMessage(error);
    } finally {
      this.loaded = true;
    }
  }

  /** The face count only shapes hints (the service checks again on start), so a failure leaves it unknown. */
  async refreshFaces(): Promise<void> {
    try {
      const { counts } = await kao.invoke('faces.state', {});
      this.keptFaces = counts.kept;
      this.illustrations = counts.images;
    } catch {
      this.keptFaces = undefined;
      this.illustrations = undefined;
    }
  }

  /**
   * While the screen is shown: asks every few seconds which runs other processes train (a cheap
   * `training.locks`, no metrics read; skipped while the window is hidden). Returns the cleanup that
   * stops it.
   */
  watchLocks(intervalMs = 4000): () => void {
    return whileVisible(intervalMs, () => this.checkLocks());
  }

  /**
   * When a trainer elsewhere came or went, refreshes the list and reloads the opened run (that trainer
   * wrote metrics and grids since). The one place that changes a run's `trainingElsewhere` after it is
   * loaded: the follower below only reads it, so the two never undo each other.
   */
  async checkLocks(): Promise<void> {
    if (this.#checkingLocks || !this.loaded) return;
    this.#checkingLocks = true;
    try {
      const locks = await kao.invoke('training.locks', {});
      const now: Record<string, string> = Object.fromEntries(
        locks.map((lock) => [lock.id, holderKey(lock.holder)]),
      );
      const changed = this.runs
        .filter((r) => holderKey(r.trainingElsewhere) !== (now[r.id] ?? ''))
        .map((r) => r.id);
      if (!changed.length) return;
      await this.refreshRuns();
      const selected = this.selectedId;
      if (selected && changed.includes(selected) && selected !== this.liveRunId) await this.open(selected);
    } catch {
      // The next poll tries again; the list keeps what it showed.
    } finally {
      this.#checkingLocks = false;
    }
  }

  /**
   * While the screen is shown and the opened run is trained by another process: every ~2 s asks
   * `training.follow` what that trainer wrote since the last answer and adds it like the app's own live
   * points (one request at a time, none while the window is hidden or the run is loading). Returns the
   * cleanup that stops it.
   */
  followElsewhere(intervalMs = 2000): () => void {
    return whileVisible(intervalMs, () => this.followOnce());
  }

  /** One `training.follow` of the opened run, if another process trains it. */
  async followOnce(): Promise<void> {
    const run = this.selected;
    const cursor = this.#followCursor;
    if (this.#following || !run?.trainingElsewhere || !cursor || this.detailLoading) return;
    const token = this.#openToken;
    this.#following = true;
    try {
      const update = await kao.invoke('training.follow', { id: run.id, cursor });
      // Another run was opened, or this one reloaded, meanwhile: that load has its own cursor.
      if (token !== this.#openToken) return;
      this.followError = undefined;
      if (update.reload) {
        // The other trainer went back to a checkpoint (or started over): its history changed.
        await this.open(run.id);
        return;
      }
      this.#followCursor = update.cursor;
      this.#addMetrics(update.metrics);
      for (const sample of update.samples) this.#addSample(run.id, sample);
      this.#patchRun(run.id, {
        step: update.step,
        checkpointStep: update.checkpointStep,
        best: update.best,
      });
      // That trainer let go of the run: the lock check reloads it now rather than at its next tick.
      if (!update.trainingElsewhere) await this.checkLocks();
    } catch (error) {
      if (token !== this.#openToken) return;
      this.followError = errorMessage(error);
      // A run deleted or moved away: the list says so.
      void this.refreshRuns().catch(() => undefined);
    } finally {
      this.#following = false;
    }
  }

  async refreshRuns(): Promise<void> {
    const runs = await kao.invoke('training.runs', {});
    this.runs = runs.toSorted((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  /** Opens a run: its history from `training.run`, then the live points that arrive meanwhile. */
  async open(id: string): Promise<void> {
    const token = ++this.#openToken;
    this.selectedId = id;
    this.detail = undefined;
    this.detailError = undefined;
    this.detailLoading = true;
    this.series = new MetricSeries();
    this.samples = [];
    this.sampleIndex = undefined;
    this.#pendingMetrics = [];
    this.#pendingSamples = [];
    this.#followCursor = undefined;
    this.followError = undefined;
    this.seriesVersion++;
    try {
      const detail = await kao.invoke('training.run', { id });
      if (token !== this.#openToken) return;
      this.detail = detail;
      this.#followCursor = detail.cursor;
      this.series.appendAll(detail.metrics);
      this.series.appendAll(this.#pendingMetrics.filter((m) => m.step > this.series.lastStep));
      let samples = detail.samples.toSorted((a, b) => a.step - b.step);
      for (const sample of this.#pendingSamples) samples = insertSample(samples, sample);
      this.samples = samples;
      this.#patchRun(id, {
        state: detail.state,
        step: Math.max(detail.step, this.runs.find((r) => r.id === id)?.step ?? 0),
        checkpointStep: detail.checkpointStep,
        best: detail.best,
        totalSteps: detail.totalSteps,
        trainingElsewhere: detail.trainingElsewhere,
      });
    } catch (error) {
      if (token === this.#openToken) this.detailError = errorMessage(error);
    } finally {
      if (token === this.#openToken) {
        this.detailLoading = false;
        this.#pendingMetrics = [];
        this.#pendingSamples = [];
        this.seriesVersion++;
      }
    }
  }

  close(): void {
    this.#openToken++;
    this.#followCursor = undefined;
    this.selectedId = undefined;
    this.detail = undefined;
    this.series = new MetricSeries();
    this.samples = [];
    this.seriesVersion++;
  }

  async start(options: TrainingOptions): Promise<RunSummary | undefined> {
    this.startError = undefined;
    return this.#act('starting', async () => {
      const run = await kao.invoke('training.start', options).catch((error: unknown) => {
        this.startError = errorMessage(error);
        throw error;
      });
      this.#upsertRun(run);
      this.liveRunId = run.id;
      this.progress = undefined;
      this.stopping = false;
      await this.open(run.id);
      return run;
    });
  }

  /** Starts a stopped or interrupted run again from its newest checkpoint (`steps` raises its total). */
  async continueFromCheckpoint(id: string, steps?: number): Promise<void> {
    await this.#act('continuing', async () => {
      const run = await kao.invoke('training.continueFromCheckpoint', steps ? { id, steps } : { id });
      this.#upsertRun(run);
      this.liveRunId = run.id;
      this.progress = undefined;
      this.stopping = false;
      if (this.selectedId !== id) await this.open(id);
    });
  }

  async pause(): Promise<void> {
    await this.#act('pausing', async () => {
      await kao.invoke('training.pause', {});
      if (this.liveRunId) this.#patchRun(this.liveRunId, { state: 'paused' });
    });
  }

  async resume(): Promise<void> {
    await this.#act('resuming', async () => {
      await kao.invoke('training.resume', {});
      if (this.liveRunId) this.#patchRun(this.liveRunId, { state: 'running' });
    });
  }

  /** Stops after a checkpoint; the `training.state` event confirms. */
  async stop(): Promise<void> {
    await this.#act('stopping', async () => {
      // Set first: the state event that clears it may arrive before the reply.
      this.stopping = true;
      await kao.invoke('training.stop', {}).catch((error: unknown) => {
        this.stopping = false;
        throw error;
      });
    });
  }

  togglePause(): void {
    if (!this.liveRun || this.action || this.stopping) return;
    void (this.liveRun.state === 'paused' ? this.resume() : this.pause());
  }

  async rename(id: string, name: string): Promise<boolean> {
    try {
      this.#upsertRun(await kao.invoke('training.rename', { id, name }));
      return true;
    } catch (error) {
      this.notify('error', errorMessage(error));
      return false;
    }
  }

  async remove(id: string): Promise<boolean> {
    try {
      await kao.invoke('training.delete', { id });
      this.runs = this.runs.filter((r) => r.id !== id);
      if (this.selectedId === id) {
        this.close();
        const next = this.runs[0];
        if (next) await this.open(next.id);
      }
      return true;
    } catch (error) {
      this.notify('error', errorMessage(error));
      return false;
    }
  }

  async exportGenerator(id: string, to?: string): Promise<string | undefined> {
    try {
      const { path } = await kao.invoke('training.export', to ? { id, to } : { id });
      this.exports = { ...this.exports, [id]: path };
      this.notify('info', `Generator exported to ${path}`);
      return path;
    } catch (error) {
      this.notify('error', errorMessage(error));
      return undefined;
    }
  }

  dismissOffer(id: string): void {
    this.dismissedOffers = [...this.dismissedOffers, id];
  }

  /** Moves the sample scrubber; reaching the newest grid follows new grids again. */
  scrubTo(index: number): void {
    if (!this.samples.length) return;
    const clamped = Math.min(Math.max(Math.round(index), 0), this.samples.length - 1);
    this.sampleIndex = clamped === this.samples.length - 1 ? undefined : clamped;
  }

  scrubBy(delta: number): void {
    this.scrubTo((this.sampleIndex ?? this.samples.length - 1) + delta);
  }

  get shownSampleIndex(): number {
    return this.sampleIndex ?? Math.max(this.samples.length - 1, 0);
  }

  async #act<T>(action: TrainingAction, work: () => Promise<T>): Promise<T | undefined> {
    if (this.action) return undefined;
    this.action = action;
    try {
      return await work();
    } catch (error) {
      if (action !== 'starting') this.notify('error', errorMessage(error));
      return undefined;
    } finally {
      this.action = undefined;
    }
  }

  #onProgress(progress: TrainingProgressEvent): void {
    this.progress = progress;
    if (this.liveRunId !== progress.runId) this.liveRunId = progress.runId;
    const run = this.runs.find((r) => r.id === progress.runId);
    if (!run) {
      void this.refreshRuns().catch(() => undefined);
      return;
    }
    run.step = progress.step;
    run.totalSteps = progress.totalSteps;
  }

  #onMetric(event: EventOf<'training.metric'>): void {
    if (event.runId !== this.selectedId) return;
    const { runId: _runId, ...point } = event;
    if (this.detailLoading) {
      this.#pendingMetrics.push(point);
      return;
    }
    this.#addMetrics([point]);
  }

  /** New points of the opened run (from the app's trainer or from following another process). */
  #addMetrics(points: readonly MetricPoint[]): void {
    if (!points.length) return;
    this.series.appendAll(points);
    this.seriesVersion++;
  }

  #onSample(event: EventOf<'training.sample'>): void {
    this.#addSample(event.runId, { step: event.step, path: event.path, version: event.version });
  }

  /** A new sample grid of a run: the list's thumbnail, and the opened run's scrubber. */
  #addSample(runId: string, sample: SampleRef): void {
    this.#patchRun(runId, { latestSample: sample.path, latestSampleVersion: sample.version });
    if (runId !== this.selectedId) return;
    if (this.detailLoading) this.#pendingSamples.push(sample);
    else this.samples = insertSample(this.samples, sample);
  }

  #onState(event: EventOf<'training.state'>): void {
    const run = this.runs.find((r) => r.id === event.runId);
    const name = run?.name ?? event.runId;
    this.#patchRun(event.runId, { state: event.state, message: event.message });
    if (isLiveState(event.state)) {
      this.liveRunId = event.runId;
    } else {
      if (this.liveRunId === event.runId) {
        this.liveRunId = undefined;
        this.stopping = false;
      }
      const label = runStateLabels[event.state].toLowerCase();
      // A failure's toast comes from the service (an app notice, whichever screen is open); the run's own
      // page shows the reason.
      if (event.state === 'failed') {
        if (!event.message) this.notify('error', `Training “${name}” failed.`);
      } else if (event.state === 'interrupted') {
        this.notify('error', `Training “${name}” ${label}${event.message ? `: ${event.message}` : '.'}`);
      } else {
        this.notify('info', `Training “${name}” ${label}${event.message ? ` — ${event.message}` : '.'}`);
      }
      // The list carries the final step and checkpoint.
      void this.refreshRuns().catch(() => undefined);
    }
  }

  #patchRun(id: string, patch: Partial<RunSummary>): void {
    const run = this.runs.find((r) => r.id === id);
    if (run) Object.assign(run, patch);
  }

  #upsertRun(run: RunSummary): void {
    const at = this.runs.findIndex((r) => r.id === run.id);
    if (at >= 0) this.runs[at] = run;
    else this.runs = [run, ...this.runs];
  }
}

/**
 * Runs `poll` every `intervalMs` while the page is visible, and at once when it becomes visible again.
 * Returns the cleanup.
 */
function whileVisible(intervalMs: number, poll: () => Promise<void>): () => void {
  const tick = (): void => {
    if (document.visibilityState !== 'hidden') void poll();
  };
  const timer = setInterval(tick, intervalMs);
  const onVisibility = (): void => {
    if (document.visibilityState === 'visible') void poll();
  };
  document.addEventListener('visibilitychange', onVisibility);
  return () => {
    clearInterval(timer);
    document.removeEventListener('visibilitychange', onVisibility);
  };
}

/** Created once in App.svelte, so the state outlives a screen switch; read with `useTrainingState()`. */
export const [useTrainingState, setTrainingState] = createContext<TrainingState>();
