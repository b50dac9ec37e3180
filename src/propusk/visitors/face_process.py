"""The face detector's process, seen from the web process (``face_detector.py`` is the other end).

One detector process per Propusk process, started at the first face check (never before: a
process that forks after loading Propusk, e.g. a pre-loading web server, starts its own in each
child) and used by one thread at a time. A detector that died, closed its output or did not
answer within ``TIMEOUT_SECONDS`` is killed and replaced; the request is tried once more on the
new one, then ``FaceDetectorUnavailable`` is raised (never an answer made up in its place).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import selectors
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

logger = logging.getLogger(__name__)

SCRIPT = Path(__file__).with_name("face_detector.py")
# Starting takes about half a second (OpenCV's import and two cascades); a small picture's
# detection a few tens of milliseconds. A detector stuck for this long is replaced.
START_TIMEOUT_SECONDS = 30.0
TIMEOUT_SECONDS = 10.0


class FaceDetectorUnavailable(RuntimeError):
    """The detector process could not answer (it is replaced at the next request)."""


class FaceDetector:
    def __init__(self, command: list[str] | None = None) -> None:
        self._command = command or [sys.executable, "-I", str(SCRIPT)]
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._pid_of_owner = 0
        atexit.register(self.close)

    @property
    def pid(self) -> int | None:
        """The detector process's id, if one runs (for tests and benchmarks)."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def detect(self, rgb: bytes, width: int, height: int) -> dict[str, Any]:
        return self._ask({"op": "detect", "width": width, "height": height}, rgb)

    def sharpness(self, gray: bytes, width: int, height: int) -> float:
        answer = self._ask({"op": "sharpness", "width": width, "height": height}, gray)
        return float(answer["sharpness"])

    def close(self) -> None:
        with self._lock:
            self._stop()

    # --- The process ----------------------------------------------------------------------

    def _ask(self, header: dict[str, Any], pixels: bytes) -> dict[str, Any]:
        with self._lock:
            for attempt in (1, 2):
                try:
                    process = self._running()
                    return self._exchange(process, header, pixels, TIMEOUT_SECONDS)
                except (OSError, ValueError, FaceDetectorUnavailable) as error:
                    logger.warning(
                        "Face detector failed (attempt %d of 2): %s; starting a new one",
                        attempt,
                        error,
                    )
                    self._stop()
                    if attempt == 2:
                        raise FaceDetectorUnavailable(str(error)) from error
        raise FaceDetectorUnavailable("no attempt made")  # not reached: the loop returns or raises

    def _running(self) -> subprocess.Popen[bytes]:
        process = self._process
        if process is not None and self._pid_of_owner != os.getpid():
            process = self._process = None  # inherited through a fork: not ours to use
        if process is not None and process.poll() is None:
            return process
        self._stop()
        process = subprocess.Popen(
            self._command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
        )
        self._process, self._pid_of_owner = process, os.getpid()
        ready = json.loads(_read_line(_pipe(process.stdout), START_TIMEOUT_SECONDS))
        if ready != {"ready": True}:
            raise FaceDetectorUnavailable(f"unexpected greeting {ready!r}")
        logger.info("Face detector started (pid %d)", process.pid)
        return process

    @staticmethod
    def _exchange(
        process: subprocess.Popen[bytes],
        header: dict[str, Any],
        pixels: bytes,
        timeout: float,
    ) -> dict[str, Any]:
        request = json.dumps(header).encode() + b"\n" + pixels
        _write_all(_pipe(process.stdin), request, timeout)
        answer = json.loads(_read_line(_pipe(process.stdout), timeout))
        if not isinstance(answer, dict) or "error" in answer:
            raise FaceDetectorUnavailable(f"the detector answered {answer!r}")
        return answer

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None or self._pid_of_owner != os.getpid():
            return
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()
        if process.poll() is None:
            process.kill()
        process.wait()


def _pipe(stream: IO[bytes] | None) -> IO[bytes]:
    if stream is None:  # Popen was given PIPE: never None
        raise FaceDetectorUnavailable("the detector has no pipe")
    return stream


def _write_all(stream: IO[bytes], data: bytes, timeout: float) -> None:
    """Write ``data`` to the detector, waiting at most ``timeout`` seconds for it to read (a
    picture is larger than a pipe's buffer: a detector that stopped reading must not block
    the web process)."""
    deadline = time.monotonic() + timeout
    view = memoryview(data)
    os.set_blocking(stream.fileno(), False)
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_WRITE)
        while view:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                raise FaceDetectorUnavailable(f"not read within {timeout:g} s")
            try:
                view = view[os.write(stream.fileno(), view) :]
            except BlockingIOError:
                continue


def _read_line(stream: IO[bytes], timeout: float) -> bytes:
    """One line from the detector, waiting at most ``timeout`` seconds for it."""
    deadline = time.monotonic() + timeout
    line = b""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                raise FaceDetectorUnavailable(f"no answer within {timeout:g} s")
            chunk = os.read(stream.fileno(), 65536)
            if not chunk:
                raise FaceDetectorUnavailable("the detector closed its output")
            line += chunk
    return line


detector = FaceDetector()
