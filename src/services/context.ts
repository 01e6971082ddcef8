import type { EventBus } from './event-bus.ts';
import type { SettingsService } from './settings.ts';
import type { TrainerHost } from './trainer-host.ts';
import { dataPaths, type DataPaths } from '../core/util/data-paths.ts';

/** What differs between the Electron app and the web bridge; everything else is shared. */
export interface Platform {
  adapter: 'electron' | 'web';
  version: string;
  /** A native folder picker; absent in the browser, where the UI asks for a typed path instead. */
  pickFolder?: (title: string) => Promise<string | null>;
  /** Desktop: puts the image file on the clipboard. */
  copyImage?: (path: string) => Promise<void>;
  /** Desktop: shows the file in the system file manager. */
  revealInFolder?: (path: string) => Promise<void>;
  /**
   * Browser (`kao serve`): offers a file a service wrote alone into a temporary folder (`makeDownloadDir`)
   * as a download, and returns its one-time URL. The folder is removed once served or expired.
   */
  offerDownload?: (file: string, fileName: string) => Promise<string>;
}

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
