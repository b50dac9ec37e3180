"""Picture answers: raw image bytes, base64 text or a data: URI all become image bytes."""

from __future__ import annotations

import base64

import pytest

from hikcentral.errors import HCPProtocolError
from hikcentral.transport import _picture_bytes, _picture_from_data

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32 + b"\xff\xd9"
PATH = "/api/resource/v1/person/picture_data"


def test_raw_jpeg():
    assert _picture_bytes(JPEG, PATH) == JPEG


def test_data_uri_text():
    text = b"data:image/jpeg;base64," + base64.b64encode(JPEG)
    assert _picture_bytes(text, PATH) == JPEG


def test_plain_base64_text():
    assert _picture_bytes(base64.b64encode(JPEG) + b"\n", PATH) == JPEG


def test_base64_in_envelope_data():
    assert _picture_from_data(base64.b64encode(JPEG).decode(), PATH) == JPEG


@pytest.mark.parametrize("content", [b"", b"not base64 at all!"])
def test_garbage(content):
    with pytest.raises(HCPProtocolError, match="picture"):
        _picture_bytes(content, PATH)


@pytest.mark.parametrize("data", [None, "", "null", {"picUri": "x"}])
def test_envelope_without_picture(data):
    with pytest.raises(HCPProtocolError, match="picture"):
        _picture_from_data(data, PATH)
