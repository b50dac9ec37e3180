"""The call observer hook: what each HTTP request to HCP came to, and how long it took.

``HikCentralClient(config, call_observer=on_call)`` calls ``on_call(endpoint, outcome, seconds)``
once per HTTP request (a page, the one resend of a read, a request refused before it was sent):

- ``endpoint``: the OpenAPI path with its identifiers replaced by their placeholder
  (``/api/visitor/v1/person/{id}/elementDownloadDetail``), or ``other`` for a path the client
  does not know: a bounded set, never a person id or code.
- ``outcome``: one of :data:`OUTCOMES` (:func:`outcome_of` maps an error to it).
- ``seconds``: the time from sending the request to its answer or failure (the wait for the
  rate limiter not included); None when nothing was sent.

The observer runs in the calling thread, after the breaker has been told. It must be quick; if
it raises, the call's own result still reaches the caller (a warning is logged at most once a
minute).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from hikcentral.errors import (
    CircuitOpenError,
    HCPAlreadyExists,
    HCPBusy,
    HCPLimitReached,
    HCPNetworkError,
    HCPNotFound,
    HCPOperationFailed,
    HCPParameterError,
    HCPPermissionDenied,
    HCPProtocolError,
    HCPRateLimited,
    HCPResponseTooLong,
    HCPServerError,
    HCPSignatureRejected,
    HCPTimeout,
    HCPTLSError,
    HCPUnsupported,
    HikCentralError,
    RateLimitWaitError,
)

__all__ = [
    "NOT_SENT_OUTCOMES",
    "OTHER_ENDPOINT",
    "OUTCOMES",
    "CallObserver",
    "outcome_of",
    "refusal_outcome",
]

CallObserver = Callable[[str, str, float | None], None]

# A path the client does not know (never its text: it might carry an identifier).
OTHER_ENDPOINT: Final = "other"

# HCP answered with a non-zero code: the error class of the code (errors._CODE_CLASSES).
_CODE_OUTCOMES: Final[dict[type[HikCentralError], str]] = {
    HCPParameterError: "hcp_parameter_error",
    HCPResponseTooLong: "hcp_response_too_long",
    HCPNotFound: "hcp_not_found",
    HCPAlreadyExists: "hcp_already_exists",
    HCPPermissionDenied: "hcp_permission_denied",
    HCPSignatureRejected: "hcp_signature_rejected",
    HCPUnsupported: "hcp_unsupported",
    HCPLimitReached: "hcp_limit_reached",
    HCPOperationFailed: "hcp_operation_failed",
    HCPBusy: "hcp_busy",
    HCPServerError: "hcp_server_error",
    HCPTimeout: "hcp_timeout",  # HCP's own service timeout (code 4, 0x00052103)
}

# Refused on our side before anything was sent.
NOT_SENT_OUTCOMES: Final = ("circuit_open", "rate_limit_wait", "not_sent")

OUTCOMES: Final = (
    "ok",
    "quota",  # HTTP 429 or HCP's call quota (0x02401009)
    "http_error",  # HTTP 5xx, or another non-2xx status without an HCP code
    "timeout",  # no connection or no answer in time (client side)
    "connection_error",  # cannot connect, the connection dropped, TLS refused
    "bad_response",  # the answer did not have the documented shape
    *_CODE_OUTCOMES.values(),
    *NOT_SENT_OUTCOMES,
    "error",  # any other HikCentralError (none is raised today)
)


def outcome_of(exc: HikCentralError) -> str:
    """The outcome of a request that ended with ``exc`` (one of :data:`OUTCOMES`)."""
    if isinstance(exc, HCPRateLimited):
        return "quota"
    if isinstance(exc, CircuitOpenError | RateLimitWaitError):
        return refusal_outcome(exc)
    if isinstance(exc, HCPProtocolError):
        return "bad_response"
    status = exc.http_status
    if status is not None and (status >= 500 or (exc.code is None and not 200 <= status < 300)):
        return "http_error"
    if exc.code is not None:
        for cls in type(exc).__mro__:
            if cls in _CODE_OUTCOMES:
                return _CODE_OUTCOMES[cls]
        return "error"
    if isinstance(exc, HCPTimeout):
        return "timeout"
    if isinstance(exc, HCPNetworkError | HCPTLSError):
        return "connection_error"
    return "error"


def refusal_outcome(exc: BaseException) -> str:
    """The outcome of a request the breaker or the limiter stopped before it was sent."""
    if isinstance(exc, CircuitOpenError):
        return "circuit_open"
    if isinstance(exc, RateLimitWaitError):
        return "rate_limit_wait"
    return "not_sent"  # e.g. their shared state could not be used
