import { app, session, type WebContents } from 'electron';
import { CONTENT_SECURITY_POLICY } from '../shared/security.ts';
import type { AppUrlRules } from './app-url.ts';

/** Electron's security checklist, applied once to the default session and every web contents. */
export function hardenSessions(urls: AppUrlRules): void {
  session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  session.defaultSession.setPermissionCheckHandler(() => false);
  session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
    callback({
      responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CONTENT_SECURITY_POLICY] },
    });
  });
  // No remote content at all: only the app's own pages, dev server and media protocol.
  session.defaultSession.webRequest.onBeforeRequest((details, callback) => {
    const allowed =
      urls.isAppResource(details.url) ||
      urls.isAppPage(details.url) ||
      details.url.startsWith('kao-media:') ||
      details.url.startsWith('devtools:');
    callback({ cancel: !allowed });
  });
  app.on('web-contents-created', (_event, contents: WebContents) => {
    contents.on('will-navigate', (event, url) => {
      if (!urls.isAppPage(url)) event.preventDefault();
    });
    contents.on('will-redirect', (event, url) => {
      if (!urls.isAppPage(url)) event.preventDefault();
    });
    contents.on('will-attach-webview', (event) => event.preventDefault());
    contents.setWindowOpenHandler(() => ({ action: 'deny' }));
  });
}
