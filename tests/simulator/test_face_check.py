"""faceCheck (`/api/acs/v1/faceCheck`): is this picture usable on that device?

No public source shows the answer's `data`: the simulator's `{checkResult: true}` is its own.
What it refuses, and the switch that makes the endpoint absent, are tested here."""

from __future__ import annotations

import base64
import io
import os
from typing import Any

from PIL import Image

from .artemis import Artemis
from .conftest import face_jpeg
from .test_persons import assert_bad_parameter

CHECK = "/api/acs/v1/faceCheck"
DEVICE = "1"  # the demo site's door 1 is on device "1"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_a_usable_picture_on_a_known_device(api: Artemis) -> None:
    answer = api.ok(CHECK, {"faceData": _b64(face_jpeg(size=120)), "acsDevIndexCode": DEVICE})
    assert answer == {"checkResult": True}


def test_pictures_it_refuses_name_the_face(api: Artemis) -> None:
    refused = [
        "AAAA",  # base64, not a JPEG
        "not base64!",
        "data:image/jpeg;base64," + _b64(face_jpeg(size=120)),  # a data: prefix
        _b64(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64),
    ]
    for face_data in refused:
        assert_bad_parameter(
            api.call(CHECK, {"faceData": face_data, "acsDevIndexCode": DEVICE}), "faceData"
        )


def test_a_picture_under_80_pixels_a_side_is_refused_as_too_small(api: Artemis) -> None:
    # Person add takes it (16 px and up); faceCheck calls it unusable.
    envelope = api.call(CHECK, {"faceData": _b64(face_jpeg(size=64)), "acsDevIndexCode": DEVICE})
    assert_bad_parameter(envelope, "faceData")
    assert "too small" in envelope["msg"]


def test_a_picture_over_the_face_size_limit_is_refused(api: Artemis) -> None:
    # Noise does not compress: well over the 200 KB limit.
    image = Image.frombytes("RGB", (600, 600), os.urandom(600 * 600 * 3))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=100)
    assert len(buffer.getvalue()) > 200 * 1024
    envelope = api.call(CHECK, {"faceData": _b64(buffer.getvalue()), "acsDevIndexCode": DEVICE})
    assert_bad_parameter(envelope, "faceData")


def test_an_unknown_or_missing_device(api: Artemis) -> None:
    face = _b64(face_jpeg(size=120))
    unknown = api.call(CHECK, {"faceData": face, "acsDevIndexCode": "999"})
    assert unknown["code"] == "128", unknown
    assert_bad_parameter(api.call(CHECK, {"faceData": face}), "acsDevIndexCode")


def test_the_absent_switch_answers_404_and_presets_keep_it(sim: Any, api: Artemis) -> None:
    body = {"faceData": _b64(face_jpeg(size=120)), "acsDevIndexCode": DEVICE}
    sim.control.set_quirks(face_check_absent=True)
    assert api.raw(CHECK, body).status_code == 404
    # What a server offers is not an answer shape: a preset does not bring it back.
    assert sim.control.set_quirks(preset="off")["faceCheckAbsent"] is True
    assert api.raw(CHECK, body).status_code == 404
    sim.control.set_quirks(face_check_absent=False)
    assert api.ok(CHECK, body) == {"checkResult": True}
