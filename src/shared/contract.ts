/**
 * The one contract between the UI and the app's services. Every invoke channel (request → response)
 * and every pushed event is declared here as a runtime schema with its inferred type. Main's IPC
 * handlers, the preload's `window.kao`, and the web bridge (`kao serve`) are all typed from it, and
 * every request is validated against it at run time before a service sees it. No Electron imports.
 */
import { z } from 'zod';
import { WireError, type Envelope } from './errors.ts';
import { STEPS_WITHOUT_IMPROVEMENT } from './training-guidance.ts';
import {
  BackendPreference,
  BackendStatus,
  Empty,
  Rendition,
  ThemeSetting,
  jobSnapshot,
} from './contract-base.ts';

import {
  BestCheckpoint,
  FollowCursor,
  MetricPoint,
  RunDetail,
  RunFollowUpdate,
  RunHolder,
  RunId,
  RunSummary,
  SampleRef,
  StepEstimate,
  StepEstimateRequest,
  TrainingOptions,
  TrainingProgressEvent,
  TrainingStateEvent,
} from './training-schemas.ts';

// Everything contract-base.ts declares is part of the contract.
export * from './contract-base.ts';
import {
  CrawlForm,
  CrawlHistory,
  CrawlProgress,
  DatasetListRequest,
  DatasetPage,
  ImportProgress,
  ImportRequest,
  InterruptedCrawl,
  ThumbnailsRequest,
  ThumbnailsResponse,
} from './dataset-schemas.ts';
import {
  CascadeStatus,
  DefaultedFaceDetectionOptions,
  FaceCounts,
  FaceExtractionForm,
  FaceExtractionProgress,
  FacesChanged,
  FacesIdsRequest,
  FacesListRequest,
  FacesPage,
  FacesState,
  SetExcludedRequest,
  UseCascadeRequest,
} from './faces-schemas.ts';
import {
  AttributeDirections,
  AttributesProgress,
  CancelAttributesRequest,
  ExplorerAttributesRequest,
  ExplorerModelRequest,
  ExplorerRun,
  ExportProgress,
  FavoriteExportRequest,
  FavoriteExportResult,
  Favorite,
  FavoriteId,
  FavoriteName,
  FavoritesChanged,
  FavoritesListing,
  GeneratorManifest,
  InterpolationExportRequest,
  InterpolationExportResult,
  SaveDirectionsRequest,
  SaveFavoriteRequest,
} from './explorer-schemas.ts';

// ---------------------------------------------------------------- settings

export const CrawlSettings = z.object({
  site: z.url({ protocol: /^https?$/ }).default('https://konachan.net'),
  tags: z.string().max(500).default('solo'),
  rendition: Rendition.default('sample'),
  pages: z.int().min(1).max(10_000).default(10),
  limit: z.int().min(1).max(1_000_000).default(1000),
  delayMs: z.int().min(0).max(60_000).default(1000),
  unsafeRatings: z.boolean().default(false),
});

export const FaceSettings = DefaultedFaceDetectionOptions.extend({ cascadePath: z.string().default('') });

/** The New run form's last choices: the training options' fields and ranges, with the app's defaults. */
const trainingOption = TrainingOptions.shape;
export const TrainingSettings = z.object({
  preset: trainingOption.preset.default('kao-48'),
  batchSize: trainingOption.batchSize.default(64),
  backend: trainingOption.backend.default('auto'),
  checkpointEvery: trainingOption.checkpointEvery.default(200),
  sampleEvery: trainingOption.sampleEvery.default(50),
  swdEvery: trainingOption.swdEvery.default(500),
  patience: trainingOption.patience.unwrap().default(STEPS_WITHOUT_IMPROVEMENT),
  seed: trainingOption.seed.default(1),
});

export const WindowBounds = z.object({
  width: z.int().min(640).max(10_000).default(1280),
  height: z.int().min(480).max(10_000).default(820),
  x: z.int().optional(),
  y: z.int().optional(),
  maximized: z.boolean().default(false),
});

