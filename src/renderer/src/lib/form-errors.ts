import { KaoError } from '../../../shared/errors.ts';
import { errorMessage } from './format.ts';

export interface FormErrors {
  /** The line above the form's buttons. */
  formError: string;
  /** A message under each field the service refused, by field name. */
  fieldErrors: Record<string, string>;
}

/**
 * How a job form shows a refused start: an `invalid-input` error puts each issue under its field, and
 * when every issue has a field the summary just points at them; anything else is one line.
 */
export function formErrors(error: unknown, fields: ReadonlySet<string>): FormErrors {
  if (error instanceof KaoError && error.code === 'invalid-input' && error.issues?.length) {
    const fieldErrors = Object.fromEntries(error.issues.map((i) => [i.path, i.message]));
    const allShown = error.issues.every((i) => fields.has(i.path));
    return { fieldErrors, formError: allShown ? 'Check the highlighted fields.' : errorMessage(error) };
  }
  return { fieldErrors: {}, formError: errorMessage(error) };
}
