/**
 * Where the desktop app keeps its settings and data, found without Electron, so that `kao serve` and the
 * CLI open the same ones. Electron's rules: settings in `userData` (the config folder of the product
 * name), data in `Documents/Kao Studio`, where Documents on Linux is the XDG documents folder and the home
 * folder when none is configured (xdg-user-dirs' lookup).
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const PRODUCT_NAME = 'Kao Studio';

export interface LocationContext {
  env: NodeJS.ProcessEnv;
  platform: NodeJS.Platform;
  home: string;
}

const current = (): LocationContext => ({ env: process.env, platform: process.platform, home: homedir() });

/** Electron's `app.getPath('userData')` for this app. */
export function appConfigDir(context: LocationContext = current()): string {
  const { env, platform, home } = context;
  if (platform === 'darwin') return join(home, 'Library', 'Application Support', PRODUCT_NAME);
  if (platform === 'win32') return join(env.APPDATA || join(home, 'AppData', 'Roaming'), PRODUCT_NAME);
  return join(env.XDG_CONFIG_HOME || join(home, '.config'), PRODUCT_NAME);
}

/** Electron's `app.getPath('documents')`. */
export function documentsDir(context: LocationContext = current()): string {
  const { env, platform, home } = context;
  if (platform !== 'linux') return join(home, 'Documents');
  const file = join(env.XDG_CONFIG_HOME || join(home, '.config'), 'user-dirs.dirs');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return home;
  }
  // XDG_DOCUMENTS_DIR="$HOME/Documents" (a path relative to $HOME, or absolute).
  const match = /^\s*XDG_DOCUMENTS_DIR\s*=\s*"([^"]*)"/m.exec(text);
  if (!match?.[1]) return home;
  const value = match[1];
  if (value.startsWith('$HOME')) return join(home, value.slice('$HOME'.length));
  return value.startsWith('/') ? value : home;
}

/**
 * The default settings folder and data folder, shared with the desktop app. Folders of earlier versions of
 * `kao serve` (`~/.config/kao-studio`, `~/Kao Studio`) are kept while the shared ones do not exist yet, so
 * nobody's runs and favorites disappear from view.
 */
export function defaultLocations(context: LocationContext = current()): {
  configDir: string;
  dataDir: string;
} {
  const configDir = appConfigDir(context);
  const legacyConfig = join(context.home, '.config', 'kao-studio');
  const dataDir = join(documentsDir(context), PRODUCT_NAME);
  const legacyData = join(context.home, PRODUCT_NAME);
  return {
    configDir:
      !existsSync(join(configDir, 'settings.json')) && existsSync(join(legacyConfig, 'settings.json'))
        ? legacyConfig
        : configDir,
    dataDir: !existsSync(dataDir) && existsSync(legacyData) ? legacyData : dataDir,
  };
}
