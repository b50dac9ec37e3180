"""HikCentral's own face check (``faceCheck``): after ours, before a visitor's photo is kept.

Our check (``visitors.faces``) knows faces; HCP knows what its devices accept. Where HCP has
``/api/acs/v1/faceCheck``, the final cropped JPEG - the one that would be enrolled - is sent
to it with one access-control device (``HCP_FACE_CHECK_DEVICE``, or the first device HCP
lists, remembered for ``DEVICE_CACHE_SECONDS``). Only a refusal stops the photo: when HCP
lacks the call, is down, slow, or the shared circuit breaker is open, the photo is accepted on
our check alone and a warning is logged (no face, name or ID number in it). Registration must
not stop because HCP is away: the access engine retries enrolment and shows a face HCP refuses
then on the visit.

Calls go through the shared rate limiter and circuit breaker (docs/hikcentral.md), with a
short wait for a token and short timeouts: someone is waiting at the desk.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from dataclasses import dataclass
from typing import Final

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from hikcentral import HCPNotFound, HikCentralClient, HikCentralError

from .factory import build_client

__all__ = ["FaceCheckOutcome", "FaceVerdict", "check_face_with_hcp", "enabled", "forget_device"]

logger = logging.getLogger(__name__)

MODES: Final = ("auto", "off")
# Timeouts and the longest wait for a rate-limit token: at most these (HCP_* may be lower).
CONNECT_TIMEOUT_SECONDS: Final = 2.0
READ_TIMEOUT_SECONDS: Final = 3.0
TOKEN_WAIT_SECONDS: Final = 1.0
# How long the device picked from HCP's list is used before HCP is asked again.
DEVICE_CACHE_SECONDS: Final = 300.0


class FaceVerdict(enum.Enum):
    USABLE = "usable"
    REFUSED = "refused"
    NOT_KNOWN = "not_known"  # off, not there, HCP down: our own check alone decides


@dataclass(frozen=True)
class FaceCheckOutcome:
    verdict: FaceVerdict
    detail: str | None = None  # HCP's message on a refusal (about the picture, no personal data)


@dataclass
class _Device:
    base_url: str = ""
    code: str | None = None
    until: float = 0.0


_device = _Device()
_device_lock = threading.Lock()


def enabled() -> bool:
    """``PROPUSK_HCP_FACE_CHECK``: "auto" (when HCP_BASE_URL is set) or "off"."""
    mode = settings.HCP_FACE_CHECK
    if mode not in MODES:
        raise ImproperlyConfigured(
            f"PROPUSK_HCP_FACE_CHECK={mode!r} must be one of {', '.join(MODES)}"
        )
    return mode == "auto" and bool(settings.HCP_BASE_URL)


def forget_device() -> None:
    """Drop the remembered device (tests; a device HCP no longer knows)."""
    with _device_lock:
        _device.code = None
        _device.until = 0.0


def check_face_with_hcp(face_jpeg: bytes) -> FaceCheckOutcome:
    """HCP's verdict on ``face_jpeg`` (the JPEG that would be enrolled); never raises for HCP."""
    if not enabled():
        return FaceCheckOutcome(FaceVerdict.NOT_KNOWN)
    started = time.monotonic()
    try:
        with _client() as hcp:
            device = _device_code(hcp)
            if device is None:
                logger.warning(
                    "HCP face check skipped: HCP lists no access-control device "
                    "(set PROPUSK_HCP_FACE_CHECK_DEVICE)"
                )
                return FaceCheckOutcome(FaceVerdict.NOT_KNOWN)
            result = hcp.face_check(face_jpeg, acs_dev_index_code=device)
    except HikCentralError as exc:
        if isinstance(exc, HCPNotFound):
            forget_device()  # the device may be gone: pick again next time
        logger.warning(
            "HCP face check not available, the photo is accepted on our own check: %s "
            "(code=%s http_status=%s, %.1f s)",
            type(exc).__name__,
            exc.code,
            exc.http_status,
            time.monotonic() - started,
        )
        return FaceCheckOutcome(FaceVerdict.NOT_KNOWN)
    if result.usable is None:
        logger.warning(
            "HCP face check not available on this HCP (no faceCheck): the photo is accepted "
            "on our own check"
        )
        return FaceCheckOutcome(FaceVerdict.NOT_KNOWN)
    if result.usable:
        return FaceCheckOutcome(FaceVerdict.USABLE)
    logger.info("HCP refused a face photo: %s", result.detail)
    return FaceCheckOutcome(FaceVerdict.REFUSED, result.detail)


def _client() -> HikCentralClient:
    # The shared bucket and breaker, with short timeouts and a short wait for a token.
    return build_client(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        max_token_wait=TOKEN_WAIT_SECONDS,
    )


def _device_code(hcp: HikCentralClient) -> str | None:
    configured = settings.HCP_FACE_CHECK_DEVICE
    if configured:
        return str(configured)
    base_url = hcp.config.base_url
    now = time.monotonic()
    with _device_lock:
        if _device.base_url == base_url and _device.code is not None and now < _device.until:
            return _device.code
    code = next(
        (door.acs_dev_index_code for door in hcp.list_doors() if door.acs_dev_index_code), None
    )
    if code is not None:
        with _device_lock:
            _device.base_url, _device.code, _device.until = (
                base_url,
                code,
                now + DEVICE_CACHE_SECONDS,
            )
    return code
