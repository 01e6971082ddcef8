import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { runInThisContext } from 'node:vm';

/** The slice of the OpenCV.js API the detector uses (the package's own typings lag the runtime). */
interface CvMat {
  data: Uint8Array;
  delete(): void;
}
interface CvRect {
  x: number;
  y: number;
  width: number;
  height: number;
}
interface CvRectVector {
  size(): number;
  get(index: number): CvRect;
  delete(): void;
}
interface CvCascadeClassifier {
  load(path: string): boolean;
  empty(): boolean;
  detectMultiScale(
    image: CvMat,
    objects: CvRectVector,
    scaleFactor: number,
    minNeighbors: number,
    flags: number,
    minSize: unknown,
    maxSize: unknown,
  ): void;
  delete(): void;
}
export interface OpenCv {
  Mat: new (rows?: number, cols?: number, type?: number) => CvMat;
  RectVector: new () => CvRectVector;
  Size: new (width: number, height: number) => unknown;
  CascadeClassifier: new () => CvCascadeClassifier;
  CV_8UC1: number;
  CV_8UC3: number;
  COLOR_RGB2GRAY: number;
  cvtColor(src: CvMat, dst: CvMat, code: number): void;
  equalizeHist(src: CvMat, dst: CvMat): void;
  FS_createDataFile(
    parent: string,
    name: string,
    data: Uint8Array,
    read: boolean,
    write: boolean,
    own: boolean,
  ): void;
  FS_unlink(path: string): void;
  HEAPU8: Uint8Array;
}

let loading: Promise<{ cv: OpenCv }> | undefined;

/**
 * Loads OpenCV.js once per thread. The Emscripten module object has a `.then`, so awaiting or returning it
 * would make the promise machinery call it again (and hang): it stays wrapped in a plain object, and no
 * async function may return it bare.
 */
export function loadOpenCv(): Promise<{ cv: OpenCv }> {
  loading ??= new Promise<{ cv: OpenCv }>((resolve, reject) => {
    // Wasm compilation does not keep Node's event loop alive; without this a lone top-level await exits early.
    const keepAlive = setInterval(() => undefined, 1000);
    try {
      const module = requireOpenCvJs();
      module.then((cv) => {
        clearInterval(keepAlive);
        resolve({ cv });
      });
    } catch (error) {
      clearInterval(keepAlive);
      reject(error instanceof Error ? error : new Error(String(error)));
    }
  });
  return loading;
}

/**
 * Evaluates opencv.js the way Node's CommonJS loader would, minus the loader hooks: under tsx (CLI, tests,
 * workers) the hook reads the 10 MB file through its transform path, which doubles the start-up of every
 * worker for nothing (the file is plain ES5).
 */
function requireOpenCvJs(): { then(callback: (cv: OpenCv) => void): void } {
  const require = createRequire(import.meta.url);
  const filename = require.resolve('@techstark/opencv-js');
  const wrapper = runInThisContext(
    `(function (exports, require, module, __filename, __dirname) {${readFileSync(filename, 'utf8')}\n})`,
    { filename },
  ) as (
    exports: object,
    require: NodeJS.Require,
    module: { exports: unknown },
    file: string,
    dir: string,
  ) => void;
  const module = { exports: {} as unknown };
  wrapper(module.exports as object, require, module, filename, dirname(filename));
  return module.exports as { then(callback: (cv: OpenCv) => void): void };
}

export interface DetectParams {
  scaleFactor: number;
  minNeighbors: number;
  minSize: number;
}

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

let cascadeFileCounter = 0;

/** One cascade classifier in one OpenCV instance; detect() frees every Mat it makes. */
export class FaceDetector {
  readonly #cv: OpenCv;
  readonly #classifier: CvCascadeClassifier;

  private constructor(cv: OpenCv, classifier: CvCascadeClassifier) {
    this.#cv = cv;
    this.#classifier = classifier;
  }

  static async create(cascadeXml: Uint8Array): Promise<FaceDetector> {
    const { cv } = await loadOpenCv();
    // The classifier only loads from Emscripten's in-memory file system; the file is dropped once parsed.
    const name = `cascade-${process.pid}-${cascadeFileCounter++}.xml`;
    cv.FS_createDataFile('/', name, cascadeXml, true, false, false);
    const classifier = new cv.CascadeClassifier();
    try {
      if (!classifier.load(name) || classifier.empty()) {
        classifier.delete();
        throw new Error('OpenCV could not parse the face cascade XML');
      }
    } finally {
      cv.FS_unlink('/' + name);
    }
    return new FaceDetector(cv, classifier);
  }

  /** Faces in an RGB image (3 bytes per pixel, row-major), in that image's pixel coordinates. */
  detect(rgb: Uint8Array, width: number, height: number, params: DetectParams): Box[] {
    const cv = this.#cv;
    if (rgb.length !== width * height * 3)
      throw new Error(`expected ${width}×${height}×3 bytes, got ${rgb.length}`);
    const color = new cv.Mat(height, width, cv.CV_8UC3);
    const gray = new cv.Mat();
    const found = new cv.RectVector();
    try {
      color.data.set(rgb);
      cv.cvtColor(color, gray, cv.COLOR_RGB2GRAY);
      cv.equalizeHist(gray, gray);
      this.#classifier.detectMultiScale(
        gray,
        found,
        params.scaleFactor,
        params.minNeighbors,
        0,
        new cv.Size(params.minSize, params.minSize),
        new cv.Size(0, 0),
      );
      const boxes: Box[] = [];
      for (let i = 0; i < found.size(); i++) {
        const r = found.get(i);
        boxes.push({ x: r.x, y: r.y, width: r.width, height: r.height });
      }
      return boxes;
    } finally {
      color.delete();
      gray.delete();
      found.delete();
    }
  }

  /** Bytes of wasm memory this thread's OpenCV holds (it grows, never shrinks). */
  get heapBytes(): number {
    return this.#cv.HEAPU8.length;
  }

  dispose(): void {
    this.#classifier.delete();
  }
}
