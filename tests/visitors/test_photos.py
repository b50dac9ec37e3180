"""Face photo checks and normalisation."""

from __future__ import annotations

import io
import os

import pytest
from PIL import Image

from propusk.visitors import photos
from propusk.visitors.photos import PhotoRejected, normalize_face_photo
from tests.factories import make_jpeg

ORIENTATION = 0x0112
GPS_IFD = 0x8825


def _open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _rejected_code(data: bytes) -> str:
    with pytest.raises(PhotoRejected) as caught:
        normalize_face_photo(data)
    assert caught.value.messages[0]  # a message for the visitor
    return str(caught.value.code)


def test_plain_jpeg_is_accepted_as_baseline_jpeg():
    result = normalize_face_photo(make_jpeg(800, 600))
    image = _open(result)
    assert image.format == "JPEG"
    assert image.mode == "RGB"
    assert image.size == (800, 600)
    assert not image.info.get("progressive")
    assert not image.info.get("progression")


@pytest.mark.parametrize("data", [b"hello, I am not a photo", b"%PDF-1.4\n" + b"0" * 300])
def test_not_an_image(data):
    assert _rejected_code(data) == "not_an_image"


def test_unsupported_format_is_not_an_image():
    assert _rejected_code(make_jpeg(400, 400, format="GIF")) == "not_an_image"


def test_empty_file():
    assert _rejected_code(b"") == "empty"


def test_truncated_jpeg():
    noisy = Image.frombytes("RGB", (400, 400), os.urandom(400 * 400 * 3))
    buffer = io.BytesIO()
    noisy.save(buffer, format="JPEG", quality=90)
    data = buffer.getvalue()
    assert _rejected_code(data[: len(data) // 2]) == "damaged"


def test_truncated_png():
    noisy = Image.frombytes("RGB", (400, 400), os.urandom(400 * 400 * 3))
    buffer = io.BytesIO()
    noisy.save(buffer, format="PNG")
    data = buffer.getvalue()
    assert _rejected_code(data[: len(data) // 2]) == "damaged"


def test_too_small_on_the_short_side(settings):
    settings.PHOTO_MIN_SIDE_PX = 240
    assert _rejected_code(make_jpeg(800, 200)) == "too_small"
    normalize_face_photo(make_jpeg(320, 240))  # exactly the minimum is fine


def test_upload_too_large_is_refused_before_decoding(settings):
    data = make_jpeg()
    settings.PHOTO_MAX_UPLOAD_BYTES = len(data) - 1
    assert _rejected_code(data) == "too_large"


def test_absurd_aspect_ratio():
    assert _rejected_code(make_jpeg(1600, 400)) == "aspect_ratio"


def test_too_many_pixels_is_refused_without_decoding():
    # 72 million one-bit pixels: a small file that would be a huge RGB image.
    buffer = io.BytesIO()
    Image.new("1", (9000, 8000), 1).save(buffer, format="PNG")
    assert _rejected_code(buffer.getvalue()) == "too_many_pixels"


def test_pillow_decompression_bomb_guard_is_a_clear_rejection(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    assert _rejected_code(make_jpeg(400, 400)) == "too_many_pixels"


def test_png_with_alpha_becomes_rgb_on_white():
    data = make_jpeg(400, 400, color=(0, 0, 0), format="PNG", mode="RGBA")
    clear = Image.new("RGBA", (400, 400), (0, 0, 0, 0))
    buffer = io.BytesIO()
    clear.save(buffer, format="PNG")
    for source in (data, buffer.getvalue()):
        image = _open(normalize_face_photo(source))
        assert image.format == "JPEG"
        assert image.mode == "RGB"
    # Fully transparent pixels are white, not black.
    assert min(_open(normalize_face_photo(buffer.getvalue())).getpixel((200, 200))) > 240


def test_palette_and_greyscale_images_are_converted():
    for mode in ("P", "L", "LA"):
        image = _open(normalize_face_photo(make_jpeg(300, 300, format="PNG", mode=mode)))
        assert image.mode == "RGB"


def test_webp_is_accepted():
    image = _open(normalize_face_photo(make_jpeg(500, 500, format="WEBP")))
    assert image.format == "JPEG"


def _with_exif(width: int, height: int, **tags: object) -> bytes:
    image = Image.new("RGB", (width, height), (200, 160, 140))
    # Mark the top-left corner so the rotation can be checked, not only the size.
    image.paste((255, 0, 0), (0, 0, width // 4, height // 4))
    exif = Image.Exif()
    if "orientation" in tags:
        exif[ORIENTATION] = tags["orientation"]
    if tags.get("gps"):
        gps = exif.get_ifd(GPS_IFD)
        gps[1] = "N"
        gps[2] = (43.0, 14.0, 50.0)
        gps[3] = "E"
        gps[4] = (76.0, 53.0, 40.0)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes(), quality=95)
    return buffer.getvalue()


def test_exif_orientation_is_applied():
    # Orientation 6: the camera held rotated; the picture must be turned 90 degrees clockwise.
    result = _open(normalize_face_photo(_with_exif(640, 480, orientation=6)))
    assert result.size == (480, 640)
    red_corner = result.getpixel((result.width - 10, 10))  # top-left moved to top-right
    assert red_corner[0] > 200
    assert red_corner[1] < 80
    assert ORIENTATION not in result.getexif()


def test_gps_and_all_metadata_are_stripped():
    source = _with_exif(640, 480, orientation=1, gps=True)
    assert _open(source).getexif().get_ifd(GPS_IFD)  # the test photo really has GPS
    result = normalize_face_photo(source)
    image = _open(result)
    assert not image.getexif()
    assert "exif" not in image.info
    assert "icc_profile" not in image.info
    assert b"Exif" not in result
    assert b"GPS" not in result


def test_large_photo_is_downscaled(settings):
    settings.PHOTO_MAX_SIDE_PX = 1024
    image = _open(normalize_face_photo(make_jpeg(3000, 2000)))
    assert max(image.size) == 1024
    assert image.size == (1024, 683)


def test_noisy_photo_is_compressed_under_the_limit(settings):
    settings.PHOTO_MAX_JPEG_BYTES = 60 * 1024
    noisy = Image.frombytes("RGB", (1200, 1200), os.urandom(1200 * 1200 * 3))
    buffer = io.BytesIO()
    noisy.save(buffer, format="PNG")
    result = normalize_face_photo(buffer.getvalue())
    assert len(result) <= 60 * 1024
    assert _open(result).format == "JPEG"
    assert min(_open(result).size) >= settings.PHOTO_MIN_SIDE_PX


def test_impossible_limit_is_a_clear_rejection(settings):
    settings.PHOTO_MAX_JPEG_BYTES = 500
    noisy = Image.frombytes("RGB", (400, 400), os.urandom(400 * 400 * 3))
    buffer = io.BytesIO()
    noisy.save(buffer, format="PNG")
    assert _rejected_code(buffer.getvalue()) == "cannot_compress"


def test_accepted_formats_are_what_pillow_reads_here():
    formats = photos.accepted_formats()
    assert {"JPEG", "PNG", "WEBP"} <= formats
    assert "GIF" not in formats


def test_photo_rejected_is_a_validation_error():
    from django.core.exceptions import ValidationError

    assert issubclass(PhotoRejected, ValidationError)
