import type { EventBus } from './event-bus.ts';
import type { SettingsService } from './settings.ts';
import type { TrainerHost } from './trainer-host.ts';
import type { Platform } from './app-services.ts';
import { dataPaths, type DataPaths } from '../core/util/data-paths.ts';

/** What every domain service gets: settings, the event bus, the trainer, and the data folder's layout. */
export interface ServiceContext {
  settings: SettingsService;
  events: EventBus;
  trainer: TrainerHost;
  platform: Platform;
  paths(): DataPaths;
}

export function makePaths(settings: SettingsService): () => DataPaths {
  return () => dataPaths(settings.get().dataDir);
}
