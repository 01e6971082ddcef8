/**
 * The training-recipe flags shared by `kao train` and the quality harness (scripts/quality.ts):
 * architecture width, learning rates and the recipe options of GanConfig, each checked before anything
 * loads.
 */
import {
  augmentKinds,
  lossKinds,
  upsampleKinds,
  type AugmentKind,
  type GanConfigOverrides,
} from '../core/gan/config.ts';
import { CliError } from './command.ts';
import { choiceOption, intOption, numberOption, stringFlags } from './options.ts';

export const recipeFlags = {
  ...stringFlags('batch', 'g-width', 'd-width', 'lr', 'lr-g', 'lr-d', 'g-steps'),
  ...stringFlags('upsample', 'loss', 'augment', 'ema'),
  'spectral-norm': { type: 'boolean' },
  'minibatch-std': { type: 'boolean' },
} as const;

export const recipeUsage =
  '[--batch N] [--g-width X] [--d-width X] [--lr X | --lr-g X --lr-d X] [--g-steps N] ' +
  `[--upsample ${upsampleKinds.join('|')}] [--loss ${lossKinds.join('|')}] ` +
  `[--augment none|${augmentKinds.join(',')}] [--ema DECAY] [--spectral-norm] [--minibatch-std]`;

type RecipeValues = {
  [K in keyof typeof recipeFlags]?: (typeof recipeFlags)[K]['type'] extends 'boolean' ? boolean : string;
};

function augmentOption(value: string | undefined): AugmentKind[] | undefined {
  if (value === undefined) return undefined;
  if (value === 'none') return [];
  const kinds = value.split(',').map((k) => k.trim());
  const unknown = kinds.filter((k) => !augmentKinds.includes(k as AugmentKind));
  if (unknown.length || new Set(kinds).size !== kinds.length)
    throw new CliError(`--augment must be none or a list of ${augmentKinds.join(', ')}, got "${value}"`, 2);
  return kinds as AugmentKind[];
}

/** Overrides from the recipe flags that were given (the preset supplies the rest). */
export function recipeOverrides(values: RecipeValues): GanConfigOverrides {
  const lr = numberOption(values.lr, 'lr', { above: 0, max: 0.1 });
  const ema = numberOption(values.ema, 'ema', { min: 0, max: 0.99999 });
  if (ema !== undefined && ema !== 0 && ema < 0.5)
    throw new CliError(`--ema must be 0 (off) or in [0.5, 1), got "${values.ema}"`, 2);
  return Object.fromEntries(
    Object.entries({
      batchSize: intOption(values.batch, 'batch', 1),
      gWidth: numberOption(values['g-width'], 'g-width', { above: 0 }),
      dWidth: numberOption(values['d-width'], 'd-width', { above: 0 }),
      lrG: numberOption(values['lr-g'], 'lr-g', { above: 0, max: 0.1 }) ?? lr,
      lrD: numberOption(values['lr-d'], 'lr-d', { above: 0, max: 0.1 }) ?? lr,
      gStepsPerD: intOption(values['g-steps'], 'g-steps', 1, 8),
      upsample: choiceOption(values.upsample, 'upsample', upsampleKinds),
      loss: choiceOption(values.loss, 'loss', lossKinds),
      augment: augmentOption(values.augment),
      emaDecay: ema,
      spectralNorm: values['spectral-norm'],
      minibatchStd: values['minibatch-std'],
    }).filter(([, v]) => v !== undefined),
  );
}
