"""Fixtures for the dashboard: the passages tests' real HCP simulator, visits and turnstile
(tests/passages/conftest.py), and the events intake run as a worker would: HCP's door events
read back by the polling backfill into the inbox, then each one processed."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hikcentral import HikCentralClient
from propusk.events.models import EventState, HcpEvent
from propusk.events.polling import poll
from propusk.events.processing import process
from tests.access.conftest import (  # noqa: F401 - fixtures
    confirm,
    drain,
    hcp,
    hcp_settings,
    simulator,
    site,
)
from tests.passages.conftest import (  # noqa: F401 - fixtures
    _no_face_check,
    enrolled,
    make_visit,
    turnstile,
)


def run_intake(client: HikCentralClient) -> int:
    """One polling run and every pending event processed; returns how many were processed."""
    poll(client)
    pending = list(
        HcpEvent.objects.filter(state=EventState.PENDING)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for pk in pending:
        process(pk)
    return len(pending)


@pytest.fixture
def intake(hcp: HikCentralClient) -> Callable[[], int]:  # noqa: F811
    return lambda: run_intake(hcp)
