"""Render a notification in a language: title, body and a link to its page on the site.

Rendering happens when the message is shown or sent, inside ``translation.override``, so each
recipient reads it in their own language, whoever triggered it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from propusk.notifications.channels import Message
from propusk.notifications.kinds import DENIAL_REASONS, Kind
from propusk.notifications.models import Notification


def render(notification: Notification, language: str) -> Message:
    with translation.override(language):
        params = notification.params or {}
        title = str(Kind(notification.kind).label)
        body = _body(Kind(notification.kind), params)
        return Message(title=title, body=body, url=link(notification), language=language)


def link(notification: Notification) -> str:
    """The absolute address of the visit's page, or of the feed when there is no visit."""
    visit_id = visit_id_of(notification)
    if visit_id is not None:
        path = reverse("visits:detail", args=[visit_id])
    else:
        path = reverse("notifications:feed")
    return f"{settings.PROPUSK_SITE_URL}{path}"


def visit_id_of(notification: Notification) -> int | None:
    visit_id = notification.visit_id or (notification.params or {}).get("visit_id")
    return visit_id if isinstance(visit_id, int) and not isinstance(visit_id, bool) else None


def _when(value: Any) -> str:
    moment: datetime | None = None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        moment = parse_datetime(value)
    if moment is None:
        return ""
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    # The format the pages use in both languages (24-hour, day first).
    return formats.date_format(timezone.localtime(moment), "d.m.Y H:i")


def _body(kind: Kind, params: dict[str, Any]) -> str:
    values = {
        "visitor": str(params.get("visitor_name") or _("A visitor")),
        "door": str(params.get("door_name") or _("a door")),
        "time": _when(params.get("at")) or _("just now"),
        "count": params.get("count") or 0,
    }
    if kind == Kind.GUEST_ARRIVED:
        return _("%(visitor)s came in through %(door)s at %(time)s.") % values
    if kind == Kind.GUEST_LEFT:
        return _("%(visitor)s went out through %(door)s at %(time)s.") % values
    if kind == Kind.GUEST_DENIED:
        reason = DENIAL_REASONS.get(str(params.get("reason", "")))
        values["reason"] = str(reason) if reason is not None else _("no access")
        return _("%(visitor)s was refused at %(door)s at %(time)s: %(reason)s.") % values
    if kind == Kind.FACE_NOT_RECOGNISED:
        return _("An unrecognised face at %(door)s at %(time)s.") % values
    if kind == Kind.REPEATED_FAILURES:
        return (
            _("%(count)s failed attempts at %(door)s, the last at %(time)s.") % values
            if values["count"]
            else _("Repeated failed attempts at %(door)s, the last at %(time)s.") % values
        )
    if kind == Kind.EXIT_WITHOUT_ENTRY:
        return _("%(visitor)s went out through %(door)s at %(time)s with no entry recorded.") % (
            values
        )
    if kind == Kind.OVERSTAY:
        return _("%(visitor)s is still inside after the visit ended (%(time)s).") % values
    if kind == Kind.VISIT_CHECKED_OUT_BY_EXIT:
        return _("%(visitor)s went out through %(door)s at %(time)s; the visit is over.") % values
    if kind == Kind.TEST:
        return _("Propusk notifications reach you here.")
    raise ValueError(f"no text for notification kind {kind}")
