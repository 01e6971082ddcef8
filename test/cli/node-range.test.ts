import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generatedIllustrationsDir } from '../helpers/shared-data.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';

const repoRoot = resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
  engines: { node: string };
};

/** A Node older than the supported range on this machine's PATH (the system's, not node_modules'), if any. */
function olderSystemNode(): string | undefined {
  const dirs = (process.env.PATH ?? '').split(':').filter((d) => d && !d.includes('node_modules'));
  for (const dir of dirs) {
    const candidate = join(dir, 'node');
    try {
      const version = execFileSync(candidate, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
      const [major = 0, minor = 0] = version.split('.').map(Number);
      if (major < 22 || (major === 22 && minor < 12)) return candidate;
    } catch {
      // not there
    }
  }
  return undefined;
}

describe('the supported Node range', () => {
  it('is one range: engines, the README, and the Node the project installs for its scripts', () => {
    expect(pkg.engines.node).toBe('>=22.12');
    expect(readFileSync(join(repoRoot, 'README.md'), 'utf8')).toMatch(/Node\.js 22\.12 or newer/);
    const ownNode = execFileSync(join(repoRoot, 'node_modules/.bin/node'), ['-p', 'process.versions.node'], {
      encoding: 'utf8',
    }).trim();
    expect(Number(ownNode.split('.')[0])).toBeGreaterThanOrEqual(24);
  });

  const old = olderSystemNode();
  it.skipIf(!old)(
    `kao started from an older Node (${old ?? 'none on PATH'}) re-runs itself on the project's Node`,
    async () => {
      // Worker threads are what an old Node cannot run through tsx ("Unknown file extension .ts").
      const tmp = await makeTempDir('kao-old-node-');
      try {
        const input = join(tmp.dir, 'in');
        await mkdir(input);
        for (const name of ['tadne_00.jpg', 'tadne_01.jpg'])
          await copyFile(join(generatedIllustrationsDir, name), join(input, name));
        const result = spawnSync(
          old!,
          [
            join(repoRoot, 'bin/kao.js'),
            'faces',
            '--in',
            input,
            '--out',
            join(tmp.dir, 'faces'),
            '--workers',
            '2',
          ],
          { cwd: repoRoot, encoding: 'utf8', env: { ...process.env, KAO_CASCADE: '' } },
        );
        expect(result.status, result.stderr).toBe(0);
        expect(result.stdout).toMatch(/^images: 2 \(0 already done, 2 processed, 0 failed\)/);
        const usage = spawnSync(old!, [join(repoRoot, 'bin/kao.js'), 'train', '--steps', 'ten'], {
          cwd: repoRoot,
          encoding: 'utf8',
        });
        expect(usage.status).toBe(2);
        expect(usage.stderr).toMatch(/^kao train: --data and --run are required\n/);
      } finally {
        await tmp.cleanup();
      }
    },
  );
});
