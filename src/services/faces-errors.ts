import {
  describeFacesProblem,
  imagesFolderEmpty,
  unknownFaceIds,
  wrongCascadeFile,
  type FacesProblem,
} from '../core/faces/errors.ts';
import { KaoError, type ErrorCode } from '../shared/errors.ts';

/**
 * A faces problem as the app says it: sentences for a screen, the cascade asked for in a field (never
 * by a CLI flag), and the wire code a caller can act on.
 */
export function facesProblemForApp(problem: FacesProblem): { code: ErrorCode; message: string } {
  switch (problem.code) {
    case 'cascade-not-given':
      return notFound(`No face cascade found: choose lbpcascade_animeface.xml (from ${problem.url}).`);
    case 'cascade-download-failed':
      return notFound(`Could not download the face cascade from ${problem.url} (${problem.reason})`);
    case 'cascade-download-mismatch':
      return notFound(`${capitalize(describeFacesProblem(problem))}.`);
    case 'cascade-unreadable': {
      const what = problem.given === 'option' ? 'the cascade file' : 'KAO_CASCADE';
      return notFound(`Cannot read ${what} ${problem.path}: ${problem.reason}`);
    }
    case 'cascade-wrong-file':
      return notFound(wrongCascadeFile(problem));
    case 'index-corrupt':
      // The user's data: say which file and why rather than a bare internal error.
      return {
        code: 'internal',
        message: `The faces folder cannot be read: ${describeFacesProblem(problem)}`,
      };
    case 'settings-differ':
      return {
        code: 'invalid-input',
        message: `${capitalize(describeFacesProblem(problem))}. Rebuild to extract them all again.`,
      };
    case 'unknown-face-ids':
      return notFound(`${capitalize(unknownFaceIds(problem.ids))}. Nothing was changed.`);
    case 'images-folder-missing':
      return notFound(`The images folder ${problem.folder} is missing; nothing was removed.`);
    case 'images-folder-empty':
      return notFound(`${capitalize(imagesFolderEmpty(problem))}.`);
  }
}

export function facesErrorForApp(problem: FacesProblem): KaoError {
  const { code, message } = facesProblemForApp(problem);
  return new KaoError(code, message);
}

function notFound(message: string): { code: ErrorCode; message: string } {
  return { code: 'not-found', message };
}

export function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
