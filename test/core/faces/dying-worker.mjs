// A stand-in extraction worker that dies on its second image: the pool must fail that image and go on.
import { parentPort } from 'node:worker_threads';

let seen = 0;
parentPort.on('message', (request) => {
  seen++;
  if (seen === 2) process.exit(3);
  parentPort.postMessage({
    jobId: request.jobId,
    ok: true,
    result: { width: 10, height: 10, detections: [], faces: [], tooSmall: [] },
  });
});
