#!/usr/bin/env node
// The `kao` CLI runs the TypeScript sources directly through tsx, so the CLI, `kao serve` and the tests
// exercise exactly the code the Electron app bundles.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
