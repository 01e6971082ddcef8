/**
 * What can go wrong with a faces folder that its user can put right, as a code and its facts. The core
 * words none of it for a terminal or a screen: the CLI (src/cli/faces-errors.ts) and the app
 * (src/services/faces-errors.ts) each say it their way. `message` is a plain default for logs and for
 * callers that show errors as they come (a training run that reads the folder).
 */
export type FacesProblem =
  /** No cascade was named, none is shipped or cached, and nowhere was given to download one to. */
  | { code: 'cascade-not-given'; url: string }
  | { code: 'cascade-download-failed'; url: string; reason: string }
  | { code: 'cascade-download-mismatch'; url: string; sha256: string; expected: string }
  /** A cascade the user named (`given`: an option of the call, or the KAO_CASCADE variable) cannot be read. */
  | { code: 'cascade-unreadable'; path: string; given: CascadeGiven; reason: string }
  | {
      code: 'cascade-wrong-file';
      path: string;
      given: CascadeGiven;
      sha256: string;
      bytes: number;
      expected: { sha256: string; bytes: number; url: string };
    }
  /** One of the folder's own files (index, exclusions, prune journal) is damaged; `reason` follows its path. */
  | { code: 'index-corrupt'; file: string; reason: string }
  /** The folder holds faces made with other detection settings, and the call did not ask to rebuild. */
  | { code: 'settings-differ'; folder: string; stored: string; requested: string }
  | { code: 'unknown-face-ids'; ids: string[] }
  /** The images folder is gone (or not a folder): pruning would wipe the index, so nothing is removed. */
  | { code: 'images-folder-missing'; folder: string }
  /** It is empty and holds none of the index's illustrations: a drive that is not mounted, most likely. */
  | { code: 'images-folder-empty'; folder: string; sources: number };

export type CascadeGiven = 'option' | 'env';
export type FacesProblemCode = FacesProblem['code'];

export class FacesError extends Error {
  override readonly name = 'FacesError';
  constructor(readonly problem: FacesProblem) {
    super(describeFacesProblem(problem));
  }
  get code(): FacesProblemCode {
    return this.problem.code;
  }
}

/** How many unknown ids a message names; the rest are only counted by their presence. */
const LISTED_IDS = 5;

/** The plain wording: facts only, no advice that names a flag or a button. */
export function describeFacesProblem(problem: FacesProblem): string {
  switch (problem.code) {
    case 'cascade-not-given':
      return `no face cascade given (the file is at ${problem.url})`;
    case 'cascade-download-failed':
      return `could not download the face cascade from ${problem.url} (${problem.reason})`;
    case 'cascade-download-mismatch':
      return (
        `the face cascade downloaded from ${problem.url} has SHA-256 ${problem.sha256}, ` +
        `expected ${problem.expected}; not using it`
      );
    case 'cascade-unreadable':
      return `cannot read the face cascade ${problem.path}: ${problem.reason}`;
    case 'cascade-wrong-file':
      return wrongCascadeFile(problem);
    case 'index-corrupt':
      return `${problem.file} ${problem.reason}`;
    case 'settings-differ':
      return `${problem.folder} holds faces extracted with different settings (${problem.stored}; now ${problem.requested})`;
    case 'unknown-face-ids':
      return unknownFaceIds(problem.ids);
    case 'images-folder-missing':
      return `the images folder ${problem.folder} is missing; nothing was removed`;
    case 'images-folder-empty':
      return imagesFolderEmpty(problem);
  }
}

/** Which file it is and how to get the right one: the same for every reader. */
export function wrongCascadeFile(problem: Extract<FacesProblem, { code: 'cascade-wrong-file' }>): string {
  const { expected } = problem;
  return (
    `${problem.path} is not lbpcascade_animeface.xml: its SHA-256 is ${problem.sha256} (${problem.bytes} bytes), ` +
    `expected ${expected.sha256} (${expected.bytes} bytes). Get the original from ${expected.url}`
  );
}

export function unknownFaceIds(ids: readonly string[]): string {
  return `unknown face id${ids.length > 1 ? 's' : ''}: ${ids.slice(0, LISTED_IDS).join(', ')}`;
}

export function imagesFolderEmpty(problem: Extract<FacesProblem, { code: 'images-folder-empty' }>): string {
  const n = problem.sources;
  return (
    `the images folder ${problem.folder} is empty and none of the ${n.toLocaleString('en-US')} illustration${n === 1 ? '' : 's'} ` +
    `of the faces index are there (a drive that is not mounted?); nothing was removed`
  );
}
