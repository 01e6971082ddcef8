import { isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Which URLs are the app's own: its page (navigation, IPC senders) and the files that page loads. */
export interface AppUrlRules {
  /** The app's page itself: exactly the built index.html (any #fragment), or the dev server's origin. */
  isAppPage(url: string): boolean;
  /** A file the page may load: inside the built renderer folder, or from the dev server's origin. */
  isAppResource(url: string): boolean;
}

/**
 * Exact comparisons, never substrings: `file:///home/me/Downloads/out/renderer/evil.html`,
 * `file:///etc/passwd?/out/renderer/` and `http://localhost:5173.evil.example` are not the app. Pure
 * (no Electron import) so it is unit-tested.
 */
export function appUrlRules(options: {
  rendererDir: string;
  devServerUrl?: string | undefined;
}): AppUrlRules {
  const parse = (url: string): URL | undefined => {
    try {
      return new URL(url);
    } catch {
      return undefined;
    }
  };
  if (options.devServerUrl) {
    const devOrigin = parse(options.devServerUrl)?.origin;
    const sameOrigin = (url: string): boolean => {
      const origin = parse(url)?.origin;
      return !!devOrigin && devOrigin !== 'null' && origin === devOrigin;
    };
    return { isAppPage: sameOrigin, isAppResource: sameOrigin };
  }
  const rendererDir = resolve(options.rendererDir);
  const indexUrl = pathToFileURL(join(rendererDir, 'index.html')).href;
  return {
    isAppPage(url) {
      const parsed = parse(url);
      if (!parsed || parsed.protocol !== 'file:' || parsed.search) return false;
      parsed.hash = '';
      return parsed.href === indexUrl;
    },
    isAppResource(url) {
      const parsed = parse(url);
      if (!parsed || parsed.protocol !== 'file:' || parsed.search || parsed.host) return false;
      let path: string;
      try {
        path = fileURLToPath(parsed);
      } catch {
        return false;
      }
      const rel = relative(rendererDir, path);
      return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
    },
  };
}
