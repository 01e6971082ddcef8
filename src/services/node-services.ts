import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { createAppServices } from './app-services.ts';
import { defaultLocations } from './app-locations.ts';
import type { Platform } from './context.ts';
import { jsonFileSettingsStore, SettingsService } from './settings.ts';
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

/**
 * The settings folder and the default data folder outside Electron: as given, else $KAO_CONFIG_DIR and
 * $KAO_DATA_DIR, else the desktop app's own (app-locations.ts), so both open the same settings and data.
 */
function nodeLocations(options: { configDir?: string; dataDir?: string }) {
  const defaults = defaultLocations();
  return {
    configDir: options.configDir ?? process.env.KAO_CONFIG_DIR ?? defaults.configDir,
    dataDirDefault: options.dataDir ?? process.env.KAO_DATA_DIR ?? defaults.dataDir,
  };
}

/** The data folder the app would open: its saved setting, else the default (for CLI commands that read it). */
export function currentDataDir(options: { configDir?: string } = {}): string {
  const { configDir, dataDirDefault } = nodeLocations(options);
  return new SettingsService(jsonFileSettingsStore(join(configDir, 'settings.json')), dataDirDefault).get()
    .dataDir;
}

/** App services outside Electron (`kao serve`, tests): JSON settings file, trainer as a Node child. */
export function createNodeAppServices(
  options: { configDir?: string; dataDir?: string; offerDownload?: Platform['offerDownload'] } = {},
) {
  const { configDir, dataDirDefault } = nodeLocations(options);
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
