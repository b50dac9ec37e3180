"""Passage pictures fetched by a drain (passages.tasks.fetch_pending_pictures): one wake-up per
burst, a time budget, backoff on a transient HCP error, FAILED on a permanent one, a claim two
drains never share, a lost lease the sweep hands to a new drain, and no fetch of a picture
deleted with the visitor's face. The pictures come from the real simulator over HTTP; the
client is only watched (a spy that calls through), never replaced."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
import time_machine
from django.db import connection
from django.test import TestCase
from django.utils import timezone

from hikcentral import HikCentralClient
from propusk.events import tasks as event_tasks
from propusk.events.models import EventSource, HcpEvent
from propusk.events.services import store_events
from propusk.passages import pictures, tasks
from propusk.passages.models import Passage, PictureState
from propusk.passages.services import delete_visitor_pictures
from propusk.visits.models import Visit
from tests.access.conftest import ENTRANCE
from tests.passages.conftest import Turnstile

pytestmark = pytest.mark.django_db

JPEG = b"\xff\xd8\xff"


@pytest.fixture
def fetches(hcp_settings: Any) -> Iterator[list[str]]:
    """The picture URIs the drain asked HCP (the simulator) for, in order; the calls go
    through to it."""
    asked: list[str] = []
    lock = threading.Lock()
    original = HikCentralClient.event_picture

    def spy(self: HikCentralClient, pic_uri: str) -> bytes:
        with lock:
            asked.append(pic_uri)
        return original(self, pic_uri)

    with mock.patch.object(HikCentralClient, "event_picture", spy):
        yield asked


@pytest.fixture
def wakes() -> Iterator[mock.Mock]:
    """The drain's wake-ups (fetch_pending_pictures.delay), counted instead of queued."""
    with mock.patch.object(tasks.fetch_pending_pictures, "delay") as queued:
        yield queued


def unknown_faces(turnstile: Turnstile, count: int, door: str = ENTRANCE) -> list[Passage]:
    """``count`` faces nobody recognised at the door, each recorded as the handler does."""
    events = [turnstile.pass_(door, unknown_face=True) for _ in range(count)]
    passages = list(Passage.objects.filter(event__in=events).order_by("pk"))
    assert len(passages) == count
    assert {p.picture_state for p in passages} == {PictureState.PENDING}
    return passages


def states(passages: list[Passage]) -> list[str]:
    return [Passage.objects.get(pk=p.pk).picture_state for p in passages]


def uri_of(passage: Passage) -> str:
    return HcpEvent.objects.get(pk=passage.event_id).pic_uri


def test_the_drain_fetches_every_due_picture_from_hcp(
    turnstile: Turnstile, fetches: list[str], wakes: mock.Mock
) -> None:
    passages = unknown_faces(turnstile, 3)

    counts = tasks.fetch_pending_pictures.run()

    assert counts == {PictureState.STORED: 3}
    assert sorted(fetches) == sorted(uri_of(p) for p in passages)  # each once
    for passage in passages:
        passage.refresh_from_db()
        assert passage.picture_state == PictureState.STORED
        assert passage.picture_due_at is None
        assert passage.picture_attempts == 1
        with passage.picture.open("rb") as stored:
            assert stored.read()[:3] == JPEG
    # Nothing is left to fetch: a second drain asks HCP for nothing.
    assert tasks.fetch_pending_pictures.run() == {}
    assert len(fetches) == 3
    wakes.assert_not_called()


