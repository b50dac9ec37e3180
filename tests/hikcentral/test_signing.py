"""Signing with fixed inputs: the exact string to sign and the exact header values."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, timedelta, timezone

import httpx
import pytest

from hikcentral import HikCentralClient, HikCentralConfig
from hikcentral.signing import (
    build_headers,
    canonical_path,
    content_md5,
    sign,
    string_to_sign,
)

# Fixed, made-up test vector (not a credential of any server).
APP_KEY = "24845963"
APP_SECRET = "tDi4kZ4lHEYMNqCW7uxY"
NONCE = "0f4e3c3a-9d2b-4c55-8f0e-1b2a3c4d5e6f"
TIMESTAMP_MS = 1_700_000_000_000
PATH = "/artemis/api/resource/v1/person/personList"
BODY = b'{"pageNo":1,"pageSize":10}'

EXPECTED_MD5 = "kxdxk7rbAsrzSIWgEwhH4w=="
EXPECTED_STRING_TO_SIGN = (
    "POST\n"
    "application/json\n"
    "kxdxk7rbAsrzSIWgEwhH4w==\n"
    "application/json;charset=UTF-8\n"
    "x-ca-key:24845963\n"
    "x-ca-nonce:0f4e3c3a-9d2b-4c55-8f0e-1b2a3c4d5e6f\n"
    "x-ca-timestamp:1700000000000\n"
    "/artemis/api/resource/v1/person/personList"
)
# Frozen literal: if a refactor changes it, signing changed.
EXPECTED_SIGNATURE = "aEgYZYPN2zbu/EDLKFpe7GxBn9SWtBhijVJ12rjWb6M="


def independent_signature(secret: str, text: str) -> str:
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def test_content_md5_is_base64_of_md5_digest():
    assert (
        content_md5(BODY)
        == base64.b64encode(hashlib.md5(BODY, usedforsecurity=False).digest()).decode()
    )
    assert content_md5(BODY) == EXPECTED_MD5


def test_full_form_string_to_sign_and_headers():
    headers = build_headers(
        method="POST",
        path=PATH,
        body=BODY,
        app_key=APP_KEY,
        app_secret=APP_SECRET,
        nonce=NONCE,
        timestamp_ms=TIMESTAMP_MS,
    )
    text = string_to_sign(
        method="POST",
        path=PATH,
        accept="application/json",
        content_md5=EXPECTED_MD5,
        content_type="application/json;charset=UTF-8",
        signed_headers=[
            ("x-ca-key", APP_KEY),
            ("x-ca-nonce", NONCE),
            ("x-ca-timestamp", str(TIMESTAMP_MS)),
        ],
    )
    assert text == EXPECTED_STRING_TO_SIGN
    assert headers == {
        "Accept": "application/json",
        "Content-MD5": EXPECTED_MD5,
        "Content-Type": "application/json;charset=UTF-8",
        "X-Ca-Key": APP_KEY,
        "X-Ca-Nonce": NONCE,
        "X-Ca-Timestamp": "1700000000000",
        "X-Ca-Signature-Headers": "x-ca-key,x-ca-nonce,x-ca-timestamp",
        "X-Ca-Signature": independent_signature(APP_SECRET, EXPECTED_STRING_TO_SIGN),
    }
    assert headers["X-Ca-Signature"] == EXPECTED_SIGNATURE


def test_minimal_form_signs_method_accept_content_type_path_only():
    headers = build_headers(
        method="POST",
        path="/artemis/api/common/v1/version",
        body=b"{}",
        app_key=APP_KEY,
        app_secret=APP_SECRET,
        nonce=NONCE,
        timestamp_ms=TIMESTAMP_MS,
        accept="*/*",
        content_type="application/json",
        minimal=True,
    )
    expected_text = "POST\n*/*\napplication/json\n/artemis/api/common/v1/version"
    assert headers == {
        "Accept": "*/*",
        "Content-Type": "application/json",
        "X-Ca-Key": APP_KEY,
        "X-Ca-Signature": independent_signature(APP_SECRET, expected_text),
    }
    assert headers["X-Ca-Signature"] == "9FXJSRopwEfPu+m7Z0I8/5SpGCoQB26hAsitrWW0SLk="


def test_absent_headers_leave_no_empty_lines():
    text = string_to_sign(method="post", path="/artemis/api/x", content_type="application/json")
    assert text == "POST\napplication/json\n/artemis/api/x"


def test_date_line_when_sent():
    text = string_to_sign(
        method="POST", path="/artemis/api/x", accept="*/*", date="Tue, 14 Nov 2023 22:13:20 GMT"
    )
    assert text == "POST\n*/*\nTue, 14 Nov 2023 22:13:20 GMT\n/artemis/api/x"


def test_query_parameters_sorted_by_key():
    assert (
        canonical_path("/artemis/api/x", {"b": "2", "a": "1", "c": "", "d": " "})
        == "/artemis/api/x?a=1&b=2&c&d"
    )
    text = string_to_sign(method="GET", path="/artemis/api/x", query={"z": "9", "a": "1"})
    assert text == "GET\n/artemis/api/x?a=1&z=9"


def test_path_must_include_artemis_prefix():
    with pytest.raises(ValueError, match="/artemis"):
        string_to_sign(method="POST", path="/api/common/v1/version")


def test_sign_is_standard_base64_hmac_sha256():
    assert sign("secret", "text") == independent_signature("secret", "text")


def test_bytes_sent_equal_bytes_signed():
    """Through the real client: the body on the wire is the body the MD5 and signature cover.

    httpx.MockTransport only captures the request here; the contract suite talks to the
    simulator over real HTTP.
    """
    captured: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        captured.append(request)
        return httpx.Response(200, json={"code": "0", "msg": "Success", "data": "new-id"})

    config = HikCentralConfig(
        base_url="https://hcp.example:8443",
        app_key=APP_KEY,
        app_secret=APP_SECRET,
        utc_offset=timezone(timedelta(hours=5)),
        user_id="admin",
    )
    from datetime import datetime

    from hikcentral import PersonInput

    person = PersonInput(
        person_code="V000123",
        org_index_code="1",
        family_name="Ахметова",  # non-ASCII: the bytes must still match
        given_name="Айгерим",
        begin_time=datetime(2025, 3, 1, 9, 0, tzinfo=UTC),
        end_time=datetime(2025, 3, 1, 18, 0, tzinfo=UTC),
    )
    with HikCentralClient(
        config,
        http_transport=httpx.MockTransport(handler),
        clock_ms=lambda: TIMESTAMP_MS,
        nonce_factory=lambda: NONCE,
    ) as client:
        assert client.add_person(person) == "new-id"

    (request,) = captured
    sent = request.content
    assert request.url.path == "/artemis/api/resource/v1/person/single/add"
    assert (
        request.headers["Content-MD5"]
        == base64.b64encode(hashlib.md5(sent, usedforsecurity=False).digest()).decode()
    )
    expected_text = (
        "POST\n"
        "application/json\n"
        f"{request.headers['Content-MD5']}\n"
        "application/json;charset=UTF-8\n"
        f"x-ca-key:{APP_KEY}\n"
        f"x-ca-nonce:{NONCE}\n"
        f"x-ca-timestamp:{TIMESTAMP_MS}\n"
        "/artemis/api/resource/v1/person/single/add"
    )
    assert request.headers["X-Ca-Signature"] == independent_signature(APP_SECRET, expected_text)
    assert request.headers["Content-Type"] == "application/json;charset=UTF-8"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["userId"] == "admin"
    body = json.loads(sent)
    assert body["personFamilyName"] == "Ахметова"
    assert body["beginTime"] == "2025-03-01T14:00:00+05:00"
    assert body["endTime"] == "2025-03-01T23:00:00+05:00"
    assert "faces" not in body
