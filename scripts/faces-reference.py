#!/usr/bin/python3
"""Reference face detections from Debian's native OpenCV, committed as test/fixtures/faces-reference.json.

Same preprocessing as src/core/faces: decode (EXIF orientation applied), downscale so the long side is at
most 1024 px, RGB->gray, equalizeHist, detectMultiScale(scale 1.1, minNeighbors 5, min 24 px), boxes mapped
back to source pixels. Run: apt-get install -y python3-opencv && /usr/bin/python3 scripts/faces-reference.py
"""
import hashlib
import json
import os
import sys

import cv2

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("KAO_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))
FOLDERS = ["illustrations", "generated-illustrations"]
PARAMS = {"scaleFactor": 1.1, "minNeighbors": 5, "minSize": 24, "maxDetectSide": 1024}
OUT = os.path.join(ROOT, "test", "fixtures", "faces-reference.json")


def detect(classifier, path):
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise RuntimeError(f"cannot decode {path}")
    height, width = image.shape[:2]
    scale = min(1.0, PARAMS["maxDetectSide"] / max(width, height))
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    gray = cv2.equalizeHist(gray)
    rects = classifier.detectMultiScale(
        gray,
        scaleFactor=PARAMS["scaleFactor"],
        minNeighbors=PARAMS["minNeighbors"],
        minSize=(PARAMS["minSize"], PARAMS["minSize"]),
    )
    sx, sy = width / gray.shape[1], height / gray.shape[0]
    boxes = [
        [round(x * sx), round(y * sy), round(w * sx), round(h * sy)]
        for (x, y, w, h) in (rects if len(rects) else [])
    ]
    boxes.sort()
    return {"width": width, "height": height, "faces": boxes}


def main():
    cascade = os.path.join(DATA, "lbpcascade_animeface.xml")
    with open(cascade, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    classifier = cv2.CascadeClassifier(cascade)
    if classifier.empty():
        sys.exit(f"cannot load {cascade}")
    images = {}
    for folder in FOLDERS:
        for name in sorted(os.listdir(os.path.join(DATA, folder))):
            images[f"{folder}/{name}"] = detect(classifier, os.path.join(DATA, folder, name))
    result = {
        "opencv": cv2.__version__,
        "cascadeSha256": digest,
        "params": PARAMS,
        "totalFaces": sum(len(r["faces"]) for r in images.values()),
        "images": images,
    }
    with open(OUT, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    print(f"{len(images)} images, {result['totalFaces']} faces -> {OUT}")


if __name__ == "__main__":
    main()
