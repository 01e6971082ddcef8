import type { EventName, KaoBridge } from '../../../shared/contract.ts';
import type { Envelope, WireError } from '../../../shared/errors.ts';

/**
 * The browser side of `kao serve`: the same bridge as the preload's, over one WebSocket. The server
 * checks the session cookie and our Origin; requests made while disconnected fail instead of hanging.
 */
export function createWebBridge(): KaoBridge {
  const listeners = new Map<string, Set<(payload: unknown) => void>>();
  const pending = new Map<number, (envelope: Envelope<unknown>) => void>();
  let nextId = 1;
  let socket: WebSocket | undefined;
  let opened: Promise<WebSocket> | undefined;
  let sessionEnded = false;

  function connect(): Promise<WebSocket> {
    if (opened) return opened;
    opened = new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://${location.host}/ws`);
      ws.onopen = () => {
        socket = ws;
        resolve(ws);
      };
      ws.onerror = () => reject(new Error('Cannot reach Kao Studio (is `kao serve` still running?)'));
      ws.onclose = () => {
        socket = undefined;
        opened = undefined;
        const error: WireError = { code: 'internal', message: 'Connection to Kao Studio closed.' };
        for (const [, settle] of pending) settle({ ok: false, error });
        pending.clear();
        emit('bridge.disconnected', null);
        if (sessionEnded) return;
        setTimeout(
          () =>
            void connect().then(
              () => emit('bridge.reconnected', null),
              () => void checkSession(),
            ),
          1500,
        );
      };
      ws.onmessage = (message) => {
        const data = JSON.parse(String(message.data)) as
          | { kind: 'reply'; id: number; ok: true; value: unknown }
          | { kind: 'reply'; id: number; ok: false; error: WireError }
          | { kind: 'event'; event: string; payload: unknown };
        if (data.kind === 'event') return emit(data.event, data.payload);
        const settle = pending.get(data.id);
        if (!settle) return;
        pending.delete(data.id);
        settle(data.ok ? { ok: true, value: data.value } : { ok: false, error: data.error });
      };
    });
    return opened;
  }

  /**
   * A server that answers but refuses our cookie was restarted: its session (and the link it printed) is
   * new, so retrying cannot help. Say so once and stop; while the server is simply down, keep retrying.
   */
  async function checkSession(): Promise<void> {
    if (sessionEnded) return;
    const status = await fetch('/', { method: 'HEAD', cache: 'no-store' }).then(
      (response) => response.status,
      () => 0,
    );
    if (status !== 401) return;
    sessionEnded = true;
    emit('app.notice', {
      level: 'error',
      message:
        'This browser session of Kao Studio has ended because kao serve was restarted. Open the new link it printed.',
    });
  }

  function emit(event: string, payload: unknown): void {
    for (const listener of listeners.get(event) ?? []) listener(payload);
  }

  void connect().catch(() => undefined);

  return {
    adapter: 'web',
    async invoke(channel, request) {
      let ws: WebSocket;
      try {
        ws = socket ?? (await connect());
      } catch (error) {
        return { ok: false, error: { code: 'internal', message: (error as Error).message } };
      }
      const id = nextId++;
      return new Promise<Envelope<unknown>>((resolve) => {
        pending.set(id, resolve);
        ws.send(JSON.stringify({ id, channel, request }));
      });
    },
    on(event: EventName | string, listener) {
      let set = listeners.get(event);
      if (!set) listeners.set(event, (set = new Set()));
      set.add(listener);
      return () => set.delete(listener);
    },
    mediaUrl: (relativePath) => `/media/${relativePath.split('/').map(encodeURIComponent).join('/')}`,
  };
}
