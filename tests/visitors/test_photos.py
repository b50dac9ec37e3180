"""Face photo checks and normalisation."""

from __future__ import annotations

import io
import os

import pytest
from PIL import Image, ImageCms, ImageFile, JpegImagePlugin, PngImagePlugin

from propusk.visitors import photos
from propusk.visitors.photos import PhotoRejected, normalize_face_photo
from tests.factories import make_jpeg
from tests.visitors.crafted_jpeg import multi_scan_jpeg

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


# --- Pixel budgets: refused from the header, before any decoding ---------------------


def _png(width: int, height: int, mode: str = "1") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height)).save(buffer, format="PNG")
    return buffer.getvalue()


def _rejection(data: bytes) -> PhotoRejected:
    with pytest.raises(PhotoRejected) as caught:
        normalize_face_photo(data)
    return caught.value


@pytest.fixture
def no_decoding(monkeypatch):
    """Any decoding fails the test: a refusal must come from the header alone."""

    def load(self):
        raise AssertionError(f"{self.format} {self.size} was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)


def test_the_reviews_8000_by_7999_png_is_refused_before_decoding(no_decoding):
    rejected = _rejection(_png(8000, 7999, mode="RGB"))
    assert rejected.code == "too_many_pixels"
    assert rejected.messages == [
        "The photo has too many pixels (8000 x 7999): a PNG photo may have at most 12 "
        "megapixels. Please use a normal camera photo."
    ]


def test_the_pixel_budget_is_a_setting(settings, no_decoding):
    settings.PHOTO_MAX_PIXELS = 400_000
    rejected = _rejection(make_jpeg(800, 600))
    assert rejected.code == "too_many_pixels"
    assert "a JPEG photo may have at most 0.4 megapixels" in rejected.messages[0]


def test_a_jpeg_at_the_budget_is_accepted(settings):
    settings.PHOTO_MAX_PIXELS = 800 * 600
    assert _open(normalize_face_photo(make_jpeg(800, 600))).size == (800, 600)


@pytest.mark.parametrize(
    ("label", "size", "data"),
    [
        ("PNG", (4000, 3001), lambda: _png(4000, 3001)),
        ("WEBP", (2000, 1501), lambda: make_jpeg(2000, 1501, format="WEBP", quality=1)),
        ("progressive JPEG", (3000, 2001), lambda: make_jpeg(3000, 2001, progressive=True)),
        ("multi-scan JPEG", (3000, 2001), lambda: multi_scan_jpeg(3000, 2001)),
    ],
)
def test_formats_decoded_whole_have_lower_budgets(label, size, data, no_decoding):
    """Within the 24 MP of PHOTO_MAX_PIXELS, but over the cap of a format that the decoder
    holds whole in memory."""
    budget = photos.FULL_DECODE_MAX_PIXELS[label]
    assert size[0] * size[1] > budget
    assert size[0] * size[1] < photos.pixel_budget("JPEG")
    rejected = _rejection(data())
    assert rejected.code == "too_many_pixels"
    expected = f"a {label} photo may have at most {budget // 1_000_000} megapixels"
    assert expected in rejected.messages[0]


def test_a_baseline_jpeg_of_the_same_size_as_a_refused_progressive_one_is_accepted():
    assert _open(normalize_face_photo(make_jpeg(3000, 2001))).size == (1024, 683)


@pytest.mark.parametrize("components", [1, 3, 4])
def test_a_multi_scan_jpeg_within_its_budget_is_accepted(components):
    """A baseline JPEG whose components come in separate scans (one scan per component);
    a greyscale one has a single scan and the budget of any baseline JPEG."""
    image = _open(normalize_face_photo(multi_scan_jpeg(3000, 2000, components)))
    assert image.size == (1024, 683)
    assert image.mode == "RGB"
    if components == 1:
        assert _open(normalize_face_photo(multi_scan_jpeg(4000, 3000, 1))).size == (1024, 768)


def test_a_large_jpeg_is_decoded_at_a_reduced_scale(monkeypatch):
    decoded_sizes = []
    original_load = JpegImagePlugin.JpegImageFile.load

    def load(self):
        decoded_sizes.append(self.size)
        return original_load(self)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", load)
    result = normalize_face_photo(make_jpeg(6000, 4000))
    # libjpeg decoded it at 1/4 scale, never below the target size.
    assert set(decoded_sizes) == {(1500, 1000)}
    assert _open(result).size == (1024, 683)


def test_a_png_decoded_whole_is_never_converted_or_copied_at_full_size(monkeypatch):
    """The only full-size buffer is the decoded image: conversions work on strips."""
    largest = {"convert": 0, "copy": 0}
    original_convert, original_copy = Image.Image.convert, Image.Image.copy

    def convert(self, *args, **kwargs):
        largest["convert"] = max(largest["convert"], self.width * self.height)
        return original_convert(self, *args, **kwargs)

    def copy(self):
        largest["copy"] = max(largest["copy"], self.width * self.height)
        return original_copy(self)

    monkeypatch.setattr(Image.Image, "convert", convert)
    monkeypatch.setattr(Image.Image, "copy", copy)
    source = make_jpeg(3000, 2000, format="PNG", mode="RGBA")  # alpha: converted for white
    result = _open(normalize_face_photo(source))
    assert result.size == (1024, 683)
    # Strips of at most a megapixel, the image reduced 2:1 (1500 x 1000); never the 6 MP one.
    assert largest["convert"] <= 1500 * 1000
    assert largest["copy"] <= 1500 * 1000


def test_a_file_object_is_read_like_bytes(tmp_path):
    path = tmp_path / "face.jpg"
    path.write_bytes(make_jpeg(800, 600))
    with path.open("rb") as upload:
        assert _open(normalize_face_photo(upload)).size == (800, 600)


# --- The output carries pixels only -----------------------------------------------------

MARK = "PROPUSK-METADATA-MARK"
# What a plain baseline JFIF is made of: no APP1..APP15 (EXIF, XMP, ICC, Adobe...), no COM.
PLAIN_JFIF_MARKERS = {"SOI", "APP0", "DQT", "SOF0", "DHT", "SOS", "EOI"}
_MARKER_NAMES = {0xD8: "SOI", 0xD9: "EOI", 0xDA: "SOS", 0xDB: "DQT", 0xC4: "DHT", 0xFE: "COM"}
_MARKER_NAMES.update({0xC0 + n: f"SOF{n}" for n in (0, 1, 2, 3, 5, 6, 7, 9, 10, 11, 13, 14, 15)})
_MARKER_NAMES.update({0xE0 + n: f"APP{n}" for n in range(16)})
_MARKER_NAMES.update({0xD0 + n: f"RST{n}" for n in range(8)})


def jpeg_segments(data: bytes) -> list[tuple[str, bytes]]:
    """Walk a JPEG's markers: [(name, payload)], SOI first, EOI last.

    After SOS comes entropy-coded data, where 0xFF is followed only by 0x00 (a stuffed byte)
    or a restart marker, until the next marker (another scan's tables, or EOI).
    """
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    segments: list[tuple[str, bytes]] = [("SOI", b"")]
    i = 2
    while True:
        assert data[i] == 0xFF, f"no marker at {i}"
        while data[i] == 0xFF:  # fill bytes
            i += 1
        code = data[i]
        name = _MARKER_NAMES.get(code, f"0x{code:02X}")
        i += 1
        if code == 0xD9:
            segments.append((name, b""))
            assert i == len(data), "bytes after EOI"
            return segments
        length = int.from_bytes(data[i : i + 2], "big")
        segments.append((name, data[i + 2 : i + length]))
        i += length
        if code == 0xDA:  # skip the scan's entropy-coded data
            while not (data[i] == 0xFF and data[i + 1] not in (0x00, *range(0xD0, 0xD8))):
                i += 1


def assert_pixels_only(output: bytes) -> None:
    segments = jpeg_segments(output)
    names = [name for name, _ in segments]
    assert set(names) <= PLAIN_JFIF_MARKERS, names
    app0 = [payload for name, payload in segments if name == "APP0"]
    assert len(app0) == 1
    assert app0[0].startswith(b"JFIF\0")
    assert MARK.encode() not in output


def _srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _exif_with_mark() -> bytes:
    exif = Image.Exif()
    exif[0x010E] = MARK  # ImageDescription
    exif[0x0131] = MARK  # Software
    exif[ORIENTATION] = 1
    return exif.tobytes()


def _xmp_with_mark() -> bytes:
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
        f'22-rdf-syntax-ns#"><rdf:Description>{MARK}</rdf:Description></rdf:RDF></x:xmpmeta>'
    ).encode()


