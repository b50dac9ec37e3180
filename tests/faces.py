"""Real and not-quite face photos for the face check (visitors.faces).

The portrait is scikit-image's public-domain sample ``astronaut`` (Eileen Collins, a NASA
photo), which the package ships: a real face, no person's data from this project.
"""

from __future__ import annotations

import functools
import io

from PIL import Image, ImageDraw, ImageFilter


@functools.cache
def astronaut() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut())


def _jpeg(image: Image.Image, quality: int = 92) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def portrait_jpeg() -> bytes:
    """A real portrait, 512 x 512, one sharp frontal face about 95 px wide."""
    return _jpeg(astronaut())


def large_portrait_jpeg() -> bytes:
    """The portrait at 1024 x 1024: its face is well over the minimum size."""
    return _jpeg(astronaut().resize((1024, 1024), Image.Resampling.LANCZOS))


def two_faces_jpeg() -> bytes:
    """Two people side by side."""
    face = astronaut()
    both = Image.new("RGB", (face.width * 2, face.height))
    both.paste(face, (0, 0))
    both.paste(face.transpose(Image.Transpose.FLIP_LEFT_RIGHT), (face.width, 0))
    return _jpeg(both)


def blurred_face_jpeg() -> bytes:
    """The portrait out of focus."""
    return _jpeg(astronaut().resize((1024, 1024)).filter(ImageFilter.GaussianBlur(4)))


def tiny_face_jpeg() -> bytes:
    """The portrait at 300 x 300: a face about 57 px wide, too small to be matched."""
    return _jpeg(astronaut().resize((300, 300), Image.Resampling.LANCZOS))


def landscape_jpeg() -> bytes:
    """Sky, hills, a lake and a tree: a picture with no face."""
    image = Image.new("RGB", (800, 600), (120, 170, 230))
    draw = ImageDraw.Draw(image)
    draw.ellipse((560, 60, 660, 160), fill=(250, 230, 120))  # the sun
    draw.polygon(
        [(0, 380), (180, 240), (380, 360), (560, 220), (800, 350), (800, 600), (0, 600)],
        fill=(70, 120, 60),
    )
    draw.rectangle((0, 470, 800, 600), fill=(60, 110, 170))  # the lake
    draw.rectangle((120, 300, 140, 420), fill=(90, 60, 30))
    draw.ellipse((80, 220, 180, 320), fill=(40, 100, 40))
    return _jpeg(image.filter(ImageFilter.GaussianBlur(1)))


def blue_square_jpeg() -> bytes:
    """The plain blue square that was once registered as a face."""
    return _jpeg(Image.new("RGB", (640, 640), (40, 80, 200)))
