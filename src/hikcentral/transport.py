"""One signed POST to HCP and the mapping of everything that can go wrong to typed errors.

The body is serialised to bytes once; Content-MD5 and the signature are computed over those
bytes and those bytes are sent (``content=``), so what is signed is what is sent.

Retries: none for writes, ever (a write whose answer was lost may have been applied; the caller
must look the state up). A read (``idempotent=True``) is sent once more, immediately, when the
connection broke without a response (a keep-alive connection closed by HCP between calls);
timeouts, HTTP errors and business codes are never retried here. Backoff and bounded retries
belong to the caller's job layer.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from hikcentral import signing
from hikcentral.calls import CallObserver, outcome_of, refusal_outcome
from hikcentral.config import HikCentralConfig
from hikcentral.envelope import check_envelope, parse_envelope
from hikcentral.errors import (
    HCPNetworkError,
    HCPNotFound,
    HCPPermissionDenied,
    HCPProtocolError,
    HCPRateLimited,
    HCPServerError,
    HCPSignatureRejected,
    HCPTimeout,
    HCPTLSError,
    HCPUnsupported,
    HikCentralError,
    TransientError,
    error_for_code,
)
from hikcentral.limits import CircuitBreaker, NoCircuitBreaker, NoRateLimit, RateLimiter

logger = logging.getLogger("hikcentral")

# Sees each successful answer: the API path and the envelope's ``data`` (bytes for a picture).
ResponseObserver = Callable[[str, object], None]

MAX_CONNECTIONS = 10
MAX_KEEPALIVE_CONNECTIONS = 5
KEEPALIVE_EXPIRY = 30.0  # seconds; below the usual server-side idle timeouts
# A call observer that raises is reported at most this often (seconds), not on every call.
OBSERVER_WARNING_INTERVAL = 60.0


class _Pacer:
    """True at most once every ``interval`` seconds (per process)."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._last: float | None = None
        self._lock = threading.Lock()

    def due(self) -> bool:
        now = time.monotonic()
        with self._lock:
            if self._last is not None and now - self._last < self._interval:
                return False
            self._last = now
            return True


_observer_warnings = _Pacer(OBSERVER_WARNING_INTERVAL)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_nonce() -> str:
    return str(uuid.uuid4())


