import { homedir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { createAppServices, type Platform } from './app-services.ts';
import { jsonFileSettingsStore } from './settings.ts';
import { nodeTrainerLauncher } from './node-trainer-launcher.ts';

export const packageVersion: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

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