def _jpeg_with_everything() -> bytes:
    image = Image.new("RGB", (640, 480), (200, 160, 140))
    buffer = io.BytesIO()
    image.save(
        buffer,
        format="JPEG",
        comment=MARK,
        exif=_exif_with_mark(),
        xmp=_xmp_with_mark(),
        icc_profile=_srgb_profile(),
        dpi=(300, 300),
    )
    return buffer.getvalue()


def _png_with_text_chunks() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("comment", MARK)  # tEXt; Pillow's JPEG writer used to turn it into a COM
    info.add_text("Description", MARK, zip=True)  # zTXt
    info.add_itxt("Author", MARK, lang="ru", tkey="Автор")  # iTXt
    info.add_text("XML:com.adobe.xmp", _xmp_with_mark().decode())
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 160, 140)).save(
        buffer, format="PNG", pnginfo=info, icc_profile=_srgb_profile(), exif=_exif_with_mark()
    )
    return buffer.getvalue()


def _webp_with_everything() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 160, 140)).save(
        buffer,
        format="WEBP",
        exif=_exif_with_mark(),
        xmp=_xmp_with_mark(),
        icc_profile=_srgb_profile(),
    )
    return buffer.getvalue()


@pytest.mark.parametrize(
    "make", [_jpeg_with_everything, _png_with_text_chunks, _webp_with_everything]
)
def test_the_output_carries_pixels_only(make):
    source = make()
    assert MARK.encode() in source
    output = normalize_face_photo(source)
    assert_pixels_only(output)
    image = _open(output)
    assert image.size == (640, 480)
    assert set(image.info) <= {"jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi"}


