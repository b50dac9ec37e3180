"""A visit's audit entries, put into words for the visit page."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from propusk.audit.models import AuditEntry
from propusk.visits.models import Visit, VisitStatus

# A context of their own: "Checked in" here is an event, not the status of the same name.
ACTION_LABELS = {
    "visit.registered": pgettext_lazy("visit history", "Registered"),
    "visit.time_confirmed": pgettext_lazy("visit history", "Time confirmed"),
    "visit.checked_in": pgettext_lazy("visit history", "Checked in"),
    "visit.checked_out": pgettext_lazy("visit history", "Checked out"),
    "visit.expired_checked_out": pgettext_lazy(
        "visit history", "Checked out automatically: the time was over"
    ),
    "visit.cancelled": pgettext_lazy("visit history", "Cancelled"),
    "visit.window_changed": pgettext_lazy("visit history", "Time changed"),
    "visit.no_show": pgettext_lazy("visit history", "Closed as a no-show"),
    "visit.visitor_confirmed": pgettext_lazy(
        "visit history", "Identity confirmed at the desk: the visitor on file"
    ),
}
# Fields worth showing in the history; the rest (ids) are on the page already.
SHOWN_FIELDS = (
    "status",
    "planned_start",
    "planned_end",
    "checked_in_at",
    "checked_out_at",
    "cancelled_at",
    "cancel_reason",
    "closed_at",
    "access_policy",
    "single_pass",
)
_DATETIME_FIELDS = {
    "planned_start",
    "planned_end",
    "checked_in_at",
    "checked_out_at",
    "cancelled_at",
    "closed_at",
}


@dataclass(frozen=True)
class Change:
    field: str
    old: str
    new: str


@dataclass(frozen=True)
class HistoryRow:
    at: datetime
    actor: str
    action: str
    changes: list[Change]


def history_rows(entries: Iterable[AuditEntry]) -> list[HistoryRow]:
    return [
        HistoryRow(
            at=entry.at,
            actor=_actor(entry),
            action=str(ACTION_LABELS.get(entry.action, entry.action)),
            changes=[
                Change(
                    field=_field_label(name), old=_value(name, pair[0]), new=_value(name, pair[1])
                )
                for name in SHOWN_FIELDS
                if isinstance(pair := entry.changes.get(name), list) and len(pair) == 2
            ],
        )
        for entry in entries
    ]


def _actor(entry: AuditEntry) -> str:
    if entry.actor is not None:
        return entry.actor.get_full_name() or entry.actor.get_username()
    if entry.actor_label == "system":
        return _("system")
    if entry.actor_label.startswith("invitation:"):
        # A visitor who registered through a link (no user name contains a colon).
        return _("the visitor, through the invitation link")
    return entry.actor_label


def _field_label(name: str) -> str:
    try:
        field = Visit._meta.get_field(name)
    except FieldDoesNotExist:
        return name
    return capfirst(str(getattr(field, "verbose_name", name)))


def _value(name: str, value: Any) -> str:
    if value is None or value == "":
        return ""
    if name == "status":
        try:
            return str(VisitStatus(value).label)
        except ValueError:
            return str(value)
    if name in _DATETIME_FIELDS and isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        return timezone.localtime(moment).strftime("%d.%m.%Y %H:%M")
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return str(value)
