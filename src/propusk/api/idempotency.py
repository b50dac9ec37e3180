"""``Idempotency-Key`` for registrations: integrations retry on timeouts, and a retried
request must return the first answer and create nothing new.

The first request with a key claims it (a row, unique per token and key) before it runs, and
stores its answer when it succeeds; a retry with the same key and the same request gets that
answer again. Only successes are kept: a refused request created nothing, so a retry runs
again (a photo check that could not run just then may pass). Keys are kept 24 hours.

Belt and braces: the visit itself is registered with a submission token derived from the key
(``submission_token``), so even a retry that finds no stored answer (the process died after
the visit was committed) lands on the same visit.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.http.request import RawPostDataException
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from propusk.api.models import IdempotencyState, IdempotentRequest
from propusk.core.time import now as current_time

HEADER = "Idempotency-Key"
KEEP_FOR = timedelta(hours=24)
# A claim this old whose answer never came is taken over by a retry (its process died).
ABANDONED_AFTER = timedelta(minutes=2)
MAX_KEY_LENGTH = 255
_SALT = "propusk.api.idempotency"


class KeyInUse(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "idempotency_in_progress"
    default_detail = _(
        "A request with this Idempotency-Key is still being processed: retry in a moment."
    )


class KeyReused(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_key_reused"
    default_detail = _("This Idempotency-Key was used with a different request.")


def key_of(request: Request) -> str | None:
    """The request's key (None: none sent); a malformed one is a 400."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise ValidationError(
            {HEADER: [_("Up to 255 printable ASCII characters, e.g. a UUID.")]}, code="invalid"
        )
    return key


def fingerprint(request: Request) -> str:
    """A keyed hash of what was asked: the same key with another request is refused."""
    try:
        body = request._request.body  # read before the parsers: cached for them
    except RawPostDataException:
        # A form already read (the session's CSRF check reads a multipart POST): its fields
        # and files, in order.
        body = b"\0".join(
            f"{name}={_digest(value)}".encode()
            for name in sorted(request.data)
            for value in request.data.getlist(name)
        )
    message = request.method.encode() + b"\0" + request.path.encode() + b"\0" + body
    return salted_hmac(_SALT, message, algorithm="sha256").hexdigest()


def _digest(value: object) -> str:
    if isinstance(value, UploadedFile):
        digest = hashlib.sha256()
        for chunk in value.chunks():
            digest.update(chunk)
        value.seek(0)
        return digest.hexdigest()
    return str(value)


def submission_token(scope: str, key: str) -> uuid.UUID:
    """The registration's submission token for this key: keyed, so nobody can aim a key at
    another token's visit."""
    digest = salted_hmac(_SALT + ".submission", f"{scope}\0{key}", algorithm="sha256").digest()
    return uuid.UUID(bytes=digest[:16], version=4)


def begin(*, scope: str, key: str, fingerprint: str) -> IdempotentRequest | None:
    """Claim ``key``; or the finished answer of an earlier request with it.

    ``KeyReused`` if it came with another request, ``KeyInUse`` while that request runs.
    """
    moment = current_time()
    IdempotentRequest.objects.filter(created_at__lt=moment - KEEP_FOR).delete()
    try:
        with transaction.atomic():
            IdempotentRequest.objects.create(
                scope=scope,
                key=key,
                fingerprint=fingerprint,
                state=IdempotencyState.IN_PROGRESS,
                created_at=moment,
            )
        return None
    except IntegrityError:
        pass
    earlier = IdempotentRequest.objects.filter(scope=scope, key=key).first()
    if earlier is None:  # expired and deleted in between: claim it again
        return begin(scope=scope, key=key, fingerprint=fingerprint)
    if earlier.fingerprint != fingerprint:
        raise KeyReused()
    if earlier.state == IdempotencyState.DONE:
        return earlier
    taken_over = IdempotentRequest.objects.filter(
        pk=earlier.pk,
        state=IdempotencyState.IN_PROGRESS,
        updated_at=earlier.updated_at,
        updated_at__lt=moment - ABANDONED_AFTER,
    ).update(updated_at=moment)
    if taken_over:
        return None
    raise KeyInUse()


def finish(*, scope: str, key: str, response: Response) -> None:
    IdempotentRequest.objects.filter(scope=scope, key=key).update(
        state=IdempotencyState.DONE,
        status_code=response.status_code,
        response=response.data,
        location=response.headers.get("Location", ""),
        updated_at=current_time(),
    )


def abandon(*, scope: str, key: str) -> None:
    """The request failed: forget the claim, so a retry runs again."""
    IdempotentRequest.objects.filter(
        scope=scope, key=key, state=IdempotencyState.IN_PROGRESS
    ).delete()


def replay(earlier: IdempotentRequest) -> Response:
    headers = {"Idempotent-Replayed": "true"}
    if earlier.location:
        headers["Location"] = earlier.location
    return Response(earlier.response, status=earlier.status_code, headers=headers)
