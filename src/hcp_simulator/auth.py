"""The Artemis gateway's AK/SK check, rebuilt from what the request actually carries.

This is an independent implementation of the signing in docs/hcp-simulator.md, "The gateway"
(it must never import the project's client): the string to sign is assembled from the
headers the request sent, so both the full form (X-Ca-Signature-Headers listing x-ca-*
headers) and the minimal form (only X-Ca-Key and X-Ca-Signature) verify, and any changed
signed byte fails.

    METHOD\n
    Accept\n            only if sent
    Content-MD5\n       only if sent
    Content-Type\n      only if sent
    Date\n              only if sent
    name:value\n        per header listed in X-Ca-Signature-Headers, name as listed, in order
    path[?k=v&...]      the raw path including /artemis, query sorted by key; a parameter
                        with a blank value is written as `k` alone (the official SDKs'
                        buildResource)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from hcp_simulator.envelope import (
    INVALID_SIGNATURE,
    NO_APP_KEY,
    NO_SIGNATURE,
    UNKNOWN_PARTNER,
)

_STANDARD_HEADERS = ("accept", "content-md5", "content-type", "date")


@dataclass(frozen=True)
class Rejection:
    """Why the gateway refused a request; `reason` is for logs, never secret."""

    code: str
    msg: str
    reason: str


def string_to_sign(
    method: str, headers: Mapping[str, str], raw_path: str, query_string: str
) -> str | None:
    """Rebuild the string to sign; None if a header listed as signed was not sent.

    `headers` must be keyed by lower-case names."""
    lines = [method.upper()]
    lines.extend(headers[name] for name in _STANDARD_HEADERS if name in headers)
    listed = headers.get("x-ca-signature-headers")
    if listed:
        for name in listed.split(","):
            # The name goes into the line exactly as listed (clients list lower-case names);
            # the header itself is looked up case-insensitively.
            key = name.strip()
            value = headers.get(key.lower())
            if value is None:
                return None
            lines.append(f"{key}:{value}")
    target = raw_path
    if query_string:
        pairs = sorted(parse_qsl(query_string, keep_blank_values=True), key=lambda kv: kv[0])
        target += "?" + "&".join(f"{key}={value}" if value.strip() else key for key, value in pairs)
    lines.append(target)
    return "\n".join(lines)


class NonceCache:
    """Nonces seen within the timestamp window (real time); a reuse is a replay."""

    def __init__(self, window_seconds: float) -> None:
        self.window = window_seconds
        self._seen: OrderedDict[str, float] = OrderedDict()

    def check_and_add(self, nonce: str, now: float) -> bool:
        """True if the nonce is fresh (and remember it), False if it was used already."""
        while self._seen:
            oldest, expires = next(iter(self._seen.items()))
            if expires > now:
                break
            del self._seen[oldest]
        if nonce in self._seen:
            return False
        self._seen[nonce] = now + self.window
        return True


class SignatureVerifier:
    def __init__(self, partners: Mapping[str, str], window_seconds: float) -> None:
        self._partners = dict(partners)
        self.window = window_seconds
        self.nonces = NonceCache(window_seconds)

    def verify(
        self,
        method: str,
        headers: Mapping[str, str],
        raw_path: str,
        query_string: str,
        body: bytes,
    ) -> Rejection | None:
        """None when the request is authentic; otherwise the gateway's answer."""
        app_key = headers.get("x-ca-key")
        if not app_key:
            return Rejection(NO_APP_KEY, "AppKey is missing.", "no X-Ca-Key")
        secret = self._partners.get(app_key)
        if secret is None:
            return Rejection(UNKNOWN_PARTNER, "The partner does not exist.", "unknown AppKey")
        signature = headers.get("x-ca-signature")
        if not signature:
            return Rejection(NO_SIGNATURE, "Signature is missing.", "no X-Ca-Signature")
        content_md5 = headers.get("content-md5")
        if content_md5 is not None:
            expected_md5 = base64.b64encode(hashlib.md5(body).digest()).decode()  # noqa: S324
            if not hmac.compare_digest(expected_md5.encode(), content_md5.encode()):
                return _invalid("Content-MD5 does not match the body")
        text = string_to_sign(method, headers, raw_path, query_string)
        if text is None:
            return _invalid("a header listed in X-Ca-Signature-Headers was not sent")
        digest = hmac.new(secret.encode(), _to_bytes(text), hashlib.sha256).digest()
        expected = base64.b64encode(digest).decode()
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            return _invalid("signature mismatch")
        now = time.time()
        timestamp = headers.get("x-ca-timestamp")
        if timestamp is not None:
            if not timestamp.isdigit():
                return _invalid("X-Ca-Timestamp is not epoch milliseconds", "Timestamp expired.")
            if abs(now - int(timestamp) / 1000) > self.window:
                return _invalid("X-Ca-Timestamp outside the window", "Timestamp expired.")
        nonce = headers.get("x-ca-nonce")
        if nonce is not None and not self.nonces.check_and_add(nonce, now):
            return _invalid("X-Ca-Nonce already used", "Nonce has been used.")
        return None


def _invalid(reason: str, msg: str = "Invalid signature.") -> Rejection:
    return Rejection(INVALID_SIGNATURE, msg, reason)


def _to_bytes(text: str) -> bytes:
    # Header values and the raw path reach us decoded as latin-1 (bytes as sent); a query
    # may hold percent-decoded non-latin text, which clients sign as UTF-8.
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode()
