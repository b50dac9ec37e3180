"""The beat task that re-checks HCP's push subscription (events.tasks.check_hcp_subscription)
against the real simulator over HTTP: HCP wiped (the simulator reset through its control
API) or a type moved to another destination, the task subscribes again, audited and logged
without the token, and a passage is pushed to us again."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytest

from hcp_simulator.testing import SimulatorHandle
from propusk.audit.models import AuditEntry
from propusk.events.models import EventSource, HcpEvent
from propusk.events.subscription import SUBSCRIBED_EVENT_TYPES, subscribe
from propusk.events.tasks import check_hcp_subscription
from propusk.integrations.hikcentral.factory import build_client
from tests.events.conftest import TOKEN

pytestmark = [
    pytest.mark.simulator,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

ELSEWHERE = "http://192.0.2.10:8080/other-product/events"


def _wait(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.fixture
def receiver(hcp_settings: Any, live_server: Any) -> Any:
    hcp_settings.PROPUSK_HCP_EVENTS_URL = live_server.url
    return hcp_settings


def _ours(site: SimulatorHandle, receiver: Any) -> dict[int, str]:
    held: dict[int, str] = {}
    for sub in site.control.state()["subscriptions"]:
        for event_type in sub["eventTypes"]:
            held[int(event_type)] = sub["eventDest"]
    return held


def _pushed_passage_arrives(site: SimulatorHandle) -> bool:
    event_id = site.control.passage("1", unknown_face=True).event_id
    return _wait(
        lambda: HcpEvent.objects.filter(event_id=event_id, source=EventSource.PUSH).exists()
    )


def test_a_wiped_subscription_is_made_again_and_pushes_arrive(
    site: SimulatorHandle, receiver: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with build_client() as client:
        subscribe(client)
    assert check_hcp_subscription.run() == {"resubscribed": False, "missing": [], "elsewhere": {}}
    assert not AuditEntry.objects.filter(action="events.subscription_restored").exists()

    site.control.reset()  # HCP wiped (or restored from a backup older than our subscription)
    assert site.control.state()["subscriptions"] == []

    with caplog.at_level(logging.INFO):
        summary = check_hcp_subscription.run()

    assert summary["resubscribed"] is True
    assert summary["missing"] == list(SUBSCRIBED_EVENT_TYPES)
    dest = f"{receiver.PROPUSK_HCP_EVENTS_URL}/hcp/events/{TOKEN}/"
    assert _ours(site, receiver) == dict.fromkeys(SUBSCRIBED_EVENT_TYPES, dest)
    assert _pushed_passage_arrives(site)
    entry = AuditEntry.objects.get(action="events.subscription_restored")
    assert entry.changes["missing"] == list(SUBSCRIBED_EVENT_TYPES)
    assert entry.changes["event_dest"].endswith("/hcp/events/<token>/")
    assert TOKEN not in str(entry.changes)
    assert "subscribed again" in caplog.text
    assert TOKEN not in caplog.text


def test_a_type_moved_elsewhere_is_taken_back(site: SimulatorHandle, receiver: Any) -> None:
    with build_client() as client:
        subscribe(client)
        # By hand in HCP (or another product): unrecognised faces now go somewhere else.
        client.subscribe_events((197160,), dest=ELSEWHERE, token="")

    summary = check_hcp_subscription.run()

    assert summary == {"resubscribed": True, "missing": [], "elsewhere": {"197160": ELSEWHERE}}
    dest = f"{receiver.PROPUSK_HCP_EVENTS_URL}/hcp/events/{TOKEN}/"
    assert _ours(site, receiver) == dict.fromkeys(SUBSCRIBED_EVENT_TYPES, dest)
    assert _pushed_passage_arrives(site)  # an unrecognised face: type 197160


def test_a_changed_token_moves_the_subscription(site: SimulatorHandle, receiver: Any) -> None:
    with build_client() as client:
        subscribe(client)
    old = f"{receiver.PROPUSK_HCP_EVENTS_URL}/hcp/events/{TOKEN}/"
    receiver.PROPUSK_HCP_EVENTS_TOKEN = "a-new-token-after-rotation-0123456789"

    summary = check_hcp_subscription.run()

    assert summary["resubscribed"] is True
    # The old destination, old token masked too (it may have been changed for a leak).
    masked_old = f"{receiver.PROPUSK_HCP_EVENTS_URL}/hcp/events/<token>/"
    assert summary["elsewhere"] == {str(t): masked_old for t in SUBSCRIBED_EVENT_TYPES}
    assert TOKEN not in str(AuditEntry.objects.get(action="events.subscription_restored").changes)
    new = f"{receiver.PROPUSK_HCP_EVENTS_URL}/hcp/events/a-new-token-after-rotation-0123456789/"
    assert set(_ours(site, receiver).values()) == {new}
    assert old not in _ours(site, receiver).values()


def test_the_check_is_skipped_without_hcp_a_token_or_an_address(settings: Any) -> None:
    settings.HCP_BASE_URL = ""
    assert "skipped" in check_hcp_subscription.run()
    settings.HCP_BASE_URL = "http://127.0.0.1:9"
    settings.PROPUSK_HCP_EVENTS_TOKEN = ""
    assert "PROPUSK_HCP_EVENTS_TOKEN" in check_hcp_subscription.run()["skipped"]
    settings.PROPUSK_HCP_EVENTS_TOKEN = TOKEN
    settings.PROPUSK_HCP_EVENTS_URL = ""
    settings.PROPUSK_SITE_URL = ""
    assert "PROPUSK_HCP_EVENTS_URL" in check_hcp_subscription.run()["skipped"]


def test_the_check_is_on_beats_schedule(settings: Any) -> None:
    from propusk.celery import app

    entries = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert "propusk.events.tasks.check_hcp_subscription" in entries
