import { homedir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { createAppServices } from './app-services.ts';
import type { Platform } from './context.ts';
import { jsonFileSettingsStore } from './settings.ts';
import { nodeTrainerLauncher } from './node-trainer-launcher.ts';

/**
 * The app's version from its package.json: two folders up from src/services/, and from out/main/chunks/ in the
 * built CLI three; the nearest package.json above this module is the app's in both.
 */
export const packageVersion: string = (() => {
  for (let url = new URL('./package.json', import.meta.url); ;) {
    try {
      return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
    } catch (error) {
      const next = new URL('../package.json', url);
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || next.href === url.href) throw error;
      url = next;
    }
  }
})();

/** App services outside Electron (`kao serve`, tests): JSON settings file, trainer as a Node child. */
export function createNodeAppServices(
  options: { configDir?: string; dataDir?: string; offerDownload?: Platform['offerDownload'] } = {},
) {
  const configDir =
    options.configDir ?? process.env.KAO_CONFIG_DIR ?? join(homedir(), '.config', 'kao-studio');
  const dataDirDefault = options.dataDir ?? process.env.KAO_DATA_DIR ?? join(homedir(), 'Kao Studio');
  const services = createAppServices({
    platform: {
      adapter: 'web',
      version: packageVersion,
      ...(options.offerDownload ? { offerDownload: options.offerDownload } : {}),
    },
    settingsStore: jsonFileSettingsStore(join(configDir, 'settings.json')),
    dataDirDefault,
    launchTrainer: nodeTrainerLauncher(),
  });
  return services;
}
