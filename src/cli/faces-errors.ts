import { describeFacesProblem, type FacesProblem } from '../core/faces/errors.ts';

const GET_IT_YOURSELF = 'pass --cascade FILE / set KAO_CASCADE';

/** A faces problem as `kao faces` says it: the flags that put it right, the folders by their flags. */
export function facesProblemForCli(problem: FacesProblem): string {
  switch (problem.code) {
    case 'cascade-not-given':
      return `no face cascade given: download ${problem.url} yourself and ${GET_IT_YOURSELF}`;
    case 'cascade-download-failed':
    case 'cascade-download-mismatch':
      return `${describeFacesProblem(problem)}; download it yourself and ${GET_IT_YOURSELF}`;
    case 'cascade-unreadable': {
      const what = problem.given === 'option' ? 'the --cascade file' : 'KAO_CASCADE';
      return `cannot read ${what} ${problem.path}: ${problem.reason}`;
    }
    case 'settings-differ':
      return `${describeFacesProblem(problem)}. Use another output folder, or --rebuild to start over.`;
    case 'images-folder-missing':
      return `input folder ${problem.folder} does not exist or is not a folder; nothing was removed`;
    case 'cascade-wrong-file':
    case 'index-corrupt':
    case 'unknown-face-ids':
    case 'images-folder-empty':
      return describeFacesProblem(problem);
  }
}
