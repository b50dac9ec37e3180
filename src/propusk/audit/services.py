"""Write audit entries. Callers pass what changed; never faces, ID numbers or secrets."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, time
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models
from django.utils import timezone

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


# A face or camera picture shown as a thumbnail in a list, in the entry's ``changes``.
SHOWN_IN_A_LIST = "in a list"


def record_view(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    action: str,
    target: models.Model,
    changes: dict[str, Any],
    listed: bool = False,
    now: datetime | None = None,
) -> AuditEntry | None:
    """Record that ``actor`` saw a face or a camera picture (``target``).

    Opened on its own (the visit page, the picture opened from a list, the API): recorded
    each time. Shown as a thumbnail in a list (``listed``: the dashboard, a visit's
    passages), it is recorded once per viewer, picture and site day - the first time, with
    ``"shown": "in a list"`` - so a dashboard reloaded all day long does not write a row per
    picture per load, and the log still says who saw whose face or picture, and on which
    day. None when this view was already recorded so.
    """
    if listed:
        moment = timezone.localtime(now or timezone.now(), timezone.get_default_timezone())
        day_start = datetime.combine(moment.date(), time.min, tzinfo=moment.tzinfo)
        user_id = actor.pk if actor is not None and actor.is_authenticated else None
        if AuditEntry.objects.filter(
            actor_id=user_id,
            action=action,
            target_type=target._meta.label_lower,
            target_id=str(target.pk),
            at__gte=day_start,
            changes__shown=SHOWN_IN_A_LIST,
        ).exists():
            return None
        changes = {**changes, "shown": SHOWN_IN_A_LIST}
    return record(actor=actor, action=action, target=target, changes=changes)