def test_a_burst_of_passages_queues_one_drain_not_a_task_each(
    turnstile: Turnstile, hcp: HikCentralClient, wakes: mock.Mock
) -> None:
    """30 faces nobody recognised arrive at once (as the polling backfill stores them) and
    the inbox's drain records their passages: one picture drain is queued for all."""
    started = timezone.now() - timedelta(seconds=5)
    for _ in range(30):
        turnstile.attempt(ENTRANCE, unknown_face=True)
    events = list(hcp.search_door_events(started, timezone.now() + timedelta(seconds=5)))
    assert len(events) == 30
    with (
        mock.patch.object(event_tasks.process_pending, "delay"),
        mock.patch.object(tasks.fetch_picture, "delay") as per_passage,
        TestCase.captureOnCommitCallbacks(execute=True),
    ):
        assert store_events(events, source=EventSource.POLL).pending == 30
        event_tasks.process_pending.run()
    assert Passage.objects.filter(picture_state=PictureState.PENDING).count() == 30
    per_passage.assert_not_called()
    assert wakes.call_count == 1

    # A drain that starts takes the mark: a passage recorded while it runs wakes the next.
    tasks.fetch_pending_pictures.run()
    assert Passage.objects.filter(picture_state=PictureState.STORED).count() == 30
    with TestCase.captureOnCommitCallbacks(execute=True):
        turnstile.pass_(ENTRANCE, unknown_face=True)
    assert wakes.call_count == 2


def test_a_drain_hands_over_when_its_time_is_up(
    turnstile: Turnstile, fetches: list[str], wakes: mock.Mock
) -> None:
    passages = unknown_faces(turnstile, 4)

    with mock.patch.object(tasks, "PICTURES_BUDGET_SECONDS", 0.0):
        assert tasks.fetch_pending_pictures.run() == {PictureState.STORED: 1}

    assert len(fetches) == 1  # one attempt at least, then the time is up
    assert sorted(states(passages)) == [PictureState.PENDING] * 3 + [PictureState.STORED]
    wakes.assert_called_once()  # the rest is the next drain's, behind what else waits
    # What it took and did not try is due again at once, not held until its lease ends.
    now = timezone.now()
    left = Passage.objects.filter(picture_state=PictureState.PENDING)
    assert all(p.picture_due_at is not None and p.picture_due_at <= now for p in left)
    assert {p.picture_attempts for p in left} == {0}

    assert tasks.fetch_pending_pictures.run() == {PictureState.STORED: 3}
    assert states(passages) == [PictureState.STORED] * 4
    assert len(fetches) == 4


def test_a_transient_failure_is_due_later_with_backoff_and_stops_the_drain(
    turnstile: Turnstile, fetches: list[str], wakes: mock.Mock
) -> None:
    passages = unknown_faces(turnstile, 3)
    turnstile.sim.control.add_fault("http", path="*event/pictures", status=503)

    before = timezone.now()
    assert tasks.fetch_pending_pictures.run() == {"retry": 1}
    after = timezone.now()

    assert len(fetches) == 1  # HCP is down: the drain stops instead of trying the others
    tried = Passage.objects.get(pk=passages[0].pk)
    assert (tried.picture_state, tried.picture_attempts) == (PictureState.PENDING, 1)
    assert tried.picture_error == "HCPServerError"
    assert tried.picture_due_at is not None
    # The first backoff: PROPUSK_PASSAGE_PICTURE_RETRY_MIN_SECONDS (5 s).
    assert before + timedelta(seconds=5) <= tried.picture_due_at <= after + timedelta(seconds=5)
    for untried in Passage.objects.filter(pk__in=[p.pk for p in passages[1:]]):
        assert untried.picture_attempts == 0
        assert untried.picture_due_at is not None
        assert untried.picture_due_at > after

    # Not due yet: a drain now (a new passage's wake-up) asks HCP nothing.
    assert tasks.fetch_pending_pictures.run() == {}
    assert len(fetches) == 1

    turnstile.sim.control.clear_faults()
    with time_machine.travel(after + timedelta(seconds=6)):
        assert tasks.fetch_pending_pictures.run() == {PictureState.STORED: 3}
    assert states(passages) == [PictureState.STORED] * 3
    wakes.assert_not_called()


