"""OpenCV's face detector in a process of its own (run as a script, never imported by Django).

OpenCV and NumPy cost a process about 53 MB of resident memory before any photo is read, so the
web process does not load them: ``propusk.visitors.faces`` starts this script once per process
(``face_process.FaceDetector``) and sends it the small pictures the check needs:

- ``detect``: an RGB picture at most 480 pixels on its long side. Answer: the frontal faces, or
  when there are none the profile faces (the picture and its mirror), as ``[x, y, w, h]`` in that
  picture's pixels.
- ``sharpness``: a grey 128 x 128 picture of a face. Answer: the variance of its Laplacian.

The protocol, on standard input and output: a request is one JSON line (``{"op", "width",
"height"}``) followed by exactly ``width * height * channels`` bytes of pixels; an answer is one
JSON line (``{"faces": ..., "profile": ...}``, ``{"sharpness": ...}`` or ``{"error": ...}``).
The script imports nothing of Propusk (it is run by path, so the package and Django are never
loaded here) and exits when its standard input closes.
"""

from __future__ import annotations

import json
import sys
from typing import Any, BinaryIO

import cv2
import numpy as np

_DETECT_MIN_FACE_PX = 24
_FRONTAL = "haarcascade_frontalface_alt2.xml"
_PROFILE = "haarcascade_profileface.xml"
# Generous bounds: the client never sends more than 480 x 480 x 3 or 128 x 128.
_MAX_SIDE_PX = 4096


def _cascade(name: str) -> cv2.CascadeClassifier:
    classifier = cv2.CascadeClassifier(cv2.data.haarcascades + name)  # type: ignore[attr-defined]
    if classifier.empty():  # a broken install must not let every photo through
        raise RuntimeError(f"OpenCV's {name} could not be loaded")
    return classifier


class Detector:
    def __init__(self) -> None:
        cv2.setNumThreads(1)  # one small picture at a time: no thread pool, less memory
        self.frontal = _cascade(_FRONTAL)
        self.profile = _cascade(_PROFILE)

    @staticmethod
    def _boxes(classifier: cv2.CascadeClassifier, gray: np.ndarray) -> list[list[int]]:
        found = classifier.detectMultiScale(
            gray,
            scaleFactor=1.1,
            minNeighbors=5,
            minSize=(_DETECT_MIN_FACE_PX, _DETECT_MIN_FACE_PX),
        )
        return [[int(x), int(y), int(w), int(h)] for (x, y, w, h) in found]

    def detect(self, rgb: np.ndarray) -> dict[str, Any]:
        gray = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        frontal = self._boxes(self.frontal, gray)
        if frontal:
            return {"faces": frontal, "profile": []}
        # The profile cascade finds faces turned to one side; run it on the mirror too, whose
        # boxes are given back in the picture's own coordinates.
        width = gray.shape[1]
        mirrored = [
            [width - x - w, y, w, h]
            for (x, y, w, h) in self._boxes(self.profile, np.ascontiguousarray(gray[:, ::-1]))
        ]
        return {"faces": [], "profile": self._boxes(self.profile, gray) + mirrored}

    @staticmethod
    def sharpness(gray: np.ndarray) -> dict[str, Any]:
        return {"sharpness": float(cv2.Laplacian(gray, cv2.CV_64F).var())}


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    chunks = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def handle(detector: Detector, header: dict[str, Any], stdin: BinaryIO) -> dict[str, Any] | None:
    """One request's answer; None when the input ended in the middle of it."""
    op = header.get("op")
    width, height = header.get("width"), header.get("height")
    channels = {"detect": 3, "sharpness": 1}.get(op) if isinstance(op, str) else None
    if (
        channels is None
        or not isinstance(width, int)
        or not isinstance(height, int)
        or not 0 < width <= _MAX_SIDE_PX
        or not 0 < height <= _MAX_SIDE_PX
    ):
        # The pixels that follow cannot be skipped without a size: the stream is lost.
        raise ValueError(f"bad request header {header!r}")
    data = _read_exactly(stdin, width * height * channels)
    if data is None:
        return None
    shape = (height, width, 3) if channels == 3 else (height, width)
    pixels = np.frombuffer(data, dtype=np.uint8).reshape(shape)
    return detector.detect(pixels) if op == "detect" else detector.sharpness(pixels)


def serve(stdin: BinaryIO, stdout: BinaryIO) -> None:
    detector = Detector()
    stdout.write(b'{"ready": true}\n')
    stdout.flush()
    while line := stdin.readline():
        header = json.loads(line)
        answer = handle(detector, header, stdin)
        if answer is None:
            return
        stdout.write(json.dumps(answer).encode() + b"\n")
        stdout.flush()


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
