"""What a HikCentral event means for a visit: the passage handler."""

from __future__ import annotations

from propusk.events.models import HcpEvent


def handle_event(event: HcpEvent) -> None:
    """Act on one stored event (idempotent: run again for the same event, it changes nothing)."""
    raise NotImplementedError("the passage handler is being built (issue 9)")