export const Settings = z.object({
  dataDir: z.string().min(1),
  theme: ThemeSetting.default('system'),
  crawl: CrawlSettings.prefault({}),
  faces: FaceSettings.prefault({}),
  training: TrainingSettings.prefault({}),
  window: WindowBounds.prefault({}),
});
export type Settings = z.infer<typeof Settings>;

const settingsSections = {
  crawl: CrawlSettings,
  faces: FaceSettings,
  training: TrainingSettings,
  window: WindowBounds,
};

/** Parses stored settings field by field: a bad stored value falls back to its default, never a crash. */
export function parseSettingsLenient(
  stored: unknown,
  dataDirDefault: string,
): { settings: Settings; repaired: string[] } {
  const repaired: string[] = [];
  const input = stored && typeof stored === 'object' ? { ...(stored as Record<string, unknown>) } : {};
  if (!(stored && typeof stored === 'object')) repaired.push('(all)');
  const out: Record<string, unknown> = {};
  const shape = Settings.shape;
  for (const key of Object.keys(shape) as Array<keyof typeof shape>) {
    const fieldSchema = shape[key];
    const value = input[key];
    if (key === 'dataDir') {
      const ok = typeof value === 'string' && value.length > 0;
      if (!ok && value !== undefined) repaired.push('dataDir');
      out.dataDir = ok ? value : dataDirDefault;
      continue;
    }
    const parsed = fieldSchema.safeParse(value);
    if (parsed.success) {
      out[key] = parsed.data;
    } else if (value && typeof value === 'object' && key in settingsSections) {
      // Keep the good fields of a section, reset only the bad ones.
      const sectionShape = settingsSections[key as keyof typeof settingsSections].shape as Record<
        string,
        z.ZodType
      >;
      const section: Record<string, unknown> = {};
      for (const [sub, subSchema] of Object.entries(sectionShape)) {
        const r = subSchema.safeParse((value as Record<string, unknown>)[sub]);
        if (r.success) section[sub] = r.data;
        else repaired.push(`${key}.${sub}`);
      }
      out[key] = fieldSchema.parse(section);
    } else {
      repaired.push(key);
      out[key] = fieldSchema.parse(undefined);
    }
  }
  return { settings: Settings.parse(out), repaired };
}

// ---------------------------------------------------------------- app and trainer

export const TrainerState = z.enum(['stopped', 'starting', 'idle', 'running', 'paused', 'crashed']);
export const TrainerStatus = z.object({
  state: TrainerState,
  pid: z.int().optional(),
  backend: BackendStatus.optional(),
  /** Why the trainer last stopped unexpectedly, in words. */
  lastCrash: z.string().optional(),
});
export type TrainerStatus = z.infer<typeof TrainerStatus>;

export const AppInfo = z.object({
  name: z.string(),
  version: z.string(),
  adapter: z.enum(['electron', 'web']),
  platform: z.string(),
  dataDir: z.string(),
  /** Settings fields that were unreadable at start and were reset to defaults. */
  repairedSettings: z.array(z.string()),
});
export type AppInfo = z.infer<typeof AppInfo>;

export const SelfTestResult = z.object({
  backend: BackendStatus,
  loss: z.number(),
  millis: z.number(),
  numTensorsBefore: z.int(),
  numTensorsAfter: z.int(),
});

// Domain schemas live beside this file (one module per domain); the channel map below is the one place
// that names every channel and event.

// ---------------------------------------------------------------- the channel map

