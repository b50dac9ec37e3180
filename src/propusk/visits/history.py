"""A visit's audit entries, put into words for the visit page.

Only what changed is shown: an entry may carry a field with the same value on both sides (a
change of the end time also lists the start), and a registration lists every field, empty
ones included; those are left out. Fields go by their labels, the access policy by its name
(entries hold its key), and a pending visit's placeholder window (a time-less invitation:
no time yet, no access) is not shown as if it were a time. A turnstile's check-in or
check-out is one row, the turnstile's, not the system's change plus the passage's note.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db.models import Q
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from propusk.access.models import AccessLevelPolicy
from propusk.audit.models import AuditEntry
from propusk.passages.services import TURNSTILE
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
    "visit.check_in_time_corrected": pgettext_lazy("visit history", "Check-in time corrected"),
    "visit.check_out_time_corrected": pgettext_lazy("visit history", "Check-out time corrected"),
    "passage.check_in_refused": pgettext_lazy(
        "visit history", "Entered through a door, but could not be checked in: check in by hand"
    ),
    "passage.check_out_refused": pgettext_lazy(
        "visit history", "Went out through a door, but could not be checked out"
    ),
}
# The passage's own note of a check-in or check-out the turnstile made: its row is merged
# into the visit's change it explains (same moment), which then names the turnstile.
_PASSAGE_NOTES = {
    "passage.checked_in": ("visit.checked_in", "checked_in_at"),
    "passage.checked_out": ("visit.checked_out", "checked_out_at"),
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


_WINDOW_FIELDS = ("planned_start", "planned_end")


def history_rows(entries: Iterable[AuditEntry]) -> list[HistoryRow]:
    entries = list(entries)
    policies = _policy_names(entries)
    by_turnstile = _made_by_turnstile(entries)
    return [
        HistoryRow(
            at=entry.at,
            actor=_("turnstile") if entry.pk in by_turnstile else _actor(entry),
            action=str(ACTION_LABELS.get(entry.action, entry.action)),
            changes=[
                Change(
                    field=_field_label(name),
                    old=_value(name, old, policies),
                    new=_value(name, new, policies),
                )
                for name, old, new in _changed_fields(entry)
            ],
        )
        for entry in entries
        if not _merged_note(entry, by_turnstile)
    ]


def _made_by_turnstile(entries: list[AuditEntry]) -> dict[int, int]:
    """The system's check-ins and check-outs a turnstile's passage made: their id -> the id
    of the passage's note (matched by action and moment)."""
    notes: dict[tuple[str, datetime], int] = {}
    for entry in entries:
        if entry.action in _PASSAGE_NOTES and isinstance(entry.changes, dict):
            moment = _moment(entry.changes.get("at"))
            if moment is not None:
                notes[(_PASSAGE_NOTES[entry.action][0], moment)] = entry.pk
    found: dict[int, int] = {}
    for entry in entries:
        if entry.actor_id is not None or not isinstance(entry.changes, dict):
            continue
        field = next((f for a, f in _PASSAGE_NOTES.values() if a == entry.action), None)
        if field is None:
            continue
        moment = _moment(_new_value(entry.changes, field))
        note = notes.get((entry.action, moment)) if moment is not None else None
        if note is not None:
            found[entry.pk] = note
    return found


def _merged_note(entry: AuditEntry, by_turnstile: dict[int, int]) -> bool:
    return entry.action in _PASSAGE_NOTES and entry.pk in by_turnstile.values()


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _changed_fields(entry: AuditEntry) -> list[tuple[str, Any, Any]]:
    """(field, old, new) of the shown fields whose value really changed."""
    changes = entry.changes if isinstance(entry.changes, dict) else {}
    placeholder_window = (
        entry.action == "visit.registered" and _new_value(changes, "status") == VisitStatus.PENDING
    )
    result = []
    for name in SHOWN_FIELDS:
        pair = changes.get(name)
        if not (isinstance(pair, list) and len(pair) == 2):
            continue
        old, new = pair
        if placeholder_window and name in _WINDOW_FIELDS:
            continue  # no time yet: the window is a placeholder, not the visit's time
        if _same(name, old, new):
            continue
        result.append((name, old, new))
    return result


def _new_value(changes: dict[str, Any], name: str) -> Any:
    pair = changes.get(name)
    return pair[1] if isinstance(pair, list) and len(pair) == 2 else None


def _same(name: str, old: Any, new: Any) -> bool:
    if old in (None, "") and new in (None, ""):
        return True
    if name in _DATETIME_FIELDS and isinstance(old, str) and isinstance(new, str):
        try:
            return datetime.fromisoformat(old) == datetime.fromisoformat(new)
        except ValueError:
            return old == new
    return bool(old == new)


def _policy_names(entries: list[AuditEntry]) -> dict[str, str]:
    """Access policies named in the entries (by key, or by id in older entries) -> name."""
    values: set[str] = set()
    for entry in entries:
        pair = entry.changes.get("access_policy") if isinstance(entry.changes, dict) else None
        if isinstance(pair, list):
            values.update(str(value) for value in pair if value not in (None, ""))
    if not values:
        return {}
    ids = [int(value) for value in values if value.isdigit()]
    names: dict[str, str] = {}
    for policy in AccessLevelPolicy.objects.filter(Q(key__in=values) | Q(pk__in=ids)):
        names[policy.key] = policy.name
        names[str(policy.pk)] = policy.name
    return names


def _actor(entry: AuditEntry) -> str:
    if entry.actor is not None:
        return entry.actor.get_full_name() or entry.actor.get_username()
    if entry.actor_label == "system":
        return _("system")
    if entry.actor_label == TURNSTILE:
        return _("turnstile")
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


def _value(name: str, value: Any, policies: dict[str, str]) -> str:
    if value is None or value == "":
        return ""
    if name == "access_policy":
        return policies.get(str(value), str(value))
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
