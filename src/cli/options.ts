import { BackendPreference, type BackendStatus } from '../shared/contract-base.ts';
import { CliError } from './command.ts';

/*
 * Flag declarations and the checks of their values: each parser returns undefined for an absent flag and
 * throws a usage error (exit 2) that names the flag and what it must be.
 */

/** Flags that take a value, by name: `stringFlags('in', 'out')` is `{ in: { type: 'string' }, out: … }`. */
export function stringFlags<const N extends string>(...names: N[]): { [K in N]: { type: 'string' } } {
  return Object.fromEntries(names.map((name) => [name, { type: 'string' }])) as {
    [K in N]: { type: 'string' };
  };
}

/** `--a and --b are required` (a usage error) unless every named flag was given. */
export function requireFlags<V extends Record<string, unknown>, K extends keyof V & string>(
  values: V,
  names: K[],
  usage: string,
): asserts values is V & { [P in K]-?: NonNullable<V[P]> } {
  if (names.every((name) => values[name])) return;
  const flags = names.map((name) => `--${name}`);
  const list = flags.length > 1 ? `${flags.slice(0, -1).join(', ')} and ${flags.at(-1)!}` : flags[0]!;
  throw new CliError(`${list} ${flags.length > 1 ? 'are' : 'is'} required\nusage: ${usage}`, 2);
}

export function intOption(
  value: string | undefined,
  name: string,
  min = 0,
  max?: number,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < min || (max !== undefined && n > max))
    throw new CliError(`--${name} must be ${wholeNumberRange(min, max)}, got "${value}"`, 2);
  return n;
}

function wholeNumberRange(min: number, max: number | undefined): string {
  if (max !== undefined) return `a whole number from ${min} to ${max}`;
  return min === 0 ? 'a whole number ≥ 0' : `a whole number ≥ ${min}`;
}

export function numberOption(
  value: string | undefined,
  name: string,
  range: { min?: number; max?: number; above?: number } = {},
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  const { min, max, above } = range;
  const ok =
    value.trim() !== '' &&
    Number.isFinite(n) &&
    (min === undefined || n >= min) &&
    (max === undefined || n <= max) &&
    (above === undefined || n > above);
  if (!ok) {
    const bounds = [
      above !== undefined ? `> ${above}` : min !== undefined ? `≥ ${min}` : '',
      max !== undefined ? `≤ ${max}` : '',
    ].filter(Boolean);
    const text =
      min !== undefined && max !== undefined
        ? `a number from ${min} to ${max}`
        : `a number${bounds.length ? ` ${bounds.join(' and ')}` : ''}`;
    throw new CliError(`--${name} must be ${text}, got "${value}"`, 2);
  }
  return n;
}

/** A value from a fixed list; the error names every allowed value. */
export function choiceOption<T extends string>(
  value: string | undefined,
  name: string,
  choices: readonly T[],
): T | undefined {
  if (value === undefined) return undefined;
  if (!(choices as readonly string[]).includes(value))
    throw new CliError(`--${name} must be one of ${choices.join(', ')}, got "${value}"`, 2);
  return value as T;
}

/** Backend names the CLI accepts, checked before any backend (and its native code) is loaded. */
export const backendChoices: readonly BackendPreference[] = BackendPreference.options;

/** `--backend NAME` checked against the choices ('auto' when absent), before anything is loaded. */
export function backendOption(value: string | undefined): BackendPreference {
  return choiceOption(value, 'backend', backendChoices) ?? 'auto';
}

/** Loads and selects the backend (TensorFlow.js is imported only now); a refusal names the flag. */
export async function selectCliBackend(preference: BackendPreference): Promise<BackendStatus> {
  const { selectBackend } = await import('../core/gan/backend.ts');
  return selectBackend(preference).catch((error: Error) => {
    throw new CliError(`--backend: ${error.message}`);
  });
}

/** The flags of the commands that draw faces from a run: which run and checkpoint, how many, the seed, the backend. */
export const generatorFlags = stringFlags('run', 'step', 'n', 'seed', 'backend');
