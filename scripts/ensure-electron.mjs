// `npm start` needs Electron's binary, which its own install script downloads from GitHub. npm 11 blocks
// dependency install scripts by default (and offline CI could not download it anyway), so fetch it here,
// on first start, with a clear message when that is impossible.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';

const require = createRequire(import.meta.url);
const dir = dirname(require.resolve('electron/package.json'));
const pathFile = join(dir, 'path.txt');
const installed =
  existsSync(pathFile) && existsSync(join(dir, 'dist', readFileSync(pathFile, 'utf8').trim()));
if (!installed) {
  console.log('Kao Studio: downloading the Electron runtime (first start only)…');
  const result = spawnSync(process.execPath, [join(dir, 'install.js')], { stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(
      '\nKao Studio: could not download Electron (no internet access?).\n' +
        'The same app runs in your browser instead: `npm run serve`, then open the printed URL.',
    );
    process.exit(1);
  }
}
