/**
 * One Content-Security-Policy for the Electron window and the web bridge: only the app's own code,
 * no remote content. `wasm-unsafe-eval` lets the explorer run the generator on tfjs's wasm backend;
 * `blob:`/`data:` images are generated previews.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob: kao-media:",
  "connect-src 'self' kao-media: ws://127.0.0.1:*",
  "worker-src 'self' blob:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');
