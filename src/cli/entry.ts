/**
 * The `kao` CLI as built (out/main/cli.js, plain Node, no tsx): the trainer process and the worker threads
 * are the bundles electron-vite writes beside it, so neither the sources nor tsx are needed. bin/kao.js runs
 * src/cli/main.ts through tsx instead, for development.
 */
import trainerPath from '../trainer/main.ts?modulePath';
import facesWorkerPath from '../core/faces/worker.ts?modulePath';
import ganWorkerPath from '../core/gan/parallel/worker.ts?modulePath';
import { setFaceWorkerUrl } from '../core/faces/worker-pool.ts';
import { setTrainerEntry } from '../services/node-trainer-launcher.ts';

setFaceWorkerUrl(facesWorkerPath);
setTrainerEntry(trainerPath);
// The trainer (a child) and `kao train`/`kao bench` (in this process) find the data-parallel worker here.
process.env.KAO_GAN_WORKER ||= ganWorkerPath;

const { main } = await import('./main.ts');
process.exitCode = await main(process.argv.slice(2));
