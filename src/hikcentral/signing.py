"""AK/SK request signing for HCP's Artemis gateway (HMAC-SHA256).

Pure functions, no I/O. The string to sign is built from exactly the header values that are
sent, so the caller must send the headers returned by :func:`build_headers` unchanged and the
body bytes that were passed in (never re-serialise the body after signing).

String to sign (each line ends in ``\\n`` except the last; absent standard headers are left
out entirely, never written as empty lines)::

    <METHOD>
    <Accept>
    <Content-MD5>
    <Content-Type>
    <Date>
    x-ca-key:<value>
    x-ca-nonce:<value>
    x-ca-timestamp:<value>
    /artemis/api/...[?k=v&k2=v2]
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence

ARTEMIS_PREFIX = "/artemis"
DEFAULT_ACCEPT = "application/json"
DEFAULT_CONTENT_TYPE = "application/json;charset=UTF-8"

# The x-ca-* headers the client signs, in the order it lists them (sorted by name).
SIGNED_HEADER_NAMES: tuple[str, ...] = ("x-ca-key", "x-ca-nonce", "x-ca-timestamp")


def content_md5(body: bytes) -> str:
    """``base64(md5(body))``, the value of the Content-MD5 header."""
    return base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode("ascii")


def canonical_path(path: str, query: Mapping[str, str] | None = None) -> str:
    """The path line of the string to sign: the full path with ``/artemis`` and a sorted query.

    Parameters whose value is blank (empty or whitespace) are written as ``k`` alone, like the
    official SDKs do.
    """
    if not path.startswith(ARTEMIS_PREFIX + "/"):
        raise ValueError(f"path to sign must start with {ARTEMIS_PREFIX}/: {path!r}")
    if not query:
        return path
    parts = [f"{key}={value}" if value.strip() else key for key, value in sorted(query.items())]
    return f"{path}?{'&'.join(parts)}"


def string_to_sign(
    *,
    method: str,
    path: str,
    accept: str | None = None,
    content_md5: str | None = None,
    content_type: str | None = None,
    date: str | None = None,
    signed_headers: Sequence[tuple[str, str]] = (),
    query: Mapping[str, str] | None = None,
) -> str:
    """Build the exact string HCP verifies. ``None`` means the header is not sent."""
    lines = [method.upper()]
    lines.extend(value for value in (accept, content_md5, content_type, date) if value is not None)
    lines.extend(f"{name.lower()}:{value}" for name, value in signed_headers)
    lines.append(canonical_path(path, query))
    return "\n".join(lines)


def sign(app_secret: str, text: str) -> str:
    """``base64(HMAC-SHA256(key=AppSecret, msg=text))``."""
    digest = hmac.new(app_secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def build_headers(
    *,
    method: str,
    path: str,
    body: bytes,
    app_key: str,
    app_secret: str,
    nonce: str,
    timestamp_ms: int,
    accept: str = DEFAULT_ACCEPT,
    content_type: str = DEFAULT_CONTENT_TYPE,
    query: Mapping[str, str] | None = None,
    minimal: bool = False,
) -> dict[str, str]:
    """All headers that take part in the signature, ready to send.

    The full form (the default) sends Content-MD5 over ``body`` and signs
    x-ca-key, x-ca-nonce and x-ca-timestamp. The ``minimal`` form, accepted by real servers too,
    signs only ``METHOD\\nAccept\\nContent-Type\\nPATH`` and sends X-Ca-Key and X-Ca-Signature.
    ``userId`` is not signed and is added by the caller.
    """
    if minimal:
        text = string_to_sign(
            method=method, path=path, accept=accept, content_type=content_type, query=query
        )
        return {
            "Accept": accept,
            "Content-Type": content_type,
            "X-Ca-Key": app_key,
            "X-Ca-Signature": sign(app_secret, text),
        }
    md5 = content_md5(body)
    values = {
        "x-ca-key": app_key,
        "x-ca-nonce": nonce,
        "x-ca-timestamp": str(timestamp_ms),
    }
    signed = [(name, values[name]) for name in SIGNED_HEADER_NAMES]
    text = string_to_sign(
        method=method,
        path=path,
        accept=accept,
        content_md5=md5,
        content_type=content_type,
        signed_headers=signed,
        query=query,
    )
    return {
        "Accept": accept,
        "Content-MD5": md5,
        "Content-Type": content_type,
        "X-Ca-Key": app_key,
        "X-Ca-Nonce": nonce,
        "X-Ca-Timestamp": str(timestamp_ms),
        "X-Ca-Signature-Headers": ",".join(SIGNED_HEADER_NAMES),
        "X-Ca-Signature": sign(app_secret, text),
    }
