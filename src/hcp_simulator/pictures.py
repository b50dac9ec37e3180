"""JPEG pictures: checking uploaded faces and drawing event camera pictures.

Pillow is imported lazily so the simulator starts fast.
"""

from __future__ import annotations

import io
import zlib
from functools import lru_cache

JPEG_MAGIC = b"\xff\xd8\xff"
MIN_FACE_SIDE = 16


def jpeg_dimensions(data: bytes) -> tuple[int, int] | None:
    """Width and height of a decodable JPEG, or None."""
    if not data.startswith(JPEG_MAGIC):
        return None
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "JPEG":
                return None
            image.load()
            return image.size
    except (UnidentifiedImageError, OSError, ValueError):
        return None


@lru_cache(maxsize=256)
def event_picture(event_id: str, caption: tuple[str, ...], granted: bool) -> bytes:
    """A small, deterministic 'camera picture' for an event."""
    from PIL import Image, ImageDraw

    hue = zlib.crc32(event_id.encode()) & 0xFF
    background = (40, 90 + hue // 3, 40) if granted else (120 + hue // 3, 40, 40)
    image = Image.new("RGB", (320, 240), background)
    draw = ImageDraw.Draw(image)
    # A stylised head and shoulders, so the picture looks like a capture.
    draw.ellipse((120, 40, 200, 130), fill=(210, 180, 150))
    draw.rectangle((100, 135, 220, 240), fill=(60, 60, 90))
    for line_no, line in enumerate(caption):
        draw.text((8, 8 + 14 * line_no), line, fill=(255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=70)
    return buffer.getvalue()
