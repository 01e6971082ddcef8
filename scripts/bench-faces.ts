/**
 * Face extraction throughput on the 63 shared illustrations: Kao's OpenCV.js pipeline (decode, detect, crop,
 * hash, write PNGs, index) with 1 and 2 workers, next to Debian's native OpenCV (python3-opencv) doing
 * decode + downscale + detect with 1 and 2 processes. Median of several runs.
 *
 *   node_modules/.bin/node --import tsx scripts/bench-faces.ts [--runs 5]
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { extractFaces, listImages } from '../src/core/faces/extract.ts';
import { FaceDetector } from '../src/core/faces/opencv.ts';
import { extractImageFaces } from '../src/core/faces/process-image.ts';
import { faceDetectionSettingsSchema } from '../src/core/faces/options.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
const runs = Number(values.runs);
const data = resolve(process.env['KAO_SHARED_DATA'] ?? resolve(import.meta.dirname, '../../shared/data'));
const cascadePath = join(data, 'lbpcascade_animeface.xml');
const folders = ['illustrations', 'generated-illustrations'].map((f) => join(data, f));

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function kaoRun(
  inputDir: string,
  workers: number,
): Promise<{ wall: number; steady: number; images: number; faces: number }> {
  const out = await mkdtemp(join(tmpdir(), 'kao-bench-faces-'));
  try {
    let firstCommit = 0;
    let lastCommit = 0;
    let committed = 0;
    const started = performance.now();
    const summary = await extractFaces(
      { inputDir, outputDir: out, cascadePath, workers },
      {
        onProgress: (p) => {
          if (p.phase !== 'extracting' || p.processed === committed) return;
          committed = p.processed;
          lastCommit = performance.now();
          firstCommit ||= lastCommit;
        },
      },
    );
    const wall = (performance.now() - started) / 1000;
    // Steady state: from the first image committed on, so worker start-up is left out.
    const steady = (committed - 1) / ((lastCommit - firstCommit) / 1000);
    return {
      wall,
      steady,
      images: summary.processed,
      faces: summary.faces + summary.duplicates + summary.tooSmall,
    };
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

async function inProcessDetectOnly(): Promise<number> {
  const detector = await FaceDetector.create(await readFile(cascadePath));
  const settings = faceDetectionSettingsSchema.parse({});
  const paths = (
    await Promise.all(folders.map(async (f) => (await listImages(f)).map((i) => join(f, i.source))))
  ).flat();
  const started = performance.now();
  for (const path of paths) await extractImageFaces(path, detector, settings);
  return paths.length / ((performance.now() - started) / 1000);
}

/** One native run per call, so native and wasm runs can alternate and share whatever load the machine has. */
function nativeRun(
  processes: number,
): { opencv: string; images: number; seconds: number; faces: number } | string {
  if (!existsSync('/usr/bin/python3')) return 'apt-get install -y python3-opencv';
  try {
    const out = execFileSync(
      '/usr/bin/python3',
      [join(import.meta.dirname, 'bench-faces-native.py'), cascadePath, '1', String(processes), ...folders],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const native = JSON.parse(out) as {
      opencv: string;
      images: number;
      runs: Array<[number, number, number]>;
    };
    return {
      opencv: native.opencv,
      images: native.images,
      seconds: native.runs[0]![1],
      faces: native.runs[0]![2],
    };
  } catch (error) {
    return (error as Error).message.split('\n')[0]!;
  }
}

console.log(`face extraction benchmark: ${runs} runs each, alternating, median; data ${data}`);
// One input folder holding both sets (a temp copy), so each run starts its workers once.
const inputDir = await mkdtemp(join(tmpdir(), 'kao-bench-faces-in-'));
for (const folder of folders) await cp(folder, join(inputDir, basename(folder)), { recursive: true });
const kao = new Map<number, Array<Awaited<ReturnType<typeof kaoRun>>>>([
  [1, []],
  [2, []],
]);
const inProcess: number[] = [];
const native = new Map<number, Array<ReturnType<typeof nativeRun>>>([
  [1, []],
  [2, []],
]);
for (let i = 0; i < runs; i++) {
  for (const workers of [1, 2]) kao.get(workers)!.push(await kaoRun(inputDir, workers));
  inProcess.push(await inProcessDetectOnly());
  for (const processes of [1, 2]) native.get(processes)!.push(nativeRun(processes));
}
await rm(inputDir, { recursive: true, force: true });

for (const [workers, results] of kao) {
  const wall = median(results.map((r) => r.wall));
  console.log(
    `kao (OpenCV.js 4.12 wasm), ${workers} worker${workers > 1 ? 's' : ' '}: ` +
      `${(results[0]!.images / wall).toFixed(1)} images/s end to end (${wall.toFixed(2)} s incl. worker start-up), ` +
      `${median(results.map((r) => r.steady)).toFixed(1)} images/s steady; ${results[0]!.faces} faces`,
  );
}
console.log(`kao pipeline in one thread, no workers, no writes: ${median(inProcess).toFixed(1)} images/s`);
for (const [processes, results] of native) {
  const ok = results.filter((r) => typeof r !== 'string');
  if (ok.length === 0) {
    console.log(`native OpenCV baseline skipped: ${String(results[0])}`);
    break;
  }
  const seconds = median(ok.map((r) => r.seconds));
  console.log(
    `native OpenCV ${ok[0]!.opencv} (python3-opencv), ${processes} process${processes > 1 ? 'es' : ''}: ` +
      `${(ok[0]!.images / seconds).toFixed(1)} images/s (${seconds.toFixed(2)} s, decode + downscale + detect); ` +
      `${ok[0]!.faces} faces`,
  );
}
