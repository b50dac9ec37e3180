"""Checking and normalising face photos before they are stored or sent to HikCentral.

Every accepted photo leaves here as a baseline RGB JPEG carrying pixel data only (a plain JFIF
header; no EXIF, GPS, ICC profile, XMP or comment, whatever the upload carried), turned
upright, at most ``PHOTO_MAX_SIDE_PX`` on the long side and at most ``PHOTO_MAX_JPEG_BYTES``
long (HCP rejects larger faces). Anything else is refused with a message a visitor understands.
With ``FACE_CHECK`` on (the default), the photo must also show exactly one usable face
(``visitors.faces``) and is cropped around it before it is encoded.

Memory stays bounded whatever is uploaded. The pixel count is read from the header and checked
against a budget before anything is decoded: ``PHOTO_MAX_PIXELS`` (24 MP), lower for formats
Pillow can only decode at full size (``FULL_DECODE_MAX_PIXELS``). A JPEG is decoded at a
reduced scale (``Image.draft``: 1/2, 1/4 or 1/8, never below the target size); other formats
are decoded whole, then converted and box-reduced a strip at a time, so no second full-size
copy is ever made. ``bench/photo_memory.py`` measures the peak memory of the worst accepted
inputs.
"""

from __future__ import annotations

import ctypes
import io
import logging
import math
import warnings
from typing import IO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from propusk.visitors.face_process import FaceDetectorUnavailable
from propusk.visitors.faces import FaceRejected, checked_portrait

logger = logging.getLogger(__name__)

# Formats phones and cameras produce that this Pillow can read (MPO: multi-picture JPEG
# from some phones). HEIC is accepted only if a plugin is ever installed.
_WANTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "AVIF", "HEIF"})
# Decoded at a reduced scale (libjpeg's 1/2, 1/4, 1/8): their budget is PHOTO_MAX_PIXELS.
_DRAFT_FORMATS = frozenset({"JPEG", "MPO"})
# Lower caps where the decoder needs memory for every pixel of the full image, measured with
# bench/photo_memory.py (bytes a pixel): for a progressive JPEG, or one with a scan per
# component, libjpeg keeps all the DCT coefficients (2 a sample: 6 at 4:4:4, 8 for CMYK); PNG
# is decoded whole (Pillow keeps RGB as 4); WEBP about 16 (libwebp's two canvases, the bytes
# handed to Pillow, Pillow's image); AVIF about 12. With these caps the worst photo of each
# format, padded to the upload limit, peaks at most 72 MB above the process's own size (139 MB
# in all: a CMYK JPEG, progressive or with a scan per component).
FULL_DECODE_MAX_PIXELS = {
    "progressive JPEG": 6_000_000,
    "multi-scan JPEG": 6_000_000,
    "PNG": 12_000_000,
    "WEBP": 3_000_000,
    "AVIF": 4_000_000,
}
# Any other format (HEIF, if a plugin is ever installed): the smallest cap.
_OTHER_FORMAT_MAX_PIXELS = min(FULL_DECODE_MAX_PIXELS.values())
MAX_ASPECT_RATIO = 3.0
_QUALITY_STEPS = (90, 85, 80, 75, 70, 65, 60, 55, 50, 45, 40)
_SHRINK_FACTOR = 0.8
# Conversion and reduction of a fully decoded image work on strips of about this many pixels.
_STRIP_PIXELS = 1_000_000
_ORIENTATION_TAG = 0x0112
_TRANSPOSE_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _glibc_malloc() -> ctypes.CDLL | None:
    """The C library, if its allocator is glibc's (musl or macOS have no malloc_trim)."""
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


# Memory must go back to the system after a big photo (it once stayed at 420 MB). glibc raises
# its mmap threshold after the first big free and then keeps big buffers in its heaps; a
# thread's heap is never trimmed. So, process-wide, buffers of 4 MB and more (decoded images,
# codec canvases, the upload) get their own mapping, unmapped when freed; and after each photo
# malloc_trim(0) gives back the free pages of the smaller ones (microseconds).
_M_MMAP_THRESHOLD = -3  # glibc's malloc.h
_MMAP_THRESHOLD_BYTES = 4 * 1024 * 1024
_LIBC = _glibc_malloc()
if _LIBC is not None and not _LIBC.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES):
    logger.warning("mallopt(M_MMAP_THRESHOLD) refused: big photo buffers may stay in the heap")


