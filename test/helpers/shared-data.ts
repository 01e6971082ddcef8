import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

/** `../shared/data` beside the repo (see its README); never copied into the repo. */
export const sharedDataDir = resolve(process.env.KAO_SHARED_DATA ?? resolve(process.cwd(), '../shared/data'));

if (!existsSync(sharedDataDir)) {
  throw new Error(
    `Test data not found at ${sharedDataDir}: clone the repo beside ../shared or set KAO_SHARED_DATA.`,
  );
}

export const facesDir = resolve(sharedDataDir, 'faces');
export const illustrationsDir = resolve(sharedDataDir, 'illustrations');
export const generatedIllustrationsDir = resolve(sharedDataDir, 'generated-illustrations');
export const cascadePath = resolve(sharedDataDir, 'lbpcascade_animeface.xml');
