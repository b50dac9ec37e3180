"""Peak memory of processing the worst face photos that are still accepted.

Generates, at the pixel budgets of ``propusk.visitors.photos`` (``PROPUSK_PHOTO_MAX_PIXELS``,
24 MP, and the lower caps of formats decoded at full size), the most expensive input of each
accepted format: a 24 MP baseline JPEG (4:4:4), a progressive CMYK JPEG, a CMYK JPEG with one
scan per component (tests/visitors/crafted_jpeg.py), an RGBA PNG, an RGBA WEBP and an RGBA
AVIF, each padded with an ignorable segment/chunk/box to just under the
upload limit (the upload's bytes are in memory too); plus the 8000 x 7999 PNG of the outside
review, which must now be refused before decoding. The pictures are a real portrait (the face
check, on by default, accepts them and the face is cropped and encoded), except the crafted
multi-scan JPEG, whose uniform content the face check refuses - after decoding and reducing it,
which is where its memory goes.

Each input is processed by ``normalize_face_photo`` in a fresh child process, in a worker
thread as a threaded web server would. The child reports its peak RSS (``ru_maxrss``) and
its RSS after processing (what the web process keeps). A baseline child only imports Django
and Pillow (``django.setup()``, every Pillow plugin). Each is repeated ``--repeat`` times (5);
medians are printed, then one JSON line last:

    {"bench": "photo_memory", "baseline_mb": ..., "inputs": {...}, "worst_accepted_peak_mb": ...}

``peak_mb`` is the child's whole peak; ``over_baseline_mb`` subtracts the baseline median.
Linux only (``ru_maxrss`` in KiB, ``/proc/self/statm``).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

_ENV = {
    "DJANGO_SETTINGS_MODULE": "propusk.settings",
    "PROPUSK_ENV_FILE": os.devnull,
    "DJANGO_SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789",
    "PROPUSK_FIELD_ENCRYPTION_KEYS": "Z2l2ZS1tZS1hLXRlc3Qta2V5LW9mLTMyLWJ5dGVzISE=",
    "PROPUSK_LOOKUP_HASH_KEY": "bench-only-lookup-hash-key",
}
_MB = 1024 * 1024
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for the tests' crafted multi-scan JPEG


def _setup_django() -> None:
    for name, value in _ENV.items():
        os.environ.setdefault(name, value)
    import django

    django.setup()


# --- The child ----------------------------------------------------------------------


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / _MB


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(path: str | None) -> None:
    _setup_django()
    from PIL import Image

    from propusk.visitors.photos import PhotoRejected, normalize_face_photo

    Image.init()
    report: dict[str, Any] = {"before_mb": _rss_mb(), "after_mb": _rss_mb()}
    if path is not None:
        outcome: dict[str, Any] = {}

        def work() -> None:
            started = time.perf_counter()
            # As the form passes an upload Django spooled to disk (above 2.5 MB).
            with open(path, "rb") as upload:
                try:
                    outcome["result"] = f"accepted ({len(normalize_face_photo(upload))} bytes)"
                except PhotoRejected as rejected:
                    outcome["result"] = f"refused ({rejected.code})"
            outcome["seconds"] = time.perf_counter() - started
            # Measured in the thread, which lives on as a web server's thread would.
            outcome["after_mb"] = _rss_mb()

        worker = threading.Thread(target=work)
        worker.start()
        worker.join()
        report.update(outcome)
    report["peak_mb"] = _peak_mb()
    report["detector_peak_mb"] = _detector_peak_mb()
    print(json.dumps(report))


def _detector_peak_mb() -> float | None:
    """The face detector process's peak RSS (VmHWM), if the check started one."""
    from propusk.visitors.face_process import detector

    if detector.pid is None:
        return None
    with open(f"/proc/{detector.pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


# --- Inputs -------------------------------------------------------------------------


def _face_like(width: int, height: int, mode: str) -> Any:
    """A real portrait (scikit-image's astronaut, tests/faces.py) on a smooth background,
    cheap to make at any size. A real face: the face check (``PROPUSK_FACE_CHECK``, on by
    default) accepts it, so the whole accepted path is measured, encoding included."""
    from PIL import Image
    from tests.faces import astronaut

    ramp = Image.linear_gradient("L").resize((width, height))
    bands = [ramp, ramp.transpose(Image.Transpose.FLIP_LEFT_RIGHT), ramp.rotate(90)]
    image = Image.merge("RGB", bands)
    side = min(width, height)
    portrait = astronaut().resize((side, side), Image.Resampling.BICUBIC)
    image.paste(portrait, ((width - side) // 2, (height - side) // 2))
    if mode == "RGBA":
        # Translucent everywhere (224-255), so the alpha is kept and composited on white.
        image.putalpha(ramp.point(lambda value: 255 - value // 8))
    elif mode != "RGB":
        image = image.convert(mode)
    return image


def _encode(width: int, height: int, mode: str, image_format: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    _face_like(width, height, mode).save(buffer, format=image_format, **options)
    return buffer.getvalue()


def _pad_jpeg(data: bytes, size: int) -> bytes:
    """APP15 segments (ignored by decoders) right after SOI, up to ``size`` bytes."""
    segments = []
    room = size - len(data)
    while room > 4 + 16:
        payload = min(65533, room - 4)
        segments.append(b"\xff\xef" + struct.pack(">H", payload + 2) + b"\0" * payload)
        room -= payload + 4
    return data[:2] + b"".join(segments) + data[2:]


def _pad_png(data: bytes, size: int) -> bytes:
    """A private ancillary chunk (``prVt``, skipped by decoders) after IHDR."""
    payload = b"\0" * max(0, size - len(data) - 12)
    chunk = (
        struct.pack(">I", len(payload))
        + b"prVt"
        + payload
        + struct.pack(">I", zlib.crc32(b"prVt" + payload))
    )
    ihdr_end = 8 + 25
    return data[:ihdr_end] + chunk + data[ihdr_end:]


def _pad_webp(data: bytes, size: int) -> bytes:
    """An unknown RIFF chunk at the end (the extended format allows and skips it)."""
    payload = b"\0" * max(0, (size - len(data) - 8) & ~1)
    body = data[12:] + b"PADD" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def _pad_isobmff(data: bytes, size: int) -> bytes:
    """A top-level ``free`` box at the end (ISO BMFF: ignored)."""
    payload = b"\0" * max(0, size - len(data) - 8)
    return data + struct.pack(">I", 8 + len(payload)) + b"free" + payload


def _exif_for_container() -> bytes:
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 1  # orientation: makes Pillow write the extended WEBP container
    return exif.tobytes()


def _side_for(pixels: int, ratio: tuple[int, int]) -> tuple[int, int]:
    """The largest width x height of this aspect ratio within ``pixels``."""
    unit = int((pixels / (ratio[0] * ratio[1])) ** 0.5)
    width, height = unit * ratio[0], unit * ratio[1]
    while (width + ratio[0]) * (height + ratio[1]) <= pixels:  # pragma: no cover - rounding
        width, height = width + ratio[0], height + ratio[1]
    return width, height


def make_inputs(directory: Path) -> None:
    """Write the inputs into ``directory``; print one JSON line describing them."""
    _setup_django()
    from django.conf import settings
    from PIL import Image

    from propusk.visitors.photos import format_label, pixel_budget

    limit = settings.PHOTO_MAX_UPLOAD_BYTES - 1024  # a little under the upload limit

    def jpeg() -> bytes:
        width, height = _side_for(pixel_budget("JPEG"), (3, 2))
        return _pad_jpeg(_encode(width, height, "RGB", "JPEG", quality=95, subsampling=0), limit)

    def progressive_jpeg() -> bytes:
        width, height = _side_for(pixel_budget("progressive JPEG"), (3, 2))
        data = _encode(width, height, "CMYK", "JPEG", quality=95, progressive=True)
        return _pad_jpeg(data, limit)

    def multi_scan_jpeg() -> bytes:
        from tests.visitors.crafted_jpeg import multi_scan_jpeg

        width, height = _side_for(pixel_budget("multi-scan JPEG"), (3, 2))
        return _pad_jpeg(multi_scan_jpeg(width, height, components=4), limit)

    def png() -> bytes:
        width, height = _side_for(pixel_budget("PNG"), (3, 2))
        return _pad_png(_encode(width, height, "RGBA", "PNG"), limit)

    def webp() -> bytes:
        width, height = _side_for(pixel_budget("WEBP"), (3, 2))
        data = _encode(width, height, "RGBA", "WEBP", quality=90, exif=_exif_for_container())
        return _pad_webp(data, limit)

    def avif() -> bytes:
        width, height = _side_for(pixel_budget("AVIF"), (3, 2))
        data = _encode(width, height, "RGBA", "AVIF", quality=90, subsampling="4:4:4")
        return _pad_isobmff(data, limit)

    def review_png() -> bytes:
        # As the review sent it: a few hundred kilobytes (one colour), 64 megapixels.
        buffer = io.BytesIO()
        Image.new("RGB", (8000, 7999), (200, 160, 140)).save(buffer, format="PNG", optimize=True)
        return buffer.getvalue()

    recipes: dict[str, Callable[[], bytes]] = {
        "jpeg_at_budget": jpeg,
        "progressive_cmyk_jpeg_at_budget": progressive_jpeg,
        "multi_scan_cmyk_jpeg_at_budget": multi_scan_jpeg,
        "png_rgba_at_budget": png,
        "webp_rgba_at_budget": webp,
        "avif_rgba_at_budget": avif,
        "png_8000x7999_refused": review_png,
    }
    described = {}
    for name, recipe in recipes.items():
        path = directory / name
        path.write_bytes(recipe())
        with path.open("rb") as stream, Image.open(stream) as image:
            label = format_label(image, stream)
            described[name] = {
                "path": str(path),
                "format": label,
                "width": image.width,
                "height": image.height,
                "budget_megapixels": pixel_budget(label) / 1e6,
                "file_bytes": path.stat().st_size,
            }
    print(json.dumps(described))


# --- The parent ---------------------------------------------------------------------


def _run(arguments: list[str]) -> Any:
    # The parent stays small (no Django, no Pillow): a child's ru_maxrss starts from the RSS of
    # the process that spawned it (Linux keeps the high-water mark across exec).
    command = [sys.executable, __file__, *arguments]
    done = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, **_ENV}, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(arguments)} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--child", nargs="?", const="", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--make-inputs", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child or None)
        return
    if args.make_inputs is not None:
        make_inputs(Path(args.make_inputs))
        return
    with tempfile.TemporaryDirectory(prefix="propusk-bench-") as tmp:
        os.environ.setdefault("PROPUSK_VAR_DIR", tmp)
        described = _run(["--make-inputs", tmp])
        baseline = statistics.median(_run(["--child"])["peak_mb"] for _ in range(args.repeat))
        print(f"baseline (imports only): peak {baseline:.1f} MB (median of {args.repeat})")
        inputs: dict[str, Any] = {}
        for name, about in described.items():
            runs = [_run(["--child", about["path"]]) for _ in range(args.repeat)]
            peak = statistics.median(run["peak_mb"] for run in runs)
            after = statistics.median(run["after_mb"] for run in runs)
            seconds = statistics.median(run["seconds"] for run in runs)
            detector_peaks = [run["detector_peak_mb"] for run in runs if run["detector_peak_mb"]]
            detector_peak = statistics.median(detector_peaks) if detector_peaks else None
            result = " / ".join(sorted({run["result"] for run in runs}))
            width, height = about["width"], about["height"]
            inputs[name] = {
                **{k: v for k, v in about.items() if k != "path"},
                "megapixels": round(width * height / 1e6, 2),
                "result": result,
                "peak_mb": round(peak, 1),
                "over_baseline_mb": round(peak - baseline, 1),
                "after_mb": round(after, 1),
                "seconds": round(seconds, 3),
                "detector_peak_mb": None if detector_peak is None else round(detector_peak, 1),
            }
            print(
                f"{name}: {about['format']} {width}x{height}, "
                f"{about['file_bytes'] / _MB:.1f} MB file, {result}: peak {peak:.1f} MB "
                f"({peak - baseline:+.1f} over baseline), {after:.1f} MB after, {seconds:.2f} s"
                + ("" if detector_peak is None else f"; face detector peak {detector_peak:.1f} MB")
            )
        accepted = [v for v in inputs.values() if v["result"].startswith("accepted")]
        if not accepted:
            raise SystemExit("no input was accepted: the inputs no longer pass the photo checks")
        worst = max(accepted, key=lambda v: v["peak_mb"])
        print(
            json.dumps(
                {
                    "bench": "photo_memory",
                    "repeat": args.repeat,
                    "baseline_mb": round(baseline, 1),
                    "inputs": inputs,
                    "worst_accepted_peak_mb": worst["peak_mb"],
                    "worst_accepted_over_baseline_mb": worst["over_baseline_mb"],
                    "detector_peak_mb": max(
                        (v["detector_peak_mb"] for v in inputs.values() if v["detector_peak_mb"]),
                        default=None,
                    ),
                }
            )
        )


if __name__ == "__main__":
    main()
