"""What can be done with a visit, and from which statuses.

Who may do it is ``permissions``; doing it is ``services``.
"""

from __future__ import annotations

from enum import StrEnum

from propusk.visits.models import VisitStatus


class VisitAction(StrEnum):
    VIEW = "view"
    CHECK_IN = "check_in"
    CHECK_OUT = "check_out"
    CANCEL = "cancel"
    CHANGE_WINDOW = "change_window"
    CONFIRM = "confirm"


# The statuses each change accepts; any other status refuses it.
ALLOWED_FROM: dict[VisitAction, frozenset[VisitStatus]] = {
    VisitAction.CONFIRM: frozenset({VisitStatus.PENDING}),
    VisitAction.CHECK_IN: frozenset({VisitStatus.AWAITING}),
    VisitAction.CHECK_OUT: frozenset({VisitStatus.CHECKED_IN}),
    VisitAction.CANCEL: frozenset({VisitStatus.PENDING, VisitStatus.AWAITING}),
    VisitAction.CHANGE_WINDOW: frozenset(
        {VisitStatus.PENDING, VisitStatus.AWAITING, VisitStatus.CHECKED_IN}
    ),
}


def status_allows(action: VisitAction, status: str) -> bool:
    return status in ALLOWED_FROM.get(action, frozenset())
