/** `kao train`'s recipe flags: checked before anything loads, recorded in the run's config. */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRunConfig } from '../../src/core/gan/run-folder.ts';
import { recipeOverrides } from '../../src/cli/recipe-options.ts';
import { startKao, startKaoTrain } from '../helpers/kao-train.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';

let temp: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  temp = await makeTempDir('kao-recipe-cli-');
});
afterAll(() => temp.cleanup());

describe('recipe flags', () => {
  it('turn into config overrides; bad values are usage errors naming the allowed ones', () => {
    expect(
      recipeOverrides({
        'g-width': '0.25',
        'lr-g': '1e-4',
        lr: '3e-4',
        upsample: 'resize',
        augment: 'color,cutout',
        ema: '0.999',
        'spectral-norm': true,
      }),
    ).toEqual({
      gWidth: 0.25,
      lrG: 1e-4,
      lrD: 3e-4,
      upsample: 'resize',
      augment: ['color', 'cutout'],
      emaDecay: 0.999,
      spectralNorm: true,
    });
    expect(recipeOverrides({ augment: 'none' })).toEqual({ augment: [] });
    expect(() => recipeOverrides({ augment: 'color,zoom' })).toThrow(
      /none or a list of color, translation, cutout/,
    );
    expect(() => recipeOverrides({ upsample: 'bilinear' })).toThrow(/one of transposed, resize/);
    expect(() => recipeOverrides({ ema: '0.2' })).toThrow(/0 \(off\) or in \[0.5, 1\)/);
    expect(() => recipeOverrides({ loss: 'wgan' })).toThrow(/bce, hinge/);
  });

  it('kao train records the recipe in the run and refuses a bad flag with exit 2 before loading anything', async () => {
    const runDir = join(temp.dir, 'run');
    const trainer = startKaoTrain(runDir, 2, [
      '--upsample',
      'resize',
      '--augment',
      'translation',
      '--ema',
      '0.99',
      '--loss',
      'hinge',
    ]);
    const exit = await trainer.exit;
    expect(exit.code).toBe(0);
    const config = (await readRunConfig(runDir))!.config;
    expect(config).toMatchObject({
      upsample: 'resize',
      augment: ['translation'],
      emaDecay: 0.99,
      loss: 'hinge',
    });
    const bad = await startKao([
      'train',
      '--data',
      temp.dir,
      '--run',
      join(temp.dir, 'x'),
      '--augment',
      'zoom',
    ]).done;
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--augment must be none or a list of color, translation, cutout/);
    expect(bad.stderr).not.toMatch(/backend/);
  });
});
