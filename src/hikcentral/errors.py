"""Typed errors of the HCP client, and the table that classifies HCP's result codes.

Two families, so a caller can decide without reading codes:

- :class:`TransientError` (``retryable`` is True): the network, a timeout, HTTP 5xx/429,
  HCP busy, the call quota, a service timeout. Retry later with backoff.
- :class:`PermanentError` (``retryable`` is False): a parameter error, not found, already
  exists, no permission, a rejected signature, an unsupported API, an unexpected response.
  Retrying the same request will fail the same way: surface it.

``may_have_applied`` says whether a failed *write* might nevertheless have been carried out by
HCP (the request was sent but the answer was lost: a read timeout, a dropped connection, a 5xx).
After such a failure the caller must look the state up (e.g. a person by ``personCode``)
before trying again, never assume either outcome.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

__all__ = [
    "CircuitOpenError",
    "HCPAlreadyExists",
    "HCPBusy",
    "HCPLimitReached",
    "HCPNetworkError",
    "HCPNotFound",
    "HCPOperationFailed",
    "HCPParameterError",
    "HCPPermissionDenied",
    "HCPProtocolError",
    "HCPRateLimited",
    "HCPResponseTooLong",
    "HCPServerError",
    "HCPSignatureRejected",
    "HCPTLSError",
    "HCPTimeout",
    "HCPUnsupported",
    "HikCentralError",
    "PermanentError",
    "RateLimitWaitError",
    "TransientError",
    "error_for_code",
    "is_transient",
    "normalize_code",
    "parameter_field",
]


class HikCentralError(Exception):
    """Base of every error raised by the client."""

    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        code: str | None = None,
        msg: str | None = None,
        http_status: int | None = None,
        may_have_applied: bool = False,
        remain_lock_number: int | None = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.code = code
        self.msg = msg
        self.http_status = http_status
        self.may_have_applied = may_have_applied
        # Set when HCP reports how many wrong admin passwords remain before it locks the
        # caller's IP out (person delete with adminPassword).
        self.remain_lock_number = remain_lock_number

    @property
    def is_transient(self) -> bool:
        return self.retryable

    def __str__(self) -> str:
        parts = [super().__str__()]
        if self.path:
            parts.append(f"path={self.path}")
        if self.code is not None:
            parts.append(f"code={self.code}")
        if self.http_status is not None:
            parts.append(f"http_status={self.http_status}")
        if self.may_have_applied:
            parts.append("may_have_applied")
        return " ".join(parts)


class TransientError(HikCentralError):
    """Worth retrying later, with backoff."""

    retryable = True


class PermanentError(HikCentralError):
    """Retrying the same request will not help."""

    retryable = False


# --- transient ---------------------------------------------------------------------------


class HCPNetworkError(TransientError):
    """Connecting failed, or the connection broke before a full response arrived."""


class HCPTimeout(TransientError):
    """Connect, write or read timeout (client side), or HCP's own service timeout."""


class HCPRateLimited(TransientError):
    """HTTP 429 or HCP's call quota (``0x02401009``)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class HCPBusy(TransientError):
    """HCP reports it is overloaded (code 6, ``0x00052101``)."""


class HCPServerError(TransientError):
    """HTTP 5xx, or an internal service error code (4, 5, ``0x00052102``, ...)."""


class CircuitOpenError(TransientError):
    """The circuit breaker refused the call: HCP is considered down, nothing was sent."""


class RateLimitWaitError(TransientError):
    """The rate limiter gave up waiting for the call's turn: nothing was sent."""


# --- permanent ---------------------------------------------------------------------------