export const invokeContract = {
  'app.info': { request: Empty, response: AppInfo },
  'settings.get': { request: Empty, response: Settings },
  'settings.set': { request: Settings, response: Settings },
  'settings.reset': { request: Empty, response: Settings },
  'dialog.pickFolder': {
    request: z.object({ title: z.string().max(200) }).strict(),
    response: z.object({ path: z.string().nullable() }),
  },
  'trainer.status': { request: Empty, response: TrainerStatus },
  /** Starts the trainer process if needed and runs one real tfjs training step on a tiny model. */
  'trainer.selfTest': {
    request: z.object({ backend: BackendPreference.default('auto') }).strict(),
    response: SelfTestResult,
  },
  // ---- dataset (crawl, import, gallery)
  /** Saves the form as `settings.crawl` and starts crawling into the dataset folder. */
  'dataset.crawl.start': { request: CrawlForm, response: jobSnapshot(CrawlProgress) },
  'dataset.crawl.pause': { request: Empty, response: jobSnapshot(CrawlProgress) },
  'dataset.crawl.resume': { request: Empty, response: jobSnapshot(CrawlProgress) },
  'dataset.crawl.cancel': { request: Empty, response: jobSnapshot(CrawlProgress) },
  /** The running job, past crawls from the journal, and a crawl the app was closed in the middle of. */
  'dataset.crawl.state': {
    request: Empty,
    response: z.object({
      job: jobSnapshot(CrawlProgress),
      history: CrawlHistory,
      interrupted: InterruptedCrawl.optional(),
    }),
  },
  'dataset.import.start': { request: ImportRequest, response: jobSnapshot(ImportProgress) },
  'dataset.import.cancel': { request: Empty, response: jobSnapshot(ImportProgress) },
  'dataset.import.state': { request: Empty, response: jobSnapshot(ImportProgress) },
  /** One page of the dataset's images, in name order. */
  'dataset.list': { request: DatasetListRequest, response: DatasetPage },
  /** Cached WebP thumbnails of dataset images (made on first request). */
  'dataset.thumbnails': { request: ThumbnailsRequest, response: ThumbnailsResponse },
  // ---- faces (extraction, review)
  /** Counts, the cascade's status, the existing crops' options and unreadable images; re-reads the faces folder. */
  'faces.state': { request: Empty, response: FacesState },
  /** Saves the form as `settings.faces` and extracts faces from the dataset folder into the faces folder. */
  'faces.extract.start': { request: FaceExtractionForm, response: jobSnapshot(FaceExtractionProgress) },
  'faces.extract.pause': { request: Empty, response: jobSnapshot(FaceExtractionProgress) },
  'faces.extract.resume': { request: Empty, response: jobSnapshot(FaceExtractionProgress) },
  'faces.extract.cancel': { request: Empty, response: jobSnapshot(FaceExtractionProgress) },
  'faces.extract.state': { request: Empty, response: jobSnapshot(FaceExtractionProgress) },
  /** One page of crops (all, kept or excluded), in source order, with the counts. */
  'faces.list': { request: FacesListRequest, response: FacesPage },
  /** Just the ids of a range of the list (shift-click ranges, select all). */
  'faces.ids': { request: FacesIdsRequest, response: z.object({ total: z.int(), ids: z.array(z.string()) }) },
  /** Excludes faces from training, or restores them; saved before it answers. */
  'faces.setExcluded': { request: SetExcludedRequest, response: FaceCounts },
  /** Checks a local cascade file and saves it as `settings.faces.cascadePath` ('' = the downloaded copy). */
  'faces.cascade.use': { request: UseCascadeRequest, response: CascadeStatus },
  // ---- training (runs, charts, samples)
  'training.runs': { request: Empty, response: z.array(RunSummary) },
  /**
   * Which runs another process trains now (live `train.lock` holders other than the app's trainer): a
   * cheap poll for the Training screen, which refreshes its list when this changes.
   */
  'training.locks': {
    request: Empty,
    response: z.array(z.object({ id: RunId, holder: RunHolder })),
  },
  /** A run with its metrics (downsampled to at most 2,000 points) and sample grids. */
  'training.run': { request: z.object({ id: RunId }).strict(), response: RunDetail },
  /**
   * What a run another process trains wrote since `cursor` (from `training.run` or the previous answer):
   * new complete metrics lines and sample grids, the step and the lock, or `reload`. Costs what was
   * appended, not the history: the Training screen polls it while it shows such a run.
   */
  'training.follow': {
    request: z.object({ id: RunId, cursor: FollowCursor }).strict(),
    response: RunFollowUpdate,
  },
  /**
   * How long a step of a preset takes on this machine: measured once in the trainer process (a warm-up
   * step and a timed one on random data), then answered from the data folder's cache.
   */
  'training.estimate': { request: StepEstimateRequest, response: StepEstimate },
  /** Starts a new run on the kept faces in the trainer process. */
  'training.start': { request: TrainingOptions, response: RunSummary },
  /**
   * Starts a stopped or interrupted run again from its newest valid checkpoint (in a fresh trainer job;
   * `steps` raises its total). Not to be confused with `training.resume`, which un-pauses a running job.
   */
  'training.continueFromCheckpoint': {
    request: z.object({ id: RunId, steps: z.int().min(1).max(10_000_000).optional() }).strict(),
    response: RunSummary,
  },
  /** Pauses the running job between steps; `training.resume` goes on from the same step. */
  'training.pause': { request: Empty, response: z.object({ ok: z.literal(true) }) },
  'training.resume': { request: Empty, response: z.object({ ok: z.literal(true) }) },
  /** Stops the running job after writing a checkpoint. */
  'training.stop': { request: Empty, response: z.object({ ok: z.literal(true) }) },
  'training.rename': {
    request: z.object({ id: RunId, name: z.string().trim().min(1).max(80) }).strict(),
    response: RunSummary,
  },
  'training.delete': {
    request: z.object({ id: RunId }).strict(),
    response: z.object({ ok: z.literal(true) }),
  },
  /**
   * Exports the generator in tfjs model format (model.json + weights.bin) into `runs/<id>/export` or the
   * full path `to`, never over an earlier export unless `overwrite` (else code `exists`); or, with
   * `download` (browser), as one .zip offered at `downloadUrl`.
   */
  'training.export': {
    request: z
      .object({
        id: RunId,
        to: z.string().min(1).max(4096).optional(),
        overwrite: z.boolean().optional(),
        download: z.boolean().optional(),
      })
      .strict(),
    response: z.object({
      path: z.string(),
      downloadUrl: z.string().optional(),
      fileName: z.string().optional(),
    }),
  },
  // ---- explorer and favorites
  /** Runs that have at least one checkpoint, newest first. */
  'explorer.runs': { request: Empty, response: z.array(ExplorerRun) },
  /** Writes the checkpoint's generator weights once as one float32 file and describes it (plus cached directions). */
  'explorer.model': { request: ExplorerModelRequest, response: GeneratorManifest },
  /** Caches GANSpace directions computed in the renderer as `runs/<id>/directions-step-<N>.json`. */
  'explorer.saveDirections': { request: SaveDirectionsRequest, response: z.object({ ok: z.literal(true) }) },
  /** Renders an interpolation as an animated WebP/GIF (progress: `explorer.export` events). */
  'explorer.exportInterpolation': {
    request: InterpolationExportRequest,
    response: InterpolationExportResult,
  },
  'explorer.cancelExport': { request: Empty, response: z.object({ cancelled: z.boolean() }) },
  /**
   * Named sliders of a checkpoint, learned from the tags of the faces the run trained on (cached in the run
   * folder; progress: `explorer.attributes` events). A run without tagged faces answers with a `note`.
   */
  'explorer.attributes': { request: ExplorerAttributesRequest, response: AttributeDirections },
  'explorer.cancelAttributes': {
    request: CancelAttributesRequest,
    response: z.object({ cancelled: z.boolean() }),
  },
  'favorites.list': { request: Empty, response: FavoritesListing },
  /** Renders the face in Node (4× Lanczos PNG) and stores it with its run, step, z and ψ. */
  'favorites.save': { request: SaveFavoriteRequest, response: Favorite },
  'favorites.rename': {
    request: z.object({ id: FavoriteId, name: FavoriteName }).strict(),
    response: Favorite,
  },
  'favorites.delete': {
    request: z.object({ id: FavoriteId }).strict(),
    response: z.object({ ok: z.literal(true) }),
  },
  'favorites.export': { request: FavoriteExportRequest, response: FavoriteExportResult },
  /** Desktop: copies the PNG to the clipboard (`copied: false` in the browser, where the page copies it). */
  'favorites.copy': {
    request: z.object({ id: FavoriteId }).strict(),
    response: z.object({ copied: z.boolean() }),
  },
  /** Desktop only: shows the PNG in the file manager. */
  'favorites.reveal': {
    request: z.object({ id: FavoriteId }).strict(),
    response: z.object({ ok: z.literal(true) }),
  },
} as const;

