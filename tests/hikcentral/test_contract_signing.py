"""Contract: the simulator's strict verifier accepts exactly what signing.py produces.

Requests here are built by hand with httpx (to send deliberately wrong variants); the server
is the real simulator.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from hcp_simulator.testing import SimulatorHandle
from hikcentral import HCPSignatureRejected, HikCentralClient
from hikcentral.signing import build_headers, sign

from .conftest import make_config

pytestmark = pytest.mark.simulator

PATH = "/artemis/api/common/v1/version"


def post(site: SimulatorHandle, headers: dict[str, str], body: bytes, path: str = PATH) -> dict:
    response = httpx.post(site.base_url + path, content=body, headers=headers, timeout=5)
    assert response.status_code == 200
    return response.json()


def signed(site: SimulatorHandle, body: bytes, **options: Any) -> dict[str, str]:
    return build_headers(
        method="POST",
        path=options.pop("path", PATH),
        body=body,
        app_key=site.app_key,
        app_secret=site.app_secret,
        nonce=str(uuid.uuid4()),
        timestamp_ms=int(time.time() * 1000),
        **options,
    )


def test_full_form_accepted(site):
    body = b"{}"
    assert str(post(site, signed(site, body), body)["code"]) == "0"  # a number in quirks-on


def test_minimal_form_accepted(site):
    body = b"{}"
    headers = signed(site, body, minimal=True, accept="*/*", content_type="application/json")
    assert set(headers) == {"Accept", "Content-Type", "X-Ca-Key", "X-Ca-Signature"}
    assert str(post(site, headers, body)["code"]) == "0"


def test_body_other_than_signed_is_rejected(site):
    headers = signed(site, b'{"a":1}')
    assert post(site, headers, b'{"a": 1}')["code"] == "0x02401003"


def test_content_type_changed_after_signing_is_rejected(site):
    body = b"{}"
    headers = signed(site, body, content_type="application/json")
    headers["Content-Type"] = "application/json; charset=utf-8"
    assert post(site, headers, body)["code"] == "0x02401003"


def test_path_signed_without_artemis_is_rejected(site):
    body = b"{}"
    headers = signed(site, body)
    text = "\n".join(
        [
            "POST",
            headers["Accept"],
            headers["Content-MD5"],
            headers["Content-Type"],
            f"x-ca-key:{headers['X-Ca-Key']}",
            f"x-ca-nonce:{headers['X-Ca-Nonce']}",
            f"x-ca-timestamp:{headers['X-Ca-Timestamp']}",
            "/api/common/v1/version",  # the classic mistake: no /artemis
        ]
    )
    headers["X-Ca-Signature"] = sign(site.app_secret, text)
    assert post(site, headers, body)["code"] == "0x02401003"


def test_reused_nonce_is_rejected(site):
    with HikCentralClient(make_config(site), nonce_factory=lambda: "same-nonce") as client:
        client.version()
        with pytest.raises(HCPSignatureRejected) as info:
            client.version()
    assert info.value.code == "0x02401003"


def test_stale_timestamp_is_rejected(site):
    stale = int(time.time() * 1000) - 60 * 60 * 1000
    with (
        HikCentralClient(make_config(site), clock_ms=lambda: stale) as client,
        pytest.raises(HCPSignatureRejected),
    ):
        client.version()