class HCPParameterError(PermanentError):
    """Code 2 or ``0x00072001``-``0x00072003``; ``field`` is parsed from the message if named."""

    def __init__(self, message: str, *, field: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.field = field


class HCPResponseTooLong(PermanentError):
    """``0x00072004``: the page is too large; paging calls halve the page size themselves."""


class HCPNotFound(PermanentError):
    """Code 128 or ``0x00072203``: the resource does not exist."""


class HCPAlreadyExists(PermanentError):
    """Code 131: e.g. a person with this personCode already exists."""


class HCPPermissionDenied(PermanentError):
    """No permission (17, 130, ``0x02401007``, ``0x00072201/2``) or the user is locked (65)."""


class HCPSignatureRejected(PermanentError):
    """The gateway rejected the credentials or the signature (``0x02401000-3``, HTTP 401)."""


class HCPUnsupported(PermanentError):
    """Code 8 (also unknown paths and unlicensed modules), 12, 195, or HTTP 404."""


class HCPLimitReached(PermanentError):
    """Code 132 or ``0x00072204``: a maximum number of resources or licences is reached."""


class HCPOperationFailed(PermanentError):
    """Any other non-zero code (192 'operation failed', unknown codes)."""


class HCPTLSError(PermanentError):
    """The server's TLS certificate did not verify (wrong CA bundle, self-signed, wrong name).

    Permanent: it needs an operator (a CA bundle, or an explicit opt-out), not a retry.
    """


class HCPProtocolError(PermanentError):
    """The response did not have the documented shape (bad JSON, success without an id...)."""


# --- classification ------------------------------------------------------------------------

_CODE_CLASSES: dict[int, type[HikCentralError]] = {
    # OpenAPI translation service (small codes)
    2: HCPParameterError,
    3: HCPBusy,  # insufficient system resources
    4: HCPTimeout,  # network timed out (between HCP services)
    5: HCPServerError,
    6: HCPBusy,
    8: HCPUnsupported,
    12: HCPUnsupported,  # URL not supported
    16: HCPServerError,  # connecting to service exception
    17: HCPPermissionDenied,
    65: HCPPermissionDenied,  # user locked (e.g. after wrong admin passwords)
    128: HCPNotFound,
    # 129 (resource offline) and 194 (device connection failed) concern a device, not the
    # call: HCP could not reach the device, which usually comes back.
    129: HCPServerError,
    130: HCPPermissionDenied,
    131: HCPAlreadyExists,
    132: HCPLimitReached,
    194: HCPServerError,
    195: HCPUnsupported,  # device does not support this function
    # API gateway
    0x02401000: HCPSignatureRejected,  # no AppKey
    0x02401001: HCPSignatureRejected,  # unknown partner
    0x02401002: HCPSignatureRejected,  # no signature
    0x02401003: HCPSignatureRejected,  # invalid signature
    0x02401007: HCPPermissionDenied,
    0x02401008: HCPServerError,  # authentication exception: gateway service trouble
    0x02401009: HCPRateLimited,  # maximum API calls reached
    # parameters
    0x00072001: HCPParameterError,
    0x00072002: HCPParameterError,
    0x00072003: HCPParameterError,
    0x00072004: HCPResponseTooLong,
    # internal service
    0x00052101: HCPBusy,
    0x00052102: HCPServerError,
    0x00052103: HCPTimeout,
    0x00052104: HCPServerError,
    # resource access
    0x00072201: HCPPermissionDenied,
    0x00072202: HCPPermissionDenied,
    0x00072203: HCPNotFound,
    0x00072204: HCPLimitReached,
}

_FIELD_RE = re.compile(r"\[\s*([A-Za-z_][\w.\[\]]*)\s+parameter error\s*\]", re.IGNORECASE)


def normalize_code(code: object) -> int | None:
    """HCP's code as a number: ``"0"``, ``0``, ``"131"``, ``"0x02401003"`` (any case).

    Returns None when the value is not a code at all.
    """
    if isinstance(code, bool):
        return None
    if isinstance(code, int):
        return code
    if isinstance(code, str):
        text = code.strip()
        try:
            if text.lower().startswith("0x"):
                return int(text, 16)
            return int(text, 10)
        except ValueError:
            return None
    return None


def parameter_field(msg: str | None) -> str | None:
    """The field named in a parameter error message, e.g. ``[doorIndexCode parameter error]``."""
    if not msg:
        return None
    match = _FIELD_RE.search(msg)
    return match.group(1) if match else None


def _remain_lock_number(data: object) -> int | None:
    if isinstance(data, Mapping):
        value = data.get("remainLockNumber")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.isdigit():
            return int(value)
    return None


def error_for_code(
    code: str, msg: str | None, *, path: str, data: object = None, http_status: int | None = None
) -> HikCentralError:
    """The typed error for a non-zero envelope code (``code`` as received, stringified)."""
    number = normalize_code(code)
    cls: type[HikCentralError] = (
        _CODE_CLASSES.get(number, HCPOperationFailed) if number is not None else HCPProtocolError
    )
    text = f"HCP error {code}: {msg or 'no message'}"
    common: dict[str, Any] = {
        "path": path,
        "code": code,
        "msg": msg,
        "http_status": http_status,
        # A business error means HCP answered: nothing was applied. Except for the service
        # timeout and errors, where HCP itself does not know whether the change went through.
        "may_have_applied": cls in (HCPTimeout, HCPServerError),
        "remain_lock_number": _remain_lock_number(data),
    }
    if cls is HCPParameterError:
        return HCPParameterError(text, field=parameter_field(msg), **common)
    return cls(text, **common)


def is_transient(exc: BaseException) -> bool:
    """True for errors worth retrying later (a convenience for callers' retry policies)."""
    return isinstance(exc, HikCentralError) and exc.retryable
