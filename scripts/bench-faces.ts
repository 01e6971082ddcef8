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

console.log(`face extraction benchmark: ${runs} runs each, median; data ${data}`);
// One input folder holding both sets (a temp copy), so each run starts its workers once.
const inputDir = await mkdtemp(join(tmpdir(), 'kao-bench-faces-in-'));
for (const folder of folders) await cp(folder, join(inputDir, basename(folder)), { recursive: true });
for (const workers of [1, 2]) {
  const results = [];
  for (let i = 0; i < runs; i++) results.push(await kaoRun(inputDir, workers));
  const wall = median(results.map((r) => r.wall));
  const row =
    `kao (OpenCV.js 4.12 wasm), ${workers} worker${workers > 1 ? 's' : ' '}: ` +
    `${(results[0]!.images / wall).toFixed(1)} images/s end to end (${wall.toFixed(2)} s incl. worker start-up), ` +
    `${median(results.map((r) => r.steady)).toFixed(1)} images/s steady; ${results[0]!.faces} faces`;
  console.log(row);
}
await rm(inputDir, { recursive: true, force: true });
const inProcess = [];
for (let i = 0; i < runs; i++) inProcess.push(await inProcessDetectOnly());
console.log(`kao pipeline in one thread, no workers, no writes: ${median(inProcess).toFixed(1)} images/s`);

if (existsSync('/usr/bin/python3')) {
  try {
    const out = execFileSync(
      '/usr/bin/python3',
      [join(import.meta.dirname, 'bench-faces-native.py'), cascadePath, String(runs), '1,2', ...folders],
      { encoding: 'utf8' },
    );
    const native = JSON.parse(out) as {
      opencv: string;
      images: number;
      runs: Array<[number, number, number]>;
    };
    for (const processes of [1, 2]) {
      const times = native.runs.filter((r) => r[0] === processes).map((r) => r[1]);
      const wall = median(times);
      console.log(
        `native OpenCV ${native.opencv} (python3-opencv), ${processes} process${processes > 1 ? 'es' : ''}: ` +
          `${(native.images / wall).toFixed(1)} images/s (${wall.toFixed(2)} s, decode + downscale + detect); ` +
          `${native.runs[0]![2]} faces`,
      );
    }
  } catch (error) {
    console.log(`native OpenCV baseline skipped: ${(error as Error).message.split('\n')[0]}`);
  }
} else {
  console.log('native OpenCV baseline skipped: apt-get install -y python3-opencv');
}