def _return_freed_memory() -> None:
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


class PhotoRejected(ValidationError):
    """The upload is not a usable face photo; the message is for the visitor."""


def accepted_formats() -> frozenset[str]:
    Image.init()
    return _WANTED_FORMATS & frozenset(Image.OPEN)


def format_label(image: Image.Image, stream: IO[bytes]) -> str:
    """The format of ``image`` (opened from ``stream``) as the pixel budgets name it: "JPEG",
    "progressive JPEG", "multi-scan JPEG", "PNG"..."""
    image_format = str(image.format)
    if image_format not in _DRAFT_FORMATS:
        return image_format
    if image.info.get("progressive") or image.info.get("progression"):
        return "progressive JPEG"
    layers = int(getattr(image, "layers", 1))
    scanned = _first_scan_components(stream)
    if scanned is None or scanned < layers:
        # Its components come in separate scans: libjpeg keeps every DCT coefficient.
        return "multi-scan JPEG"
    return image_format


def _first_scan_components(stream: IO[bytes]) -> int | None:
    """How many components a JPEG's first scan holds (the header walked up to its first SOS),
    or None if the header cannot be walked. The stream is left where it was."""
    position = stream.tell()
    try:
        stream.seek(2)  # after SOI
        while True:
            marker = stream.read(2)
            while len(marker) == 2 and marker == b"\xff\xff":  # fill bytes
                marker = b"\xff" + stream.read(1)
            if len(marker) < 2 or marker[0] != 0xFF:
                return None
            size = stream.read(2)
            if len(size) < 2 or int.from_bytes(size, "big") < 2:
                return None
            if marker[1] == 0xDA:  # SOS: its first byte counts the scan's components
                count = stream.read(1)
                return count[0] if count else None
            stream.seek(int.from_bytes(size, "big") - 2, io.SEEK_CUR)
    finally:
        stream.seek(position)


def pixel_budget(label: str) -> int:
    """The most pixels a photo of this ``format_label`` may have (checked before decoding)."""
    limit = int(settings.PHOTO_MAX_PIXELS)
    if label in _DRAFT_FORMATS:
        return limit
    return min(limit, FULL_DECODE_MAX_PIXELS.get(label, _OTHER_FORMAT_MAX_PIXELS))


def normalize_face_photo(photo: bytes | IO[bytes]) -> bytes:
    """Check an uploaded photo and return it as a small, clean JPEG; or raise PhotoRejected.

    ``photo`` is the file's bytes or a seekable binary file (an upload: Pillow then reads only
    what it needs, and a large upload Django spooled to disk is never held in memory whole).
    """
    stream = io.BytesIO(photo) if isinstance(photo, bytes) else photo
    try:
        return _normalize(stream)
    except PhotoRejected as rejected:
        # Raised again without its traceback: the traceback's frames hold the decoded images
        # (and the face check's arrays), which must be freed before the memory is given back.
        refusal = rejected.with_traceback(None)
        refusal.__context__ = refusal.__cause__ = None
    finally:
        _return_freed_memory()
    raise refusal


def _normalize(stream: IO[bytes]) -> bytes:
    size = stream.seek(0, io.SEEK_END)
    check_upload_size(size)
    if not size:
        raise PhotoRejected(_("The photo file is empty."), code="empty")
    with _open_checked(stream) as image:
        width, height = image.size
        if min(width, height) < settings.PHOTO_MIN_SIDE_PX:
            raise PhotoRejected(
                ngettext(
                    "The photo is too small (%(width)s x %(height)s pixels): take one at least "
                    "%(min)s pixel on the short side.",
                    "The photo is too small (%(width)s x %(height)s pixels): take one at least "
                    "%(min)s pixels on the short side.",
                    settings.PHOTO_MIN_SIDE_PX,
                )
                % {"width": width, "height": height, "min": settings.PHOTO_MIN_SIDE_PX},
                code="too_small",
            )
        if max(width, height) / min(width, height) > MAX_ASPECT_RATIO:
            raise PhotoRejected(
                _("The photo is too narrow or too wide: take a normal portrait photo of the face."),
                code="aspect_ratio",
            )
        small, orientation = _decode_reduced(image)
    # The full-size image is closed: from here on only small copies exist.
    upright = _finish(small, orientation)
    if settings.FACE_CHECK:
        try:
            upright = checked_portrait(upright)
        except FaceRejected as rejected:
            raise PhotoRejected(str(rejected.message), code=rejected.code) from None
        except FaceDetectorUnavailable:
            logger.exception("The face check could not run; the photo is refused")
            raise PhotoRejected(
                _("The photo could not be checked just now: send it again in a minute."),
                code="face_check_unavailable",
            ) from None
    return _encode_within_limit(_pixels_only(upright))


