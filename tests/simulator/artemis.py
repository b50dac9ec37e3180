"""Signed OpenAPI calls for the simulator's tests, written straight from the string to sign in
docs/hcp-simulator.md ("The gateway").

Deliberately independent of both the project's client (src/hikcentral) and the simulator's
verifier, so that each checks the other. `SignedRequest` is the unit the tamper tests mutate.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import ssl
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

SIGNED_HEADER_NAMES = ("x-ca-key", "x-ca-nonce", "x-ca-timestamp")


@dataclass(frozen=True)
class SignedRequest:
    """Everything that is signed, plus the signature; `send` puts it on the wire as is."""

    method: str
    path: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def with_header(self, name: str, value: str | None) -> SignedRequest:
        headers = {k: v for k, v in self.headers.items() if k.lower() != name.lower()}
        if value is not None:
            headers[name] = value
        return replace(self, headers=headers)


def sign(
    method: str,
    path: str,
    body: bytes,
    *,
    app_key: str,
    app_secret: str,
    accept: str = "application/json",
    content_type: str = "application/json;charset=UTF-8",
    content_md5: bool = True,
    minimal: bool = False,
    timestamp_ms: int | None = None,
    nonce: str | None = None,
    sign_method: str | None = None,
) -> SignedRequest:
    """Build a signed request. `minimal` signs only METHOD, Accept, Content-Type and path
    and sends only X-Ca-Key and X-Ca-Signature. `sign_method` signs a different method than
    the one sent (to check the method is covered)."""
    headers: dict[str, str] = {"Accept": accept, "Content-Type": content_type}
    lines = [(sign_method or method).upper(), accept]
    if minimal:
        lines += [content_type, path]
        headers["X-Ca-Key"] = app_key
    else:
        if content_md5:
            md5 = base64.b64encode(hashlib.md5(body).digest()).decode()  # noqa: S324
            headers["Content-MD5"] = md5
            lines.append(md5)
        lines.append(content_type)
        values = {
            "x-ca-key": app_key,
            "x-ca-nonce": nonce or str(uuid.uuid4()),
            "x-ca-timestamp": str(
                timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
            ),
        }
        for name in SIGNED_HEADER_NAMES:
            lines.append(f"{name}:{values[name]}")
        lines.append(path)
        headers.update(
            {
                "X-Ca-Key": values["x-ca-key"],
                "X-Ca-Nonce": values["x-ca-nonce"],
                "X-Ca-Timestamp": values["x-ca-timestamp"],
                "X-Ca-Signature-Headers": ",".join(SIGNED_HEADER_NAMES),
            }
        )
    string_to_sign = "\n".join(lines)
    digest = hmac.new(app_secret.encode(), string_to_sign.encode(), hashlib.sha256).digest()
    headers["X-Ca-Signature"] = base64.b64encode(digest).decode()
    return SignedRequest(method, path, body, headers)


class Artemis:
    """Signed calls to one simulator over a keep-alive connection."""

    def __init__(
        self, base_url: str, app_key: str, app_secret: str, *, verify: ssl.SSLContext | bool = True
    ) -> None:
        self.app_key = app_key
        self.app_secret = app_secret
        self.http = httpx.Client(base_url=base_url, verify=verify, timeout=10.0)

    def close(self) -> None:
        self.http.close()

    def build(self, path: str, body: Any = None, **options: Any) -> SignedRequest:
        raw = (
            body
            if isinstance(body, bytes)
            else json.dumps(body if body is not None else {}).encode()
        )
        return sign(
            "POST",
            "/artemis" + path,
            raw,
            app_key=self.app_key,
            app_secret=self.app_secret,
            **options,
        )

    def send(self, request: SignedRequest) -> httpx.Response:
        return self.http.request(
            request.method, request.path, content=request.body, headers=request.headers
        )

    def raw(self, path: str, body: Any = None, **options: Any) -> httpx.Response:
        return self.send(self.build(path, body, **options))

    def call(self, path: str, body: Any = None, **options: Any) -> dict[str, Any]:
        """The decoded envelope of a signed call."""
        response = self.raw(path, body, **options)
        assert response.status_code == 200, response.text
        envelope: dict[str, Any] = response.json()
        return envelope

    def ok(self, path: str, body: Any = None) -> Any:
        """`data` of a call that must succeed."""
        envelope = self.call(path, body)
        assert str(envelope["code"]) == "0", envelope
        return envelope.get("data")