class Transport:
    """Signs, sends and checks requests; owns the keep-alive connection pool."""

    def __init__(
        self,
        config: HikCentralConfig,
        *,
        rate_limiter: RateLimiter | None = None,
        circuit_breaker: CircuitBreaker | None = None,
        response_observer: ResponseObserver | None = None,
        call_observer: CallObserver | None = None,
        http_transport: httpx.BaseTransport | None = None,
        clock_ms: Callable[[], int] = now_ms,
        nonce_factory: Callable[[], str] = new_nonce,
    ) -> None:
        self._config = config
        self._observer = response_observer
        self._call_observer = call_observer
        self._limiter: RateLimiter = rate_limiter or NoRateLimit()
        self._breaker: CircuitBreaker = circuit_breaker or NoCircuitBreaker()
        self._clock_ms = clock_ms
        self._nonce_factory = nonce_factory
        self._http = httpx.Client(
            timeout=httpx.Timeout(
                connect=config.connect_timeout,
                read=config.read_timeout,
                write=config.read_timeout,
                pool=config.connect_timeout,
            ),
            limits=httpx.Limits(
                max_connections=MAX_CONNECTIONS,
                max_keepalive_connections=MAX_KEEPALIVE_CONNECTIONS,
                keepalive_expiry=KEEPALIVE_EXPIRY,
            ),
            verify=_ssl_verify(config.verify),
            # No proxies picked up from the environment: what is configured is what is used.
            trust_env=False,
            follow_redirects=False,
            headers={"User-Agent": config.user_agent},
            transport=http_transport,
        )

    def close(self) -> None:
        self._http.close()

    # --- public --------------------------------------------------------------------------

    def post_json(
        self,
        path: str,
        body: Mapping[str, Any],
        *,
        priority: str,
        idempotent: bool,
        log_context: Mapping[str, object] | None = None,
    ) -> Any:
        """POST and return the envelope's ``data`` (raise the typed error otherwise)."""
        return self._call(
            path, body, priority=priority, idempotent=idempotent, binary=False, ctx=log_context
        )

    def post_binary(
        self,
        path: str,
        body: Mapping[str, Any],
        *,
        priority: str,
        log_context: Mapping[str, object] | None = None,
    ) -> bytes:
        """POST a picture download: raw bytes on success, a JSON envelope on error."""
        result = self._call(
            path, body, priority=priority, idempotent=True, binary=True, ctx=log_context
        )
        if not isinstance(result, bytes):  # pragma: no cover - _call guarantees it
            raise HCPProtocolError("picture download did not return bytes", path=path)
        return result

    # --- internals -----------------------------------------------------------------------

    def _call(
        self,
        path: str,
        body: Mapping[str, Any],
        *,
        priority: str,
        idempotent: bool,
        binary: bool,
        ctx: Mapping[str, object] | None,
    ) -> Any:
        if not path.startswith("/api/"):
            raise ValueError(f"HCP API paths start with /api/: {path!r}")
        body_bytes = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        attempts = 2 if idempotent else 1
        for attempt in range(1, attempts + 1):
            try:
                result = self._attempt(path, body_bytes, priority=priority, binary=binary, ctx=ctx)
            except _DroppedConnection as dropped:
                if attempt < attempts:
                    logger.info("hcp POST %s: connection dropped, resending the read once", path)
                    continue
                raise dropped.error from dropped.__cause__
            if self._observer is not None:
                self._observer(path, result)
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(
        self,
        path: str,
        body_bytes: bytes,
        *,
        priority: str,
        binary: bool,
        ctx: Mapping[str, object] | None,
    ) -> Any:
        try:
            self._breaker.before_call()
            self._limiter.acquire(priority=priority)
        except Exception as exc:
            self._observe(path, refusal_outcome(exc), None)
            raise
        started = time.monotonic()
        try:
            result, status, code = self._send(path, body_bytes, binary=binary)
        except _DroppedConnection as dropped:
            seconds = time.monotonic() - started
            self._breaker.record_failure(dropped.error)
            self._observe(path, outcome_of(dropped.error), seconds)
            _log_failure(path, dropped.error, started, ctx)
            raise
        except TransientError as exc:
            seconds = time.monotonic() - started
            self._breaker.record_failure(exc)
            self._observe(path, outcome_of(exc), seconds)
            _log_failure(path, exc, started, ctx)
            raise
        except HikCentralError as exc:
            seconds = time.monotonic() - started
            self._breaker.record_success()  # HCP answered; the request itself was wrong
            self._observe(path, outcome_of(exc), seconds)
            _log_failure(path, exc, started, ctx)
            raise
        seconds = time.monotonic() - started
        self._breaker.record_success()
        self._observe(path, "ok", seconds)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "hcp POST %s http=%s code=%s ms=%.0f%s",
                path,
                status,
                code,
                seconds * 1000,
                _format_ctx(ctx),
                extra={"hcp_path": path, "hcp_code": code, "hcp_http_status": status},
            )
        return result

    def _observe(self, path: str, outcome: str, seconds: float | None) -> None:
        """Tell the call observer; its failure never reaches the call (a warning a minute)."""
        if self._call_observer is None:
            return
        try:
            self._call_observer(path, outcome, seconds)
        except Exception:
            if _observer_warnings.due():
                logger.warning(
                    "hcp call observer failed (reported at most every %g s)",
                    OBSERVER_WARNING_INTERVAL,
                    exc_info=True,
                )

    def _send(self, path: str, body_bytes: bytes, *, binary: bool) -> tuple[Any, int, str]:
        full_path = signing.ARTEMIS_PREFIX + path
        headers = signing.build_headers(
            method="POST",
            path=full_path,
            body=body_bytes,
            app_key=self._config.app_key,
            app_secret=self._config.app_secret,
            nonce=self._nonce_factory(),
            timestamp_ms=self._clock_ms(),
        )
        if self._config.user_id:
            headers["userId"] = self._config.user_id
        request = self._http.build_request(
            "POST", self._config.base_url + full_path, content=body_bytes, headers=headers
        )
        try:
            response = self._http.send(request)
        except (httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise HCPTimeout(f"connect timeout: {exc}", path=path) from exc
        except httpx.TimeoutException as exc:  # read/write timeout: HCP may have the request
            raise HCPTimeout(
                f"{type(exc).__name__}: no answer in time", path=path, may_have_applied=True
            ) from exc
        except httpx.ConnectError as exc:
            if _is_certificate_error(exc):
                raise HCPTLSError(f"TLS certificate verification failed: {exc}", path=path) from exc
            raise HCPNetworkError(f"cannot connect: {exc}", path=path) from exc
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            error = HCPNetworkError(
                f"connection dropped: {type(exc).__name__}: {exc}", path=path, may_have_applied=True
            )
            raise _DroppedConnection(error) from exc
        except httpx.TransportError as exc:
            raise HCPNetworkError(f"{type(exc).__name__}: {exc}", path=path) from exc
        return self._check_response(path, response, binary=binary)

    def _check_response(
        self, path: str, response: httpx.Response, *, binary: bool
    ) -> tuple[Any, int, str]:
        status = response.status_code
        content = response.content
        looks_json = _looks_like_json(response)
        if status == 429:
            raise HCPRateLimited(
                "HTTP 429 Too Many Requests",
                path=path,
                http_status=status,
                retry_after=_retry_after(response.headers.get("Retry-After")),
            )
        if status >= 500:
            code = _envelope_code(content) if looks_json else None
            raise HCPServerError(
                f"HTTP {status}",
                path=path,
                http_status=status,
                code=code,
                may_have_applied=True,
            )
        if not 200 <= status < 300:
            if looks_json and (error := _envelope_error(content, path, status)) is not None:
                raise error
            if status == 401:
                raise HCPSignatureRejected("HTTP 401 Unauthorized", path=path, http_status=status)
            if status == 403:
                raise HCPPermissionDenied("HTTP 403 Forbidden", path=path, http_status=status)
            if status == 404:
                raise HCPUnsupported("HTTP 404: no such API", path=path, http_status=status)
            raise HCPProtocolError(f"unexpected HTTP {status}", path=path, http_status=status)
        if binary and not looks_json:
            return _picture_bytes(content, path), status, "binary"
        data = parse_envelope(content, path=path, http_status=status)
        if binary:
            return _picture_from_data(data, path), status, "0"
        return data, status, "0"


class _DroppedConnection(Exception):
    """Internal: the connection broke without a response; carries the public error."""

    def __init__(self, error: HCPNetworkError) -> None:
        super().__init__(str(error))
        self.error = error


def _ssl_verify(verify: bool | str) -> ssl.SSLContext | bool:
    if verify is False:
        return False
    if verify is True:
        # The operating system's CA store (OpenSSL's default paths), where a site installs its
        # own CA. httpx's own default would be certifi's copy of the public CAs only.
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=verify)


