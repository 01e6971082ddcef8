/** `kao train --patience`: a real trainer process that ends itself once its best checkpoint stops moving. */
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { readBestCheckpoint } from '../../src/core/gan/best-checkpoint.ts';
import { startKaoTrain } from '../helpers/kao-train.ts';
import { tempDirSuite } from '../helpers/temp-dir.ts';

const temp = tempDirSuite('kao-patience-cli-');

it('kao train --patience stops early, says so, and keeps the best checkpoint', async () => {
  const runDir = join(temp.dir, 'run');
  const trainer = startKaoTrain(runDir, 60, ['--swd-every', '1', '--swd-images', '16', '--patience', '2']);
  const exit = await trainer.exit;
  expect(exit.code, exit.stderr).toBe(0);
  const stopped = /stopped early \(no better checkpoint for --patience steps\) at step (\d+)\/60/.exec(
    exit.stdout,
  );
  expect(stopped, exit.stdout).not.toBeNull();
  const best = await readBestCheckpoint(runDir);
  expect(Number(stopped![1]) - best!.step).toBe(2);
  expect(exit.stdout).toContain(`best checkpoint: step ${best!.step}`);
});
