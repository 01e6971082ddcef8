/**
 * Extraction worker thread: one OpenCV.js instance and one cascade classifier, one image at a time.
 * Protocol: receives WorkerRequest, answers WorkerResponse (see worker-pool.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { FaceDetector } from './opencv.ts';
import { extractImageFaces } from './process-image.ts';
import type { WorkerInit, WorkerRequest, WorkerResponse } from './worker-pool.ts';

const port = parentPort;
if (!port) throw new Error('worker.ts must run as a worker thread');
const init = workerData as WorkerInit;

const detectorReady = FaceDetector.create(init.cascadeXml).then(
  (detector) => ({ detector }),
  (error: unknown) => ({ error: error instanceof Error ? error.message : String(error) }),
);

port.on('message', (request: WorkerRequest) => {
  void handle(request).then(({ response, transfer }) => port.postMessage(response, transfer));
});

async function handle(
  request: WorkerRequest,
): Promise<{ response: WorkerResponse; transfer: ArrayBuffer[] }> {
  const ready = await detectorReady;
  if ('error' in ready)
    return { response: { jobId: request.jobId, ok: false, error: ready.error }, transfer: [] };
  try {
    const result = await extractImageFaces(request.path, ready.detector, init.settings);
    const transfer = result.faces.map((face) => face.png.buffer as ArrayBuffer);
    return { response: { jobId: request.jobId, ok: true, result }, transfer };
  } catch (error) {
    return { response: { jobId: request.jobId, ok: false, error: imageErrorMessage(error) }, transfer: [] };
  }
}

function imageErrorMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // sharp's messages for undecodable input are long; the first line says it.
  return message.split('\n')[0]!.trim();
}