export const eventContract = {
  'trainer.status': TrainerStatus,
  /** Something the user should see that no request is waiting for (a crash, a repaired file). */
  'app.notice': z.object({ level: z.enum(['info', 'warning', 'error']), message: z.string() }),
  // ---- dataset events
  'dataset.crawl': jobSnapshot(CrawlProgress),
  'dataset.import': jobSnapshot(ImportProgress),
  // ---- faces events
  'faces.extraction': jobSnapshot(FaceExtractionProgress),
  'faces.changed': FacesChanged,
  // ---- training events
  'training.progress': TrainingProgressEvent,
  'training.metric': MetricPoint.extend({ runId: RunId }),
  'training.sample': SampleRef.extend({ runId: RunId }),
  'training.checkpoint': z.object({ runId: RunId, step: z.int(), best: BestCheckpoint.optional() }),
  'training.state': TrainingStateEvent,
  // ---- explorer and favorites events
  'explorer.export': ExportProgress,
  'explorer.attributes': AttributesProgress,
  'favorites.changed': FavoritesChanged,
} as const;

// ---------------------------------------------------------------- derived types

export type InvokeContract = typeof invokeContract;
export type InvokeChannel = keyof InvokeContract;
export type EventContract = typeof eventContract;
export type EventName = keyof EventContract;
export type RequestOf<C extends InvokeChannel> = z.input<InvokeContract[C]['request']>;
export type ParsedRequestOf<C extends InvokeChannel> = z.output<InvokeContract[C]['request']>;
export type ResponseOf<C extends InvokeChannel> = z.output<InvokeContract[C]['response']>;
export type EventOf<E extends EventName> = z.output<EventContract[E]>;

