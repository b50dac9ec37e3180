"""Checking and normalising face photos before they are stored or sent to HikCentral.

Every accepted photo leaves here as a baseline RGB JPEG with no metadata (no EXIF, no GPS,
no ICC profile), turned upright, at most ``PHOTO_MAX_SIDE_PX`` on the long side and at most
``PHOTO_MAX_JPEG_BYTES`` long (HCP rejects larger faces). Anything else is refused with a
message a visitor understands.
"""

from __future__ import annotations

import io
import warnings

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

# Formats phones and cameras produce that this Pillow can read (MPO: multi-picture JPEG
# from some phones). HEIC is accepted only if a plugin is ever installed.
_WANTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "AVIF", "HEIF"})
# A 48 MP phone photo is 48 million pixels; anything far beyond is a decompression bomb.
MAX_PIXELS = 64_000_000
MAX_ASPECT_RATIO = 3.0
_QUALITY_STEPS = (90, 85, 80, 75, 70, 65, 60, 55, 50, 45, 40)
_SHRINK_FACTOR = 0.8


class PhotoRejected(ValidationError):
    """The upload is not a usable face photo; the message is for the visitor."""


def accepted_formats() -> frozenset[str]:
    Image.init()
    return _WANTED_FORMATS & frozenset(Image.OPEN)


def normalize_face_photo(data: bytes) -> bytes:
    """Check an uploaded photo and return it as a small, clean JPEG; or raise PhotoRejected."""
    check_upload_size(len(data))
    if not data:
        raise PhotoRejected(_("The photo file is empty."), code="empty")
    image = _open_checked(data)
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
    upright = _decode_upright(image)
    return _encode_within_limit(upright)


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


def _open(data: bytes) -> Image.Image:
    with warnings.catch_warnings():
        # Pillow warns (and later raises) on images beyond MAX_IMAGE_PIXELS: refuse both.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return Image.open(io.BytesIO(data), formats=sorted(accepted_formats()))
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise _too_many_pixels() from None
        except UnidentifiedImageError:
            raise _not_an_image() from None
        except (OSError, ValueError, SyntaxError, EOFError):
            raise _damaged() from None


def _open_checked(data: bytes) -> Image.Image:
    """Open, check the header-level size and the file structure; the image is not decoded."""
    probe = _open(data)
    width, height = probe.size
    if width <= 0 or height <= 0:
        raise _damaged()
    if width * height > MAX_PIXELS:
        raise _too_many_pixels()
    try:
        probe.verify()
    except Exception:  # verify() raises many kinds (SyntaxError, struct.error, OSError...)
        raise _damaged() from None
    # verify() leaves the image unusable: open again for decoding.
    return _open(data)


def _decode_upright(image: Image.Image) -> Image.Image:
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # someone flipped the global: we still refuse
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES must stay False")
    max_side = settings.PHOTO_MAX_SIDE_PX
    if image.format in {"JPEG", "MPO"}:
        # Decode a large JPEG at a reduced scale (never below the target size): fast and small.
        image.draft("RGB", (max_side, max_side))
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image.load()
            upright = ImageOps.exif_transpose(image)
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise _too_many_pixels() from None
        except Exception:  # truncated data, broken EXIF, codec errors
            raise _damaged() from None
    rgb = _to_rgb(upright)
    rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return rgb


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


def _encode_within_limit(image: Image.Image) -> bytes:
    limit = settings.PHOTO_MAX_JPEG_BYTES
    current = image
    while True:
        for quality in _QUALITY_STEPS:
            buffer = io.BytesIO()
            # No exif=, icc_profile= or comment: the output carries no metadata at all.
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
