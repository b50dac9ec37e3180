"""A visit's audit entries, put into words for the visit page."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from propusk.audit.models import AuditEntry
from propusk.visits.models import Visit, VisitStatus

ACTION_LABELS = {
    "visit.registered": gettext_lazy("Registered"),
    "visit.time_confirmed": gettext_lazy("Time confirmed"),
    "visit.checked_in": gettext_lazy("Checked in"),
    "visit.checked_out": gettext_lazy("Checked out"),
    "visit.expired_checked_out": gettext_lazy("Checked out automatically: the time was over"),
    "visit.cancelled": gettext_lazy("Cancelled"),
    "visit.window_changed": gettext_lazy("Time changed"),
    "visit.no_show": gettext_lazy("Closed as a no-show"),
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
    return entry.actor_label


def _field_label(name: str) -> str:
    try:
        field = Visit._meta.get_field(name)
    except FieldDoesNotExist:
        return name
    return str(getattr(field, "verbose_name", name))


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
