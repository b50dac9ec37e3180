"""The intake end to end over real HTTP: the simulator subscribed by `hcp_events`, pushing to
a live test server, and read back by the polling backfill. Passages are made at the
simulator's turnstiles (unknown faces: the intake stores what HCP sends whoever it names;
what a passage means for a visit is the passage handler's, tested in tests/passages)."""

from __future__ import annotations

import dataclasses
import io
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from hcp_simulator.testing import SimulatorHandle
from hikcentral import HikCentralClient
from propusk.events import polling
from propusk.events.models import EventSource, EventState, HcpEvent, PollCursor
from propusk.events.subscription import SUBSCRIBED_EVENT_TYPES
from propusk.events.tasks import poll_hcp_events
from propusk.integrations.hikcentral.factory import build_client, build_config
from tests.events.conftest import TOKEN

pytestmark = [
    pytest.mark.simulator,
    # live_server needs real commits; serialized_rollback puts back what the flush after each
    # test removes (the role groups, and content types with their first ids: without it a
    # later serialized_rollback test collides with the ones the flush made again).
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

DOORS = ("1", "2", "3")


def _wait(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.fixture
def receiver(hcp_settings: Any, live_server: Any) -> Any:
    """The app at a live server, HCP configured, the webhook's address known."""
    hcp_settings.PROPUSK_HCP_EVENTS_URL = live_server.url
    hcp_settings.PROPUSK_HCP_EVENTS_OVERLAP_MINUTES = 10.0
    hcp_settings.PROPUSK_HCP_EVENTS_BACKFILL_HOURS = 24.0
    return hcp_settings


def _command(*args: str) -> str:
    out = io.StringIO()
    call_command("hcp_events", *args, stdout=out)
    return out.getvalue()


def _pass(site: SimulatorHandle, door: str = "1", *, at: datetime | None = None) -> str:
    return site.control.passage(door, unknown_face=True, at=at).event_id


def _poll(now: datetime | None = None, **config: Any) -> polling.PollResult:
    client = HikCentralClient(dataclasses.replace(build_config(), **config))
    with client:
        return polling.poll(client, now=now)


def test_subscribe_view_unsubscribe_and_a_push_arrives(
    site: SimulatorHandle, receiver: Any
) -> None:
    said = _command("subscribe")
    assert "/hcp/events/<token>/" in said
    assert TOKEN not in said
    (sub,) = site.control.state()["subscriptions"]
    assert sub["eventDest"] == f"{receiver.PROPUSK_HCP_EVENTS_URL}/hcp/events/{TOKEN}/"
    assert tuple(sub["eventTypes"]) == SUBSCRIBED_EVENT_TYPES

    shown = _command("view")
    assert "<token>" in shown
    assert "(ours)" in shown
    assert TOKEN not in shown

    event_id = _pass(site)
    assert _wait(lambda: HcpEvent.objects.filter(event_id=event_id).exists())
    event = HcpEvent.objects.get(event_id=event_id)
    assert event.source == EventSource.PUSH
    assert event.event_type == 197160  # a face the turnstile did not recognise
    assert event.door_index_code == "1"
    assert event.state in (EventState.PENDING, EventState.DONE, EventState.IGNORED)

    assert "Unsubscribed" in _command("unsubscribe")
    assert site.control.state()["subscriptions"] == []
    assert "nothing to unsubscribe" in _command("unsubscribe")


def test_subscribe_refuses_without_a_token(site: SimulatorHandle, receiver: Any) -> None:
    receiver.PROPUSK_HCP_EVENTS_TOKEN = ""
    with pytest.raises(CommandError, match="PROPUSK_HCP_EVENTS_TOKEN"):
        _command("subscribe")
    assert site.control.state()["subscriptions"] == []


def test_a_passage_pushed_and_polled_is_one_event(site: SimulatorHandle, receiver: Any) -> None:
    _command("subscribe")
    event_id = _pass(site, "2")
    assert _wait(lambda: HcpEvent.objects.filter(event_id=event_id).exists())

    result = _poll()

    assert result.complete
    assert result.read == 1
    assert result.stored == 0
    event = HcpEvent.objects.get()
    assert (event.event_id, event.source) == (event_id, EventSource.PUSH)


def test_backfill_after_a_receiver_outage_recovers_everything_exactly_once(
    site: SimulatorHandle, receiver: Any
) -> None:
    _command("subscribe")
    before = _pass(site)
    assert _wait(lambda: HcpEvent.objects.filter(event_id=before).exists())

    # The receiver refuses every push (as if down): HCP keeps them and backs off.
    receiver.PROPUSK_HCP_EVENTS_TOKEN = "another-token-another-token-0000"
    missed = [_pass(site, DOORS[i % 3]) for i in range(25)]
    assert _wait(lambda: site.control.state()["push"][0]["failedAttempts"] > 0)
    assert not HcpEvent.objects.filter(event_id__in=missed).exists()

    # Back: the next poll reads every missed passage.
    receiver.PROPUSK_HCP_EVENTS_TOKEN = TOKEN
    result = _poll()
    assert result.complete
    assert result.stored == 25
    assert set(
        HcpEvent.objects.filter(source=EventSource.POLL).values_list("event_id", flat=True)
    ) == set(missed)

    # HCP then delivers its backlog: nothing is stored twice.
    site.control.retry_push()
    assert _wait(lambda: site.control.state()["push"][0]["buffered"] == 0)
    assert HcpEvent.objects.count() == 26
    assert HcpEvent.objects.filter(source=EventSource.POLL).count() == 25


def test_the_cursor_moves_to_the_read_end_and_the_overlap_is_read_again(
    site: SimulatorHandle, receiver: Any
) -> None:
    now = timezone.now()
    first = _poll(now=now)
    assert first.complete
    assert first.start == now - timedelta(hours=24)
    assert PollCursor.objects.get().read_until == now

    # Events HCP records late (a device uploading its backlog): inside the overlap they are
    # read by the next run; one older than the overlap is not (that is the overlap's size).
    late = _pass(site, at=now - timedelta(minutes=5))
    too_late = _pass(site, at=now - timedelta(minutes=30))
    fresh = _pass(site, at=now + timedelta(seconds=30))

    later = now + timedelta(minutes=1)
    second = _poll(now=later)

    assert second.start == now - timedelta(minutes=10)
    assert second.end == later
    stored = set(HcpEvent.objects.values_list("event_id", flat=True))
    assert {late, fresh} <= stored
    assert too_late not in stored
    assert PollCursor.objects.get().read_until == later

    # Read again: nothing new.
    assert _poll(now=later + timedelta(minutes=1)).stored == 0


def test_the_first_run_reads_back_the_configured_hours_across_windows(
    site: SimulatorHandle, receiver: Any
) -> None:
    receiver.PROPUSK_HCP_EVENTS_BACKFILL_HOURS = 40 * 24.0  # more than HCP's 31 days a call
    now = timezone.now()
    old = _pass(site, "3", at=now - timedelta(days=35))
    recent = _pass(site, "1", at=now - timedelta(days=2))
    outside = _pass(site, "1", at=now - timedelta(days=41))

    result = _poll(now=now)

    assert result.complete
    stored = set(HcpEvent.objects.values_list("event_id", flat=True))
    assert {old, recent} <= stored
    assert outside not in stored


def test_every_page_is_read(site: SimulatorHandle, receiver: Any) -> None:
    ids = [_pass(site, DOORS[i % 3]) for i in range(23)]

    result = _poll(page_size=5)

    assert result.complete
    assert result.read == 23
    assert sorted(HcpEvent.objects.values_list("event_id", flat=True)) == sorted(ids)
    assert HcpEvent.objects.filter(source=EventSource.POLL).count() == 23


def test_an_hcp_error_leaves_the_cursor(site: SimulatorHandle, receiver: Any) -> None:
    now = timezone.now()
    assert _poll(now=now).complete
    event_id = _pass(site)
    site.control.add_fault("http", path="/api/acs/v1/door/events", status=500)

    result = _poll(now=now + timedelta(minutes=1))

    assert not result.complete
    assert result.error
    cursor = PollCursor.objects.get()
    assert cursor.read_until == now
    assert cursor.last_error == result.error
    assert not HcpEvent.objects.exists()

    site.control.clear_faults()
    retried = _poll(now=now + timedelta(minutes=2))
    assert retried.complete
    assert retried.start == now - timedelta(minutes=10)  # from where it was
    assert HcpEvent.objects.filter(event_id=event_id).exists()


def test_the_beat_task_polls_through_the_shared_client(
    site: SimulatorHandle, receiver: Any
) -> None:
    event_id = _pass(site)
    summary = poll_hcp_events.run()
    assert summary["complete"] is True
    assert HcpEvent.objects.filter(event_id=event_id, source=EventSource.POLL).exists()


def test_the_beat_task_is_skipped_without_hcp(settings: Any, db: None) -> None:
    settings.HCP_BASE_URL = ""
    assert poll_hcp_events.run() == {"skipped": "no HikCentral configured"}
    assert not PollCursor.objects.exists()


def test_build_client_is_what_the_command_uses(site: SimulatorHandle, receiver: Any) -> None:
    with build_client() as client:
        assert client.view_subscriptions() == []
    assert "HCP pushes no events anywhere." in _command("view")


def test_more_than_ten_doors_are_all_read(site: SimulatorHandle, receiver: Any) -> None:
    for number in range(5, 14):  # the demo site's 4 doors and 9 more: HCP takes 10 a call
        site.control.add_door(str(number), f"Турникет {number}")
    ids = [_pass(site, str(number)) for number in (1, 7, 13)]

    result = _poll()

    assert result.complete
    assert set(HcpEvent.objects.values_list("event_id", flat=True)) == set(ids)
    assert set(HcpEvent.objects.values_list("door_index_code", flat=True)) == {"1", "7", "13"}