export const invokeChannels = Object.keys(invokeContract) as InvokeChannel[];
export const eventNames = Object.keys(eventContract) as EventName[];

export function isInvokeChannel(name: unknown): name is InvokeChannel {
  return typeof name === 'string' && Object.hasOwn(invokeContract, name);
}
export function isEventName(name: unknown): name is EventName {
  return typeof name === 'string' && Object.hasOwn(eventContract, name);
}

/**
 * What a transport provides (the preload's `window.kao`, or the web bridge's WebSocket client):
 * envelopes rather than thrown errors, because Electron's contextBridge drops custom error fields.
 */
export interface KaoBridge {
  readonly adapter: 'electron' | 'web';
  invoke(channel: InvokeChannel, request: unknown): Promise<Envelope<unknown>>;
  on(event: EventName, listener: (payload: unknown) => void): () => void;
  mediaUrl(relativePath: string): string;
  /** Desktop only: where a file or folder dropped on the window lives on disk ('' when it has no path). */
  pathForFile?(file: File): string;
  /** Desktop only: drags a favorite's PNG out of the window (main validates the id). */
  startDrag?(favoriteId: string): void;
}

/** The typed API the renderer uses, built from a bridge: identical over Electron IPC and the web bridge. */
export interface KaoApi {
  readonly adapter: 'electron' | 'web';
  invoke<C extends InvokeChannel>(channel: C, request: RequestOf<C>): Promise<ResponseOf<C>>;
  /** Subscribes to a pushed event; returns the function that unsubscribes. */
  on<E extends EventName>(event: E, listener: (payload: EventOf<E>) => void): () => void;
  /** URL under which the UI may load a file of the data folder (crops, samples, favorites). */
  mediaUrl(relativePath: string): string;
}

/** Web-bridge wire messages (the Electron side uses ipcRenderer.invoke with the same envelopes). */
export const WsClientMessage = z.object({
  id: z.int().min(0),
  channel: z.string().max(100),
  request: z.unknown(),
});
export const WsServerMessage = z.union([
  z.object({ kind: z.literal('reply'), id: z.int(), ok: z.literal(true), value: z.unknown() }),
  z.object({ kind: z.literal('reply'), id: z.int(), ok: z.literal(false), error: WireError }),
  z.object({ kind: z.literal('event'), event: z.string(), payload: z.unknown() }),
]);
export type WsServerMessage = z.infer<typeof WsServerMessage>;