def check_with_access_system(jpeg: bytes) -> None:
    """PhotoRejected when HCP's faceCheck refuses ``jpeg`` (a normalised face photo).

    When HCP cannot say (off, no faceCheck, HCP down or slow) the photo stands on our own
    check: ``integrations.hikcentral.face_check`` logs a warning and the access engine, which
    retries enrolment, shows a face HCP refuses then on the visit.
    """
    # Imported here: the HCP client and the shared limiter are not needed to read a photo.
    from propusk.integrations.hikcentral.face_check import FaceVerdict, check_face_with_hcp

    if check_face_with_hcp(jpeg).verdict is FaceVerdict.REFUSED:
        raise PhotoRejected(
            _(
                "The access system cannot use this photo: take another photo of the face, "
                "looking into the camera, in good light, with nothing covering it."
            ),
            code="refused_by_access_system",
        )


def check_upload_size(size: int) -> None:
    """Refuse an upload over ``PHOTO_MAX_UPLOAD_BYTES`` (callable before reading the file)."""
    limit = settings.PHOTO_MAX_UPLOAD_BYTES
    if size > limit:
        raise PhotoRejected(
            _("The photo file is too large (at most %(mb)s MB).")
            % {"mb": f"{limit / (1024 * 1024):.0f}"},
            code="too_large",
        )


def _not_an_image() -> PhotoRejected:
    return PhotoRejected(
        _("This file is not a photo we can read: use a JPEG, PNG or WEBP image."),
        code="not_an_image",
    )


def _damaged() -> PhotoRejected:
    return PhotoRejected(
        _("The photo file is damaged or incomplete: please take or upload it again."),
        code="damaged",
    )


def _too_many_pixels() -> PhotoRejected:
    return PhotoRejected(
        _("The photo has too many pixels: please use a normal camera photo."),
        code="too_many_pixels",
    )


def _over_budget(image: Image.Image, label: str, budget: int) -> PhotoRejected:
    width, height = image.size
    return PhotoRejected(
        _(
            "The photo has too many pixels (%(width)s x %(height)s): a %(format)s photo may have "
            "at most %(megapixels)s megapixels. Please use a normal camera photo."
        )
        % {
            "width": width,
            "height": height,
            "format": label,
            "megapixels": f"{budget / 1_000_000:g}",
        },
        code="too_many_pixels",
    )


def _open(stream: IO[bytes]) -> Image.Image:
    with warnings.catch_warnings():
        # Pillow warns (and later raises) on images beyond MAX_IMAGE_PIXELS: refuse both.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            stream.seek(0)
            return Image.open(stream, formats=sorted(accepted_formats()))
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise _too_many_pixels() from None
        except UnidentifiedImageError:
            raise _not_an_image() from None
        except (OSError, ValueError, SyntaxError, EOFError):
            raise _damaged() from None


def _open_checked(stream: IO[bytes]) -> Image.Image:
    """Open and check the header-level size and the file structure; nothing is decoded."""
    probe = _open(stream)
    with probe:
        width, height = probe.size
        if width <= 0 or height <= 0:
            raise _damaged()
        label = format_label(probe, stream)
        budget = pixel_budget(label)
        if width * height > budget:
            raise _over_budget(probe, label, budget)
        try:
            probe.verify()
        except Exception:  # verify() raises many kinds (SyntaxError, struct.error, OSError...)
            raise _damaged() from None
    # verify() leaves the image unusable: open again for decoding.
    return _open(stream)


def _target_size(size: tuple[int, int]) -> tuple[int, int]:
    """The size at which the long side is ``PHOTO_MAX_SIDE_PX`` (or the size, if smaller)."""
    width, height = size
    scale = min(1.0, settings.PHOTO_MAX_SIDE_PX / max(width, height))
    return max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale))