def test_the_backoff_doubles_with_jitter_up_to_its_ceiling(settings: Any) -> None:
    settings.PROPUSK_PASSAGE_PICTURE_RETRY_MIN_SECONDS = 5.0
    settings.PROPUSK_PASSAGE_PICTURE_RETRY_MAX_SECONDS = 300.0
    for attempts, low, high in ((1, 5, 5), (2, 5, 10), (3, 10, 20), (5, 40, 80), (12, 150, 300)):
        waits = {pictures.backoff_seconds(attempts) for _ in range(50)}
        assert all(low <= wait <= high for wait in waits), (attempts, waits)
        if high > low:
            assert len(waits) > 1  # jittered


def test_a_permanent_error_fails_the_picture_at_once_and_the_drain_goes_on(
    turnstile: Turnstile, fetches: list[str]
) -> None:
    passages = unknown_faces(turnstile, 2)
    turnstile.sim.control.add_fault("http", path="*event/pictures", status=404, count=1)

    with mock.patch.object(tasks.fetch_pending_pictures, "delay"):
        counts = tasks.fetch_pending_pictures.run()

    assert counts == {PictureState.FAILED: 1, PictureState.STORED: 1}
    failed = Passage.objects.get(picture_state=PictureState.FAILED)
    assert (failed.picture_attempts, failed.picture_due_at) == (1, None)
    assert failed.picture_error == "HCPUnsupported"
    assert not failed.picture
    assert len(fetches) == 2
    assert sorted(states(passages)) == [PictureState.FAILED, PictureState.STORED]


def test_a_picture_hcp_never_gives_ends_failed_after_the_retries(
    hcp_settings: Any, turnstile: Turnstile, fetches: list[str], wakes: mock.Mock
) -> None:
    hcp_settings.PROPUSK_PASSAGE_PICTURE_RETRIES = 2
    (passage,) = unknown_faces(turnstile, 1)
    turnstile.sim.control.add_fault("http", path="*event/pictures", status=503)

    moment = timezone.now()
    for _ in range(3):  # the first try and two retries, each when it is due
        with time_machine.travel(moment):
            tasks.fetch_pending_pictures.run()
        moment += timedelta(seconds=25)  # past the longest backoff of two retries (20 s)

    passage.refresh_from_db()
    assert passage.picture_state == PictureState.FAILED
    assert passage.picture_attempts == 3
    assert passage.picture_error == "HCPServerError"
    assert passage.picture_due_at is None
    assert not passage.picture
    with time_machine.travel(moment):
        assert tasks.fetch_pending_pictures.run() == {}  # given up: never asked again
    assert len(fetches) == 3


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_drains_at_once_fetch_each_picture_once(
    turnstile: Turnstile, fetches: list[str], wakes: mock.Mock
) -> None:
    passages = unknown_faces(turnstile, 24)
    ready = threading.Barrier(2)
    errors: list[BaseException] = []

    def drain() -> None:
        ready.wait()
        try:
            tasks.fetch_pending_pictures.run()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=drain) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(fetches) == sorted(uri_of(p) for p in passages)  # each once
    assert states(passages) == [PictureState.STORED] * 24
    assert {p.picture_attempts for p in Passage.objects.all()} == {1}


def test_a_lost_lease_is_picked_up_by_the_sweep(
    turnstile: Turnstile, fetches: list[str], wakes: mock.Mock
) -> None:
    passages = unknown_faces(turnstile, 2)
    taken = pictures.claim_due(limit=10)  # a drain took them, and its worker died
    assert sorted(job.passage_id for job in taken) == [p.pk for p in passages]

    # Held by the lease: neither a drain nor the sweep takes them.
    assert tasks.fetch_pending_pictures.run() == {}
    assert tasks.sweep.run()["picture_drain_woken"] == 0
    wakes.assert_not_called()

    with time_machine.travel(taken[0].lease + timedelta(seconds=1)):
        assert tasks.sweep.run()["picture_drain_woken"] == 1
        wakes.assert_called_once()
        assert tasks.fetch_pending_pictures.run() == {PictureState.STORED: 2}
    assert len(fetches) == 2
    assert states(passages) == [PictureState.STORED] * 2


