/**
 * The renderer's only door to the app: `window.kao`. No raw ipcRenderer and no event objects: invoke
 * accepts only contract channels, subscriptions only contract events and return their unsubscribe.
 * Main validates every request again; this check just fails fast.
 */
import { contextBridge, ipcRenderer, webUtils, type IpcRendererEvent } from 'electron';
import { isEventName, isInvokeChannel, type KaoBridge } from '../shared/contract.ts';
import type { Envelope } from '../shared/errors.ts';

const bridge: KaoBridge = {
  adapter: 'electron',
  async invoke(channel, request) {
    if (!isInvokeChannel(channel)) {
      return { ok: false, error: { code: 'unknown-channel', message: `Unknown channel ${String(channel)}` } };
    }
    return (await ipcRenderer.invoke('kao:invoke', channel, request)) as Envelope<unknown>;
  },
  on(event, listener) {
    if (!isEventName(event)) throw new Error(`Unknown event ${String(event)}`);
    const wrapped = (_event: IpcRendererEvent, name: unknown, payload: unknown): void => {
      if (name === event) listener(payload);
    };
    ipcRenderer.on('kao:event', wrapped);
    return () => {
      ipcRenderer.removeListener('kao:event', wrapped);
    };
  },
  mediaUrl: (relativePath) => `kao-media://data/${relativePath.split('/').map(encodeURIComponent).join('/')}`,
  // Only a File the page already holds (from a drop) can be asked about: no way to probe arbitrary paths.
  pathForFile: (file) => {
    try {
      return webUtils.getPathForFile(file);
    } catch {
      return '';
    }
  },
  // Main checks the id and that the favorite exists before it starts a native drag.
  startDrag: (favoriteId) => ipcRenderer.send('kao:startDrag', favoriteId),
};

contextBridge.exposeInMainWorld('kao', bridge);