def _working_mode(image: Image.Image) -> str:
    """A mode that Image.reduce handles and that loses nothing _to_rgb needs."""
    mode = image.mode
    if mode in {"RGBA", "LA"}:
        return mode
    if mode in {"P", "PA"} or "transparency" in image.info:
        # Palette images cannot be averaged; transparent areas become white in _to_rgb.
        return "RGBA"
    if mode in {"RGB", "L", "I", "F"}:
        return mode
    if mode == "1":
        return "L"
    if mode.startswith("I;16"):
        return "I"
    return "RGB"  # CMYK, YCbCr, LAB, HSV


def _decode_reduced(image: Image.Image) -> tuple[Image.Image, int]:
    """Decode the image at or near the target size; also return its EXIF orientation.

    A JPEG is decoded at 1/2, 1/4 or 1/8 scale by libjpeg. Other formats are decoded at full
    size (within their pixel budget), then each strip is converted to a working mode and
    box-reduced by a whole factor into the result, so the only large buffer is the decoded
    image itself. The caller closes ``image`` right after, which frees it.
    """
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # someone flipped the global: we still refuse
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES must stay False")
    if image.format in _DRAFT_FORMATS:
        image.draft(image.mode, _target_size(image.size))  # the mode stays
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image.load()
            orientation = int(image.getexif().get(_ORIENTATION_TAG, 1))
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise _too_many_pixels() from None
        except Exception:  # truncated data, broken EXIF, codec errors
            raise _damaged() from None
    target_width, target_height = _target_size(image.size)
    factor = max(1, min(image.width // target_width, image.height // target_height))
    mode = _working_mode(image)
    if factor == 1 and mode == image.mode:
        return image.copy(), orientation  # already small: the copy outlives the close
    reduced = Image.new(mode, (math.ceil(image.width / factor), math.ceil(image.height / factor)))
    strip_height = factor * max(1, _STRIP_PIXELS // (image.width * factor))
    try:
        for top in range(0, image.height, strip_height):
            strip = image.crop((0, top, image.width, min(image.height, top + strip_height)))
            if strip.mode != mode:
                strip = strip.convert(mode)
            if factor > 1:
                strip = strip.reduce(factor)
            reduced.paste(strip, (0, top // factor))
    except (ValueError, OSError):  # a mode or palette Pillow cannot convert
        raise _damaged() from None
    return reduced, orientation


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in {"RGBA", "LA", "PA"} or "transparency" in image.info:
        # Transparent areas become white, not black: HCP matches faces on a light background.
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if image.mode in {"I", "I;16", "I;16B", "I;16L", "F"}:
        image = ImageOps.autocontrast(image.convert("F").convert("L"))
    return image.convert("RGB")


def _finish(image: Image.Image, orientation: int) -> Image.Image:
    """Scaled to ``PHOTO_MAX_SIDE_PX``, RGB, turned upright."""
    image.thumbnail(
        (settings.PHOTO_MAX_SIDE_PX, settings.PHOTO_MAX_SIDE_PX), Image.Resampling.LANCZOS
    )
    rgb = _to_rgb(image)
    method = _TRANSPOSE_FOR_ORIENTATION.get(orientation)
    return rgb if method is None else rgb.transpose(method)


def _pixels_only(image: Image.Image) -> Image.Image:
    """A fresh image holding only the pixels: Pillow carries ``info`` (a JPEG or PNG comment,
    XMP, an ICC profile...) through every operation, and its JPEG writer saves a comment it
    finds there."""
    clean = Image.new("RGB", image.size)
    clean.paste(image)
    return clean


def _encode_within_limit(image: Image.Image) -> bytes:
    limit = settings.PHOTO_MAX_JPEG_BYTES
    current = image
    while True:
        for quality in _QUALITY_STEPS:
            buffer = io.BytesIO()
            # No exif=, icc_profile=, xmp= or comment=; the image's info is empty.
            current.save(buffer, format="JPEG", quality=quality, optimize=True, progressive=False)
            if buffer.tell() <= limit:
                return buffer.getvalue()
        width, height = current.size
        if min(width, height) * _SHRINK_FACTOR < settings.PHOTO_MIN_SIDE_PX:
            raise PhotoRejected(
                _("This photo cannot be made small enough: please take a simpler photo."),
                code="cannot_compress",
            )
        current = current.resize(
            (round(width * _SHRINK_FACTOR), round(height * _SHRINK_FACTOR)),
            Image.Resampling.LANCZOS,
        )
