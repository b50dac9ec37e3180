"""The hook for the access engine.

``visit_access_changed`` is sent after the transaction that changed a visit's access
(created, confirmed, checked in or out, cancelled, window changed, closed) has committed, with
``visit_id``. The access engine (a later issue) connects a receiver that recomputes the
visitor's grants; nothing in this module talks to HikCentral.
"""

from __future__ import annotations

from django.db import transaction
from django.dispatch import Signal

visit_access_changed = Signal()


def announce_access_change(visit_id: int, *, reason: str) -> None:
    """Send ``visit_access_changed`` once the current transaction commits (now if none)."""
    transaction.on_commit(
        lambda: visit_access_changed.send(sender=None, visit_id=visit_id, reason=reason),
        robust=False,
    )