def _is_certificate_error(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)


def _looks_like_json(response: httpx.Response) -> bool:
    content_type = response.headers.get("content-type", "").lower()
    if "json" in content_type:
        return True
    if content_type.startswith(("image/", "application/octet-stream")):
        return False
    return response.content.lstrip()[:1] == b"{"


def _envelope_code(content: bytes) -> str | None:
    try:
        payload = json.loads(content)
    except ValueError:
        return None
    if isinstance(payload, Mapping) and "code" in payload:
        return str(payload["code"])
    return None


def _envelope_error(content: bytes, path: str, status: int) -> HikCentralError | None:
    """The typed error for an envelope carried by a non-2xx response, if there is one."""
    try:
        payload = json.loads(content)
    except ValueError:
        return None
    if not isinstance(payload, Mapping) or "code" not in payload:
        return None
    try:
        check_envelope(payload, path=path, http_status=status)
    except HikCentralError as exc:
        return exc
    return error_for_code(
        str(payload["code"]), f"HTTP {status} with a success code", path=path, http_status=status
    )


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: rare from HCP, ignored
    return seconds if seconds >= 0 else None


def _picture_bytes(content: bytes, path: str) -> bytes:
    """A binary picture answer: raw image bytes, or a (data-URI) base64 text of one."""
    if not content:
        raise HCPProtocolError("empty picture response", path=path)
    if _is_image(content):
        return content
    # Some HCP versions answer the picture as base64 text, possibly as a data: URI.
    try:
        text = content.decode("ascii").strip()
    except UnicodeDecodeError:
        return content  # binary but not a known image format: return it as it is
    return _decode_base64_picture(text, path)


def _picture_from_data(data: object, path: str) -> bytes:
    if not isinstance(data, str) or not data.strip() or data == "null":
        raise HCPProtocolError("picture response without picture data", path=path)
    return _decode_base64_picture(data.strip(), path)


def _decode_base64_picture(text: str, path: str) -> bytes:
    if text.startswith("data:"):
        _, _, text = text.partition(",")
    try:
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise HCPProtocolError(
            "picture response is neither an image nor base64", path=path
        ) from exc
    if not decoded:
        raise HCPProtocolError("empty picture response", path=path)
    return decoded


def _is_image(content: bytes) -> bool:
    return content.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF8", b"BM")) or (
        content[:4] == b"RIFF" and content[8:12] == b"WEBP"
    )


def _format_ctx(ctx: Mapping[str, object] | None) -> str:
    if not ctx:
        return ""
    return "".join(f" {key}={value}" for key, value in ctx.items())


def _log_failure(
    path: str, exc: HikCentralError, started: float, ctx: Mapping[str, object] | None
) -> None:
    # "Not found" is how a look-up answers "no such person yet" (before every new person is
    # added): an answer, not a fault. Everything else is worth a warning.
    logger.log(
        logging.INFO if isinstance(exc, HCPNotFound) else logging.WARNING,
        "hcp POST %s failed: %s %s ms=%.0f%s",
        path,
        type(exc).__name__,
        exc,
        (time.monotonic() - started) * 1000,
        _format_ctx(ctx),
        extra={"hcp_path": path, "hcp_code": exc.code, "hcp_http_status": exc.http_status},
    )
