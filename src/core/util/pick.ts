/**
 * A new object with the named fields of `source` that are not undefined: the plain snapshot a progress
 * event carries, without the rest of the richer object it is read from.
 */
export function pickDefined<T extends object, K extends keyof T>(source: T, keys: readonly K[]): Pick<T, K> {
  const picked = {} as Pick<T, K>;
  for (const key of keys) if (source[key] !== undefined) picked[key] = source[key];
  return picked;
}
