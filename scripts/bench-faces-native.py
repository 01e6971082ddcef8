#!/usr/bin/python3
"""Native OpenCV baseline for scripts/bench-faces.ts: decode, downscale to 1024, gray, equalizeHist,
detectMultiScale (1.1, 5, 24 px) on every image of the given folders, with 1 or more processes.
Prints one JSON line: {"opencv": ..., "runs": [[processes, seconds], ...]}."""
import json
import os
import sys
import time
from multiprocessing import Pool

import cv2

cv2.setNumThreads(1)  # one core per process, like one wasm worker
_classifier = None


def _init(cascade):
    global _classifier
    _classifier = cv2.CascadeClassifier(cascade)


def detect(path):
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        return -1
    h, w = image.shape[:2]
    scale = min(1.0, 1024 / max(w, h))
    if scale < 1.0:
        image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    gray = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    return len(_classifier.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24)))


def main():
    cascade, repeats, processes_list, *folders = sys.argv[1:]
    paths = sorted(os.path.join(f, n) for f in folders for n in os.listdir(f))
    runs = []
    for processes in [int(p) for p in processes_list.split(",")]:
        for _ in range(int(repeats)):
            start = time.perf_counter()
            with Pool(processes, initializer=_init, initargs=(cascade,)) as pool:
                faces = sum(pool.map(detect, paths, chunksize=1))
            runs.append([processes, time.perf_counter() - start, faces])
    print(json.dumps({"opencv": cv2.__version__, "images": len(paths), "runs": runs}))


if __name__ == "__main__":
    main()
