import { z } from 'zod';
import { TrainingOptions } from '../shared/training-schemas.ts';

/** What the training service sends the trainer with `start`; validated again on the trainer's side. */
export const TrainJob = z
  .object({
    runDir: z.string().min(1),
    /** Absolute paths of the kept face crops (exclusions already applied). */
    faces: z.array(z.string().min(1)).min(1),
    options: TrainingOptions,
  })
  .strict();
export type TrainJob = z.infer<typeof TrainJob>;
