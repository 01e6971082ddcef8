import { mkdir } from 'node:fs/promises';
import { EventBus } from './event-bus.ts';
import { createDispatcher, type Handlers } from './dispatcher.ts';
import { SettingsService, type SettingsStore } from './settings.ts';
import { assertDataDir } from './data-dir.ts';
import { TrainerHost, type TrainerLauncher } from './trainer-host.ts';
import { KaoError } from '../shared/errors.ts';
import { makePaths, type Platform, type ServiceContext } from './context.ts';
import { datasetHandlers } from './dataset-service.ts';
import { facesHandlers } from './faces-service.ts';
import { trainingHandlers } from './training-service.ts';
import { estimateHandlers } from './estimate-service.ts';
import { explorerHandlers } from './explorer-service.ts';
import { favoritesHandlers } from './favorites-service.ts';
import type { SelfTestResult } from '../shared/contract.ts';
import type { z } from 'zod';

export interface AppServicesOptions {
  platform: Platform;
  settingsStore: SettingsStore;
  dataDirDefault: string;
  launchTrainer: TrainerLauncher;
}

/**
 * The app's use cases over the domain cores, behind one dispatcher. The Electron main process and
 * `kao serve` are thin adapters that forward requests to `dispatch` and events from `events`.
 */
export function createAppServices(options: AppServicesOptions) {
  const events = new EventBus();
  const settings = new SettingsService(options.settingsStore, options.dataDirDefault);
  const trainer = new TrainerHost({
    launch: options.launchTrainer,
    onStatus: (status) => {
      events.emit('trainer.status', status);
      if (status.state === 'crashed' && status.lastCrash)
        events.emit('app.notice', { level: 'error', message: status.lastCrash });
    },
    onEvent: (event) => {
      if (event.type === 'log') events.emit('app.notice', { level: event.level, message: event.message });
    },
  });

  const context: ServiceContext = {
    settings,
    events,
    trainer,
    platform: options.platform,
    paths: makePaths(settings),
  };

  const estimates = estimateHandlers(context, options.platform.version, options.launchTrainer);
  const handlers: Handlers = {
    // ---- domain handlers (one module per domain in src/services)
    ...datasetHandlers(context),
    ...facesHandlers(context),
    ...trainingHandlers(context),
    ...estimates.handlers,
    ...explorerHandlers(context),
    ...favoritesHandlers(context),
    'app.info': async () => ({
      name: 'Kao Studio',
      version: options.platform.version,
      adapter: options.platform.adapter,
      platform: process.platform,
      dataDir: settings.get().dataDir,
      repairedSettings: settings.repaired,
    }),
    'settings.get': async () => settings.get(),
    'settings.set': async (next) => {
      // Checked before anything is created: a refused path must not leave folders behind.
      if (next.dataDir !== settings.get().dataDir) await assertDataDir(next.dataDir);
      await mkdir(next.dataDir, { recursive: true });
      return settings.set(next);
    },
    'settings.reset': async () => settings.reset(),
    'dialog.pickFolder': async ({ title }) => {
      if (!options.platform.pickFolder) {
        throw new KaoError(
          'unsupported',
          'Folder dialogs are not available in the browser; type the path instead.',
        );
      }
      return { path: await options.platform.pickFolder(title) };
    },
    'trainer.status': async () => trainer.status,
    'trainer.selfTest': async ({ backend }) =>
      trainer.request<z.infer<typeof SelfTestResult>>({ type: 'selfTest', backend }, 300_000),
  };

  return {
    context,
    events,
    settings,
    trainer,
    dispatch: createDispatcher(handlers),
    async dispose(): Promise<void> {
      await Promise.all([trainer.shutdown(), estimates.dispose()]);
    },
  };
}
export type AppServices = ReturnType<typeof createAppServices>;
