import type {
  EventName,
  EventOf,
  InvokeChannel,
  KaoApi,
  KaoBridge,
  RequestOf,
  ResponseOf,
} from '../../../shared/contract.ts';
import { KaoError } from '../../../shared/errors.ts';
import { createWebBridge } from './web-bridge-client.ts';

declare global {
  interface Window {
    kao?: KaoBridge;
  }
}

/** The typed API over whichever bridge this page has: the Electron preload, or `kao serve`'s WebSocket. */
export function createKaoApi(bridge: KaoBridge): KaoApi {
  return {
    adapter: bridge.adapter,
    async invoke<C extends InvokeChannel>(channel: C, request: RequestOf<C>): Promise<ResponseOf<C>> {
      const envelope = await bridge.invoke(channel, request);
      if (envelope.ok) return envelope.value as ResponseOf<C>;
      throw KaoError.fromWire(envelope.error);
    },
    on<E extends EventName>(event: E, listener: (payload: EventOf<E>) => void) {
      return bridge.on(event, listener as (payload: unknown) => void);
    },
    mediaUrl: (path) => bridge.mediaUrl(path),
  };
}

export const kao: KaoApi = createKaoApi(window.kao ?? createWebBridge());
