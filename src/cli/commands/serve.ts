import { resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CliError, defineCommand, writeJson } from '../command.ts';
import { intOption, stringFlags } from '../options.ts';
import { startWebBridge } from '../web-bridge.ts';
import { WebDownloads } from '../web-downloads.ts';
import { dataDirProblem } from '../../services/data-dir.ts';
import { createNodeAppServices } from '../../services/node-services.ts';

const usage = 'kao serve [--port N] [--data DIR] [--config DIR] [--renderer DIR]';

export const serveCommand = defineCommand(
  usage,
  {
    ...stringFlags('port', 'data', 'config', 'renderer'),
  },
  async (values, io) => {
    const rendererDir = resolve(
      values.renderer ?? fileURLToPath(new URL('../../../out/renderer', import.meta.url)),
    );
    if (!existsSync(resolve(rendererDir, 'index.html'))) {
      throw new CliError(`No built UI at ${rendererDir}: run \`npm run build:web\` first.`);
    }
    if (values.data) {
      // Same rule as the app's Settings: a folder of its own, never `/`, a system folder or the home folder.
      const problem = dataDirProblem(resolve(values.data));
      if (problem) throw new CliError(`--data: ${problem}`, 2);
    }
    const downloads = new WebDownloads();
    // Tests shorten how long the printed link works after its first use (never beyond a minute).
    const graceText = process.env.KAO_SERVE_URL_GRACE_MS;
    const graceMs = graceText && /^\d+$/.test(graceText) ? Number(graceText) : undefined;
    const services = createNodeAppServices({
      ...(values.data ? { dataDir: resolve(values.data) } : {}),
      ...(values.config ? { configDir: resolve(values.config) } : {}),
      offerDownload: downloads.offer,
    });
    if (values.data && services.settings.get().dataDir !== resolve(values.data)) {
      await services.settings.set({ ...services.settings.get(), dataDir: resolve(values.data) });
    }
    const bridge = await startWebBridge({
      services,
      rendererDir,
      port: intOption(values.port, 'port', 0) ?? 0,
      downloads,
      ...(graceMs !== undefined ? { urlTokenGraceMs: graceMs } : {}),
    });
    if (io.json) writeJson(io, { url: bridge.url, origin: bridge.origin });
    else
      io.stdout.write(
        `Kao Studio is served at ${bridge.url}\n` +
          '(loopback only; open this link once — it sets a session cookie and stops working a minute later; Ctrl-C stops)\n',
      );
    await new Promise<void>((done) => {
      const stop = (): void => done();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await bridge.close();
    await services.dispose();
    return 0;
  },
);
