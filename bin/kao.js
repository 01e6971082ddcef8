#!/usr/bin/env node
// The `kao` CLI runs the TypeScript sources directly through tsx, so the CLI, `kao serve` and the tests
// exercise exactly the code the Electron app bundles (the app's own build of it: out/main/cli.js).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';

// Kao Studio supports Node ≥ 22.12 (package.json engines). An older Node (say a distribution's 20) cannot
// run tsx in worker threads: re-run on the Node 24 the project installs (node_modules/node) when it is there.
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
  const ownNode = fileURLToPath(new URL('../node_modules/node/bin/node', import.meta.url));
  if (!existsSync(ownNode) || process.env.KAO_REEXEC) {
    process.stderr.write(
      `kao: Node ${process.versions.node} is too old; Kao Studio needs Node 22.12 or newer ` +
        '(run `npm install`, which installs Node 24 into node_modules, or upgrade Node)\n',
    );
    process.exit(1);
  }
  const child = spawn(ownNode, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, KAO_REEXEC: '1' },
  });
  // Ctrl-C reaches both from the terminal; a kill aimed at this process is passed on (the child checkpoints).
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? 128 + (signal ? constants.signals[signal] : 0)));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  const { main } = await import('../src/cli/main.ts');
  process.exitCode = await main(process.argv.slice(2));
}
