import { describe, expect, it } from 'vitest';
import { controlJob, jobCounts, type JobCountSpec } from '../../src/renderer/src/lib/job-snapshot.ts';

interface Job {
  phase: string;
}

/** A state's job field; the action below sets it as an event would. */
function holder(initial: Job) {
  let job = initial;
  return { get: () => job, set: (next: Job) => (job = next) };
}

describe('controlJob', () => {
  it('takes the reply as the job when nothing else changed it meanwhile', async () => {
    const job = holder({ phase: 'running' });
    await controlJob(
      async () => ({ phase: 'paused' }),
      job,
      () => undefined,
    );
    expect(job.get().phase).toBe('paused');
  });

  it('keeps an event that arrived while the request was out (a job that finished after a pause)', async () => {
    const job = holder({ phase: 'running' });
    await controlJob(
      async () => {
        job.set({ phase: 'paused' }); // the service publishes before it answers…
        job.set({ phase: 'done' }); // …and the job ended before the answer got here
        return { phase: 'paused' };
      },
      job,
      () => undefined,
    );
    expect(job.get().phase).toBe('done');
  });

  it('leaves the job alone and reports a refusal', async () => {
    const job = holder({ phase: 'done' });
    const messages: string[] = [];
    await controlJob(
      async () => Promise.reject(new Error('No extraction is running.')),
      job,
      (message) => messages.push(message),
    );
    expect(job.get().phase).toBe('done');
    expect(messages).toEqual(['No extraction is running.']);
  });
});

describe('jobCounts', () => {
  interface Progress {
    processed: number;
    total?: number;
    failed: number;
  }
  const specs: JobCountSpec<Progress>[] = [
    { key: 'processed', label: 'Processed', hint: 'files read' },
    {
      key: 'images',
      text: (p) => `${p?.processed ?? 0} / ${p?.total ?? '?'}`,
      label: 'Images',
      hint: 'of all',
    },
    { key: 'errors', field: 'failed', label: 'Failed', hint: 'unreadable', alarm: true },
  ];

  it('reads each count from its field (or words it), zero before the first report, red once failures appear', () => {
    expect(jobCounts(undefined, specs).map((c) => [c.key, c.value, c.bad])).toEqual([
      ['processed', 0, undefined],
      ['images', '0 / ?', undefined],
      ['errors', 0, false],
    ]);
    const counts = jobCounts({ processed: 12, total: 40, failed: 2 }, specs);
    expect(counts.map((c) => [c.key, c.value, c.bad])).toEqual([
      ['processed', 12, undefined],
      ['images', '12 / 40', undefined],
      ['errors', 2, true],
    ]);
    expect(counts[2]).toMatchObject({ label: 'Failed', hint: 'unreadable' });
  });
});
