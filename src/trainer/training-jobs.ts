import type { TrainJob, TrainerToHost } from '../shared/trainer-protocol.ts';
import { KaoError } from '../shared/errors.ts';
import { RunControl } from '../core/util/run-control.ts';

/** Runs at most one training job in this process and relays its progress to the host. */
export class TrainingJobs {
  #control: RunControl | undefined;
  #running: Promise<void> | undefined;

  constructor(private readonly post: (message: TrainerToHost) => void) {}

  /** A job is training (or starting). */
  get busy(): boolean {
    return this.#running !== undefined || this.#control !== undefined;
  }

  async start(job: TrainJob): Promise<{ started: true }> {
    if (this.#running) throw new KaoError('busy', 'A training run is already in progress.');
    const { startTrainingJob } = await import('./train-job.ts');
    const control = new RunControl();
    this.#control = control;
    let finished: Promise<void>;
    try {
      ({ finished } = await startTrainingJob(job, control, this.post));
    } catch (error) {
      this.#control = undefined;
      throw error;
    }
    this.#running = finished.finally(() => {
      this.#running = undefined;
      this.#control = undefined;
    });
    return { started: true };
  }

  pause(): void {
    this.#control?.pause();
    if (this.#control) this.post({ type: 'state', state: 'paused' });
  }

  resume(): void {
    this.#control?.resume();
    if (this.#control) this.post({ type: 'state', state: 'running' });
  }

  /** Stops the job (the run checkpoints on its way out) and waits until it has. */
  async stop(): Promise<void> {
    this.#control?.cancel('stopped by the user');
    await this.#running?.catch(() => undefined);
  }
}
