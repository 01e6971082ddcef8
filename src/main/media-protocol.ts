import { net, protocol } from 'electron';
import { pathToFileURL } from 'node:url';
import { resolveMediaPath } from '../services/media.ts';

export const MEDIA_SCHEME = 'kao-media';

/** Must run before `app.ready`. */
export function registerMediaScheme(): void {
  protocol.registerSchemesAsPrivileged([
    { scheme: MEDIA_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } },
  ]);
}

/** Serves files of the data folder (crops, samples, favorites) to the renderer, never anything outside it. */
export function handleMediaProtocol(dataDir: () => string): void {
  protocol.handle(MEDIA_SCHEME, async (request) => {
    const path = new URL(request.url).pathname.replace(/^\/+/, '');
    const file = await resolveMediaPath(dataDir(), path);
    if (!file) return new Response('Not found', { status: 404 });
    return net.fetch(pathToFileURL(file).toString());
  });
}
