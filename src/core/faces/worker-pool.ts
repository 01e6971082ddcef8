import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { FaceDetectionSettings } from './options.ts';
import type { ImageFaces } from './process-image.ts';

export interface WorkerInit {
  cascadeXml: Uint8Array;
  settings: FaceDetectionSettings;
}
export interface WorkerRequest {
  jobId: number;
  path: string;
}
export type WorkerResponse =
  { jobId: number; ok: true; result: ImageFaces } | { jobId: number; ok: false; error: string };

let workerUrlOverride: URL | undefined;

/**
 * Where the extraction worker's script is. From the sources it is `worker.ts` beside this file (run through
 * tsx); from a build it is `worker.js` beside the bundle. A bundler that puts it elsewhere sets it here
 * (e.g. electron-vite: `import workerPath from '../core/faces/worker.ts?modulePath'`).
 */
export function setFaceWorkerUrl(url: URL | string | undefined): void {
  workerUrlOverride = url === undefined ? undefined : url instanceof URL ? url : pathToFileURL(url);
}

function workerUrl(): URL {
  if (workerUrlOverride) return workerUrlOverride;
  const fromSources = import.meta.url.endsWith('.ts');
  return new URL(fromSources ? './worker.ts' : './worker.js', import.meta.url);
}

function workerExecArgv(url: URL): string[] | undefined {
  if (!url.pathname.endsWith('.ts')) return undefined;
  // Resolved from here, not the cwd, so the CLI works from any folder.
  const tsxLoader = createRequire(import.meta.url).resolve('tsx');
  return ['--import', pathToFileURL(tsxLoader).href];
}

/**
 * A fixed set of extraction workers. run() sends one image to an idle worker and resolves with its answer; a
 * worker that dies fails its image (with the reason) and is replaced.
 */
export class FaceWorkerPool {
  readonly size: number;
  readonly #init: WorkerInit;
  readonly #idle: Worker[] = [];
  readonly #waiting: Array<(worker: Worker) => void> = [];
  readonly #all = new Set<Worker>();
  #nextJob = 0;
  #closed = false;

  constructor(size: number, init: WorkerInit) {
    this.size = size;
    this.#init = init;
    for (let i = 0; i < size; i++) this.#idle.push(this.#spawn());
  }

  #spawn(): Worker {
    const url = workerUrl();
    const worker = new Worker(url, { workerData: this.#init, execArgv: workerExecArgv(url) });
    this.#all.add(worker);
    return worker;
  }

  async run(path: string): Promise<WorkerResponse> {
    const worker = await this.#acquire();
    const jobId = this.#nextJob++;
    return new Promise<WorkerResponse>((resolve) => {
      const onMessage = (response: WorkerResponse): void => {
        if (response.jobId !== jobId) return;
        cleanup();
        this.#release(worker);
        resolve(response);
      };
      const onDeath = (reason: string): void => {
        cleanup();
        this.#all.delete(worker);
        void worker.terminate();
        if (!this.#closed) this.#release(this.#spawn());
        resolve({ jobId, ok: false, error: `extraction worker died (${reason})` });
      };
      const onError = (error: Error): void => onDeath(error.message);
      const onExit = (code: number): void => onDeath(`exit code ${code}`);
      const cleanup = (): void => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      worker.postMessage({ jobId, path } satisfies WorkerRequest);
    });
  }

  #acquire(): Promise<Worker> {
    if (this.#closed) return Promise.reject(new Error('worker pool is closed'));
    const worker = this.#idle.pop();
    if (worker) return Promise.resolve(worker);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  #release(worker: Worker): void {
    const next = this.#waiting.shift();
    if (next) next(worker);
    else this.#idle.push(worker);
  }

  /** Stops every worker now; run() calls in flight resolve as failures, which the caller should ignore. */
  async close(): Promise<void> {
    this.#closed = true;
    const workers = [...this.#all];
    this.#all.clear();
    this.#idle.length = 0;
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
