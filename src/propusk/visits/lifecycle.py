"""What can be done with a visit, from which statuses and when.

Who may do it is ``permissions``; doing it is ``services``. The buttons (``permissions.
available_actions``) and the services ask the same questions here, so a button is shown
only where the service would accept the click.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from propusk.access.windows import visit_window
from propusk.visits.models import Visit, VisitStatus


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


def check_in_open(visit: Visit, moment: datetime) -> bool:
    """Is ``moment`` inside the window in which ``services.check_in`` accepts this visit?"""
    opens, closes = visit_window(visit)
    return opens <= moment <= closes


def moment_allows(action: VisitAction, visit: Visit, moment: datetime) -> bool:
    """Does the moment allow the action? Only a check-in has a time: its access window."""
    if action == VisitAction.CHECK_IN:
        return check_in_open(visit, moment)
    return True
