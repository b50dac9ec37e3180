"""Write audit entries. Callers pass what changed; never faces, ID numbers or secrets."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models

from propusk.audit.models import AuditEntry

SYSTEM = "system"

# How the actor reached us when it was not a page, e.g. "API token 3": added to the label of
# every entry recorded meanwhile (``through``).
_channel: ContextVar[str] = ContextVar("audit_channel", default="")


@contextmanager
def through(channel: str) -> Iterator[None]:
    """Entries recorded inside the block say they came through ``channel`` (the REST API):
    their label is "<username> via <channel>"; the actor stays the user."""
    marker = _channel.set(channel)
    try:
        yield
    finally:
        _channel.reset(marker)


def record(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    action: str,
    target: models.Model | type[models.Model],
    changes: dict[str, Any] | None = None,
    actor_label: str | None = None,
) -> AuditEntry:
    """Record one change (or access). ``actor`` None means the system (a periodic task, an
    event). ``target`` is the object, or its model class when there is no object (a look-up
    that found nobody): the entry then has an empty ``target_id``."""
    user = actor if actor is not None and actor.is_authenticated else None
    label = actor_label or (user.get_username() if user is not None else SYSTEM)
    if _channel.get():
        label = f"{label} via {_channel.get()}"[:150]
    target_id = "" if isinstance(target, type) else str(target.pk)
    return AuditEntry.objects.create(
        actor_id=user.pk if user is not None else None,
        actor_label=label,
        action=action,
        target_type=target._meta.label_lower,
        target_id=target_id,
        changes=_jsonable(changes or {}),
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, models.Model):
        return str(value.pk)
    return str(value)