def test_the_jpeg_walker_sees_what_the_input_carries():
    names = [name for name, _ in jpeg_segments(_jpeg_with_everything())]
    assert {"COM", "APP1", "APP2"} <= set(names)  # EXIF and XMP in APP1, ICC in APP2
    with pytest.raises(AssertionError):
        assert_pixels_only(_jpeg_with_everything())


# --- A refused photo leaves nothing decoded behind ----------------------------------------


def test_a_photo_refused_after_decoding_keeps_no_frame_that_holds_the_image(settings):
    """The refusal is raised without the traceback of the work behind it: those frames hold
    the decoded image and the face check's arrays, which must be freed before the memory is
    given back (bench/photo_memory.py measures it: a web process kept 215-277 MB after a
    refused 12 MP PNG, 154 MB now)."""
    settings.FACE_CHECK = True
    with pytest.raises(PhotoRejected) as caught:
        normalize_face_photo(make_jpeg(2000, 1500))  # a plain colour: no face
    refusal = caught.value
    assert refusal.code == "no_face"
    assert refusal.__context__ is None
    assert refusal.__cause__ is None
    frames = []
    traceback = refusal.__traceback__
    while traceback is not None:
        frames.append(traceback.tb_frame.f_code.co_name)
        traceback = traceback.tb_next
    assert frames[-1] == "normalize_face_photo"  # raised there, nothing deeper kept
    assert not {"_normalize", "_decode_reduced", "checked_portrait", "check_face"} & set(frames)