def test_a_lost_wake_up_is_made_good_by_the_sweep(
    turnstile: Turnstile, fetches: list[str], wakes: mock.Mock
) -> None:
    """The broker was down when the passage was recorded: the sweep wakes the drain."""
    unknown_faces(turnstile, 1)
    assert tasks.sweep.run()["picture_drain_woken"] == 1
    assert wakes.call_count == 1
    tasks.sweep.run()  # the wake-up still waits in the broker: not another one
    assert wakes.call_count == 1


def test_a_visitors_deleted_pictures_are_never_fetched(
    enrolled: Callable[..., Visit], turnstile: Turnstile, fetches: list[str], wakes: mock.Mock
) -> None:
    """Deleted before a drain ran, or between a drain's claim and its fetch: not fetched."""
    visit = enrolled()
    first = Passage.objects.get(event=turnstile.pass_(ENTRANCE, visit=visit))
    assert first.picture_state == PictureState.PENDING
    delete_visitor_pictures(visit.visitor_id)
    assert tasks.fetch_pending_pictures.run() == {}

    second = Passage.objects.get(event=turnstile.pass_(ENTRANCE, visit=visit))
    claim = pictures.claim_due

    def claim_then_delete(**kwargs: Any) -> list[pictures.PictureJob]:
        taken = claim(**kwargs)
        if taken:  # the face is deleted while the drain holds the picture
            delete_visitor_pictures(visit.visitor_id)
        return taken

    with mock.patch.object(pictures, "claim_due", claim_then_delete):
        tasks.fetch_pending_pictures.run()

    assert fetches == []
    for passage in (first, second):
        passage.refresh_from_db()
        assert (passage.picture_state, passage.picture.name) == (PictureState.DELETED, "")
        assert passage.picture_attempts == 0


def test_a_task_of_the_previous_version_only_wakes_the_drain(
    turnstile: Turnstile, fetches: list[str], wakes: mock.Mock
) -> None:
    (passage,) = unknown_faces(turnstile, 1)
    tasks.fetch_picture.run(passage.pk)
    wakes.assert_called_once()
    assert fetches == []


def test_an_outage_longer_than_the_retries_fails_no_picture(
    hcp_settings: Any,
    turnstile: Turnstile,
    fetches: list[str],
    wakes: mock.Mock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Refusals by the open circuit breaker send nothing and count no attempt: HCP down for
    longer than the retries' backoff loses no picture; they come when it answers again."""
    from propusk.access import reconciler

    hcp_settings.HCP_CIRCUIT_BREAKER_FAILURES = 1
    hcp_settings.HCP_CIRCUIT_BREAKER_COOLDOWN_SECONDS = 1.0
    hcp_settings.PROPUSK_PASSAGE_PICTURE_RETRIES = 1
    monkeypatch.setattr(reconciler, "_client", None)  # the worker's client, these settings
    passages = unknown_faces(turnstile, 2)
    turnstile.sim.control.add_fault("http", path="*event/pictures", status=503)

    assert tasks.fetch_pending_pictures.run() == {"retry": 1}  # one call went out, failed
    for _ in range(5):  # the sweep's wake-ups during the outage: the breaker refuses
        Passage.objects.update(picture_due_at=timezone.now())
        assert tasks.fetch_pending_pictures.run() == {"retry": 1}
    assert len(fetches) == 6
    for passage in Passage.objects.filter(pk__in=[p.pk for p in passages]):
        assert passage.picture_state == PictureState.PENDING
        assert passage.picture_attempts <= 1  # only the call that went out counts
        assert passage.picture_due_at is not None

    turnstile.sim.control.clear_faults()
    time.sleep(1.1)  # the breaker's cool-down: the next call is its probe
    Passage.objects.update(picture_due_at=timezone.now())
    assert tasks.fetch_pending_pictures.run() == {PictureState.STORED: 2}
    assert states(passages) == [PictureState.STORED] * 2
