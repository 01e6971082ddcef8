import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  appConfigDir,
  defaultLocations,
  documentsDir,
  type LocationContext,
} from '../../src/services/app-locations.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';

let temp: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  temp = await makeTempDir('kao-locations-');
});
afterAll(() => temp.cleanup());

const linux = (home: string, env: NodeJS.ProcessEnv = {}): LocationContext => ({
  env,
  platform: 'linux',
  home,
});

describe('the desktop app’s folders, found without Electron', () => {
  it('follows Electron per platform: userData of the product name, and Documents', () => {
    expect(appConfigDir(linux('/home/a'))).toBe('/home/a/.config/Kao Studio');
    expect(appConfigDir(linux('/home/a', { XDG_CONFIG_HOME: '/xdg' }))).toBe('/xdg/Kao Studio');
    expect(appConfigDir({ env: {}, platform: 'darwin', home: '/Users/a' })).toBe(
      '/Users/a/Library/Application Support/Kao Studio',
    );
    expect(appConfigDir({ env: { APPDATA: '/roaming' }, platform: 'win32', home: '/u' })).toBe(
      join('/roaming', 'Kao Studio'),
    );
    expect(documentsDir({ env: {}, platform: 'darwin', home: '/Users/a' })).toBe('/Users/a/Documents');
  });

  it('reads the XDG documents folder on Linux, and is the home folder when none is configured', async () => {
    const home = join(temp.dir, 'xdg-home');
    await mkdir(join(home, '.config'), { recursive: true });
    expect(documentsDir(linux(home))).toBe(home);
    await writeFile(
      join(home, '.config', 'user-dirs.dirs'),
      '# written by xdg-user-dirs-update\nXDG_DESKTOP_DIR="$HOME/Desktop"\nXDG_DOCUMENTS_DIR="$HOME/Dokumente"\n',
    );
    expect(documentsDir(linux(home))).toBe(join(home, 'Dokumente'));
    await writeFile(join(home, '.config', 'user-dirs.dirs'), 'XDG_DOCUMENTS_DIR="/srv/docs"\n');
    expect(documentsDir(linux(home))).toBe('/srv/docs');
    expect(defaultLocations(linux(home)).dataDir).toBe('/srv/docs/Kao Studio');
  });

  it('keeps the folders an earlier kao serve used until the shared ones exist', async () => {
    const home = join(temp.dir, 'legacy-home');
    await mkdir(join(home, '.config', 'kao-studio'), { recursive: true });
    await mkdir(join(home, 'Documents'));
    await writeFile(join(home, '.config', 'user-dirs.dirs'), 'XDG_DOCUMENTS_DIR="$HOME/Documents"\n');
    expect(defaultLocations(linux(home))).toEqual({
      configDir: join(home, '.config', 'Kao Studio'),
      dataDir: join(home, 'Documents', 'Kao Studio'),
    });
    await writeFile(join(home, '.config', 'kao-studio', 'settings.json'), '{}');
    await mkdir(join(home, 'Kao Studio'));
    expect(defaultLocations(linux(home))).toEqual({
      configDir: join(home, '.config', 'kao-studio'),
      dataDir: join(home, 'Kao Studio'),
    });
    await mkdir(join(home, '.config', 'Kao Studio'));
    await writeFile(join(home, '.config', 'Kao Studio', 'settings.json'), '{}');
    await mkdir(join(home, 'Documents', 'Kao Studio'));
    expect(defaultLocations(linux(home))).toEqual({
      configDir: join(home, '.config', 'Kao Studio'),
      dataDir: join(home, 'Documents', 'Kao Studio'),
    });
  });

  it('kao favorites lists the library of the data folder saved in the desktop app’s settings', async () => {
    const home = join(temp.dir, 'cli-home');
    const chosen = join(temp.dir, 'chosen data');
    await mkdir(join(home, '.config', 'Kao Studio'), { recursive: true });
    await writeFile(
      join(home, '.config', 'Kao Studio', 'settings.json'),
      JSON.stringify({ dataDir: chosen }),
    );
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
    for (const name of ['KAO_DATA_DIR', 'KAO_CONFIG_DIR', 'XDG_CONFIG_HOME']) delete env[name];
    const child = spawn(
      process.execPath,
      [resolve(import.meta.dirname, '../../bin/kao.js'), 'favorites', 'list', '--json'],
      {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((settle) => child.on('close', settle));
    expect(code, stderr).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ library: join(chosen, 'favorites'), favorites: [] });
  });
});
