/**
 * The Electron adapter: one window, the media protocol, IPC forwarded to the shared app services, and
 * the trainer in a utility process. Everything the app does lives in src/services and src/core.
 */
import {
  app,
  BrowserWindow,
  clipboard,
  ClipboardItem,
  dialog,
  ipcMain,
  nativeImage,
  shell,
  type IpcMainEvent,
  type IpcMainInvokeEvent,
} from 'electron';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import Store from 'electron-store';
import { createAppServices, type AppServices } from '../services/app-services.ts';
import type { SettingsStore } from '../services/settings.ts';
import { hardenSessions } from './security.ts';
import { appUrlRules } from './app-url.ts';
import { electronTrainerLauncher } from './electron-trainer-launcher.ts';
import { handleMediaProtocol, registerMediaScheme } from './media-protocol.ts';
import { setFaceWorkerUrl } from '../core/faces/index.ts';
import { setLockHolderName } from '../core/folder-lock.ts';
// Worker-thread entries are bundled on their own; the cores find them through these overrides.
import facesWorkerPath from '../core/faces/worker.ts?modulePath';
import { FAVORITE_ID_PATTERN } from '../core/library/favorites.ts';
import { dataPaths } from '../core/util/data-paths.ts';

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  registerMediaScheme();
  setFaceWorkerUrl(facesWorkerPath);
  let mainWindow: BrowserWindow | undefined;
  let services: AppServices | undefined;
  const devServerUrl = process.env.ELECTRON_RENDERER_URL;
  const appUrls = appUrlRules({ rendererDir: join(import.meta.dirname, '../renderer'), devServerUrl });
  const isAppUrl = appUrls.isAppPage;

  app.on('second-instance', () => {
    if (mainWindow?.isMinimized()) mainWindow.restore();
    mainWindow?.focus();
  });

  // The folder locks this process takes (crawl, import, extraction) name it to a refused `kao` command.
  setLockHolderName('Kao Studio');
  app.whenReady().then(() => {
    hardenSessions(appUrls);
    const store = new Store<Record<string, unknown>>({ name: 'settings', clearInvalidConfig: true });
    const settingsStore: SettingsStore = {
      read: () => store.store,
      write: (settings) => {
        store.store = settings as unknown as Record<string, unknown>;
      },
    };
    services = createAppServices({
      platform: {
        adapter: 'electron',
        version: app.getVersion(),
        pickFolder: async (title) => {
          const result = await dialog.showOpenDialog(mainWindow!, {
            title,
            properties: ['openDirectory', 'createDirectory'],
          });
          return result.canceled ? null : (result.filePaths[0] ?? null);
        },
        copyImage: async (path) => {
          const png = new Blob([await readFile(path)], { type: 'image/png' });
          await clipboard.write([new ClipboardItem({ 'image/png': png })]);
        },
        revealInFolder: async (path) => shell.showItemInFolder(path),
      },
      settingsStore,
      dataDirDefault: join(app.getPath('documents'), 'Kao Studio'),
      launchTrainer: electronTrainerLauncher,
    });
    const appServices = services;
    handleMediaProtocol(() => appServices.settings.get().dataDir);

    ipcMain.handle('kao:invoke', (event: IpcMainInvokeEvent, channel: unknown, request: unknown) => {
      if (!event.senderFrame || !isAppUrl(event.senderFrame.url)) {
        return {
          ok: false,
          error: { code: 'protocol', message: 'Requests are accepted from the app window only.' },
        };
      }
      return appServices.dispatch(channel, request);
    });
    // Dragging a favorite out of the window: only ids of existing favorites, only from the app window.
    ipcMain.on('kao:startDrag', (event: IpcMainEvent, favoriteId: unknown) => {
      if (!event.senderFrame || !isAppUrl(event.senderFrame.url)) return;
      if (typeof favoriteId !== 'string' || !FAVORITE_ID_PATTERN.test(favoriteId)) return;
      const file = join(dataPaths(appServices.settings.get().dataDir).favorites, `${favoriteId}.png`);
      if (!existsSync(file)) return;
      const icon = nativeImage.createFromPath(file).resize({ width: 64, height: 64 });
      event.sender.startDrag({ file, icon });
    });
    appServices.events.subscribe((name, payload) => {
      if (mainWindow && !mainWindow.isDestroyed()) mainWindow.webContents.send('kao:event', name, payload);
    });

    mainWindow = createWindow(appServices);
  });

  let quitting = false;
  app.on('before-quit', (event) => {
    if (quitting || !services) return;
    // Let the trainer checkpoint and exit before the app goes.
    event.preventDefault();
    quitting = true;
    services.dispose().finally(() => app.quit());
  });
  app.on('window-all-closed', () => app.quit());

  function createWindow(appServices: AppServices): BrowserWindow {
    const bounds = appServices.settings.get().window;
    const window = new BrowserWindow({
      width: bounds.width,
      height: bounds.height,
      ...(bounds.x !== undefined && bounds.y !== undefined ? { x: bounds.x, y: bounds.y } : {}),
      minWidth: 900,
      minHeight: 600,
      show: false,
      title: 'Kao Studio',
      backgroundColor: '#15161a',
      webPreferences: {
        preload: join(import.meta.dirname, '../preload/index.cjs'),
        contextIsolation: true,
        sandbox: true,
        nodeIntegration: false,
        webSecurity: true,
        spellcheck: false,
      },
    });
    if (bounds.maximized) window.maximize();
    window.once('ready-to-show', () => window.show());
    window.on('close', () => {
      const b = window.getNormalBounds();
      const settings = appServices.settings.get();
      void appServices.settings.set({ ...settings, window: { ...b, maximized: window.isMaximized() } });
    });
    if (devServerUrl) void window.loadURL(devServerUrl);
    else void window.loadFile(join(import.meta.dirname, '../renderer/index.html'));
    return window;
  }
}
