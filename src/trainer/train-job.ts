import type { TrainerToHost } from '../shared/trainer-protocol.ts';
import type { RunControl } from '../core/util/run-control.ts';
import { KaoError } from '../shared/errors.ts';

// TEMPORARY: replaced when the training engine (src/core/gan/run.ts) lands in this session.
export async function startTrainingJob(
  _job: Record<string, unknown>,
  _control: RunControl,
  _post: (message: TrainerToHost) => void,
): Promise<void> {
  throw new KaoError('unsupported', 'The training engine is not available yet.');
}
