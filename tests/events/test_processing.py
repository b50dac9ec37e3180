"""The processing state machine (events.processing, events.tasks): claim, done, retry with
backoff, FAILED after the limit (audited), the sweep, and "process again". The passage
handler is replaced here (its own tests are the passages app's): only what the intake does
with its answers and errors is under test."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.db import OperationalError
from django.utils import timezone

from hikcentral import GRANTED_BY_FACE
from propusk.audit.models import AuditEntry
from propusk.events import processing
from propusk.events.models import EventSource, EventState, HcpEvent
from propusk.events.processing import Outcome
from propusk.events.services import wake
from propusk.events.tasks import process_event, process_pending, sweep_pending_events

pytestmark = pytest.mark.django_db

HANDLER = "propusk.passages.handler.handle_event"


class PersonalDataError(Exception):
    pass


def _event(event_id: str = "ev-1", *, minutes_ago: float = 1.0, **fields: Any) -> HcpEvent:
    now = timezone.now()
    values: dict[str, Any] = {
        "event_id": event_id,
        "event_type": GRANTED_BY_FACE,
        "happened_at": now - timedelta(minutes=minutes_ago),
        "door_index_code": "1",
        "person_code": "PV7Q2K9D",
        "source": EventSource.PUSH,
        "received_at": now - timedelta(minutes=minutes_ago),
        **fields,
    }
    return HcpEvent.objects.create(**values)


@pytest.fixture
def handler() -> Iterator[mock.Mock]:
    with mock.patch(HANDLER, return_value=EventState.DONE) as patched:
        yield patched


@pytest.fixture
def retry_settings(settings: Any) -> Any:
    settings.PROPUSK_EVENTS_MAX_ATTEMPTS = 3
    settings.PROPUSK_EVENTS_RETRY_MIN_SECONDS = 5.0
    settings.PROPUSK_EVENTS_RETRY_MAX_SECONDS = 60.0
    return settings


def test_a_pending_event_is_processed_once(handler: mock.Mock) -> None:
    event = _event()

    assert processing.process(event.pk).outcome == Outcome.DONE
    assert processing.process(event.pk).outcome == Outcome.SKIPPED  # done: not taken again

    handler.assert_called_once()
    assert handler.call_args.args[0].pk == event.pk
    event.refresh_from_db()
    assert event.state == EventState.DONE
    assert event.processed_at is not None
    assert event.leased_until is None


def test_the_handler_may_answer_ignored(handler: mock.Mock) -> None:
    handler.return_value = EventState.IGNORED
    event = _event()
    assert processing.process(event.pk).outcome == Outcome.IGNORED
    event.refresh_from_db()
    assert event.state == EventState.IGNORED


def test_an_answer_that_is_neither_done_nor_ignored_is_a_failure(
    handler: mock.Mock, retry_settings: Any
) -> None:
    handler.return_value = EventState.PENDING
    event = _event()
    assert processing.process(event.pk).outcome == Outcome.RETRY
    event.refresh_from_db()
    assert event.state == EventState.PENDING
    assert event.attempts == 1


def test_a_claimed_event_is_not_taken_by_a_second_worker(handler: mock.Mock) -> None:
    event = _event()
    assert processing.claim(event.pk) is not None
    # Another worker (or the sweep) meanwhile: the lease holds it.
    assert processing.claim(event.pk) is None
    assert processing.process(event.pk).outcome == Outcome.SKIPPED
    handler.assert_not_called()
    assert event.pk not in processing.due_pending(limit=10, settle_seconds=0)


def test_a_lease_left_by_a_dead_worker_expires(handler: mock.Mock) -> None:
    event = _event(leased_until=timezone.now() - timedelta(seconds=1))
    assert processing.process(event.pk).outcome == Outcome.DONE


# Real commits (two threads, two connections); serialized_rollback puts back what the flush
# removes, as every transactional test here does (a later one would collide otherwise).
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_workers_at_once_process_an_event_once(handler: mock.Mock) -> None:
    event = _event()
    started = threading.Barrier(2)
    results: list[Outcome] = []

    def slow(event: HcpEvent) -> EventState:
        threading.Event().wait(0.2)
        return EventState.DONE

    handler.side_effect = slow

    def worker() -> None:
        from django.db import connection

        started.wait()
        try:
            results.append(processing.process(event.pk).outcome)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [Outcome.DONE, Outcome.SKIPPED]
    assert handler.call_count == 1


def test_a_failure_is_retried_with_backoff_and_no_personal_data_kept(
    handler: mock.Mock, retry_settings: Any
) -> None:
    handler.side_effect = PersonalDataError("Ерлан Сейткали 900101300123")
    event = _event()
    before = timezone.now()

    processed = processing.process(event.pk)

    assert processed.outcome == Outcome.RETRY
    assert processed.retry_in is not None
    assert 5.0 <= processed.retry_in <= 5.0
    event.refresh_from_db()
    assert event.state == EventState.PENDING
    assert event.attempts == 1
    assert event.last_error.endswith("PersonalDataError")
    assert "Сейткали" not in event.last_error
    assert "900101300123" not in event.last_error
    assert event.retry_at is not None
    assert event.retry_at >= before + timedelta(seconds=5)
    assert event.leased_until is None
    # Not due yet: neither a wake-up nor the sweep takes it early.
    assert processing.process(event.pk).outcome == Outcome.SKIPPED
    assert event.pk not in processing.due_pending(limit=10, settle_seconds=0)


def test_backoff_grows_exponentially_with_jitter_up_to_the_maximum(retry_settings: Any) -> None:
    for attempts, ceiling in ((1, 5.0), (2, 10.0), (3, 20.0), (4, 40.0), (5, 60.0), (9, 60.0)):
        delays = [processing.backoff_seconds(attempts) for _ in range(200)]
        assert all(5.0 <= delay <= ceiling for delay in delays)
        if ceiling > 5.0:
            assert len(set(delays)) > 100  # jittered, not in step


def test_failed_for_good_after_the_limit_and_audited(
    handler: mock.Mock, retry_settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    handler.side_effect = PersonalDataError("Айгерим Нурланова")
    event = _event()

    outcomes = []
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            outcomes.append(processing.process(event.pk).outcome)
            if outcomes[-1] == Outcome.RETRY:  # time passes until the next try
                HcpEvent.objects.filter(pk=event.pk).update(retry_at=timezone.now())

    assert outcomes == [Outcome.RETRY, Outcome.RETRY, Outcome.FAILED]
    event.refresh_from_db()
    assert event.state == EventState.FAILED
    assert event.attempts == 3
    assert event.retry_at is None
    assert processing.process(event.pk).outcome == Outcome.SKIPPED
    entry = AuditEntry.objects.get(action="events.failed")
    assert entry.target_id == str(event.pk)
    assert entry.changes["attempts"] == 3
    assert "Нурланова" not in str(entry.changes)
    assert "failed for good" in caplog.text
    assert "Нурланова" not in caplog.text


def test_process_again_requeues_a_failed_event_audited(handler: mock.Mock, admin_user: Any) -> None:
    event = _event(state=EventState.FAILED, attempts=8, last_error="builtins.RuntimeError")
    done = _event("ev-done", state=EventState.DONE)

    assert processing.process_again(event, actor=admin_user, reason="fixed")
    assert not processing.process_again(done, actor=admin_user)

    event.refresh_from_db()
    assert (event.state, event.attempts) == (EventState.PENDING, 0)
    assert AuditEntry.objects.filter(action="events.process_again").count() == 1
    assert processing.process(event.pk).outcome == Outcome.DONE


def test_the_task_processes_and_schedules_the_next_try(
    handler: mock.Mock, retry_settings: Any
) -> None:
    event = _event()
    handler.side_effect = RuntimeError("HCP busy")
    with mock.patch.object(process_event, "apply_async") as later:
        result = process_event.run(event.pk)
    assert result["outcome"] == Outcome.RETRY
    later.assert_called_once()
    assert later.call_args.args[0] == (event.pk,)
    assert 5.0 <= later.call_args.kwargs["countdown"] <= 5.0


def test_the_sweep_takes_lost_and_due_events_oldest_first_in_bounded_batches(
    handler: mock.Mock, settings: Any
) -> None:
    settings.PROPUSK_EVENTS_SWEEP_BATCH = 2
    seen: list[str] = []
    handler.side_effect = lambda event, *looked_up: seen.append(event.event_id) or EventState.DONE
    newest = _event("ev-newest", minutes_ago=1)
    oldest = _event("ev-oldest", minutes_ago=30)
    middle = _event("ev-middle", minutes_ago=10)
    _event("ev-just-stored", minutes_ago=0)  # its own wake-up is on its way
    _event("ev-later", minutes_ago=20, retry_at=timezone.now() + timedelta(minutes=5))
    _event("ev-held", minutes_ago=40, leased_until=timezone.now() + timedelta(minutes=5))
    _event("ev-done", minutes_ago=50, state=EventState.DONE)

    first = sweep_pending_events.run()
    second = sweep_pending_events.run()

    assert seen == [oldest.event_id, middle.event_id, newest.event_id]
    assert first == {Outcome.DONE: 2}
    assert second == {Outcome.DONE: 1}
    assert sweep_pending_events.run() == {}


def test_a_retry_that_is_due_is_swept(handler: mock.Mock) -> None:
    event = _event(attempts=2, retry_at=timezone.now() - timedelta(seconds=1))
    assert sweep_pending_events.run() == {Outcome.DONE: 1}
    event.refresh_from_db()
    assert event.state == EventState.DONE


def test_a_transient_database_error_retries_the_task(handler: mock.Mock) -> None:
    event = _event()
    broken: Callable[..., Any] = mock.Mock(side_effect=OperationalError("database is locked"))
    with mock.patch.object(processing, "claim", broken), pytest.raises(OperationalError):
        processing.process(event.pk)
    assert OperationalError in process_event.autoretry_for


def test_one_drain_is_queued_at_a_time_and_a_started_drain_lets_the_next_wake(
    handler: mock.Mock,
) -> None:
    with mock.patch.object(process_pending, "delay") as queued:
        wake([1])
        wake([2, 3])
        assert queued.call_count == 1  # one waits in the broker: it will see all three
        process_pending.run()  # it starts (and finds nothing to do here)
        wake([4])
        assert queued.call_count == 2


def test_the_drain_processes_every_pending_event_oldest_first(handler: mock.Mock) -> None:
    seen: list[str] = []
    handler.side_effect = lambda event, *looked_up: seen.append(event.event_id) or EventState.DONE
    for number, minutes in enumerate((1, 30, 10, 0)):
        _event(f"ev-{number}", minutes_ago=minutes)
    _event("ev-later", retry_at=timezone.now() + timedelta(minutes=5))

    counts = process_pending.run()

    assert seen == ["ev-1", "ev-2", "ev-0", "ev-3"]  # stored just now too: it is the wake-up
    assert counts == {Outcome.DONE: 4}
    assert HcpEvent.objects.filter(state=EventState.PENDING).count() == 1


def test_a_drain_hands_over_when_its_time_is_up(handler: mock.Mock) -> None:
    for number in range(3):
        _event(f"ev-{number}")
    with (
        mock.patch("propusk.events.tasks.PROCESS_PENDING_BUDGET_SECONDS", 0.0),
        mock.patch.object(process_pending, "delay") as queued,
    ):
        assert process_pending.run() == {}
    queued.assert_called_once()  # the rest is the next drain's, behind what else waits
    assert HcpEvent.objects.filter(state=EventState.PENDING).count() == 3


def test_events_that_may_concern_a_visit_go_first(handler: mock.Mock) -> None:
    seen: list[str] = []
    handler.side_effect = lambda event, *looked_up: seen.append(event.event_id) or EventState.DONE
    _event("staff-old", minutes_ago=30, priority=1)
    _event("visitor", minutes_ago=1, priority=0)
    _event("unknown-face", minutes_ago=5, priority=0)
    _event("staff-new", minutes_ago=2, priority=1)

    process_pending.run()

    assert seen == ["unknown-face", "visitor", "staff-old", "staff-new"]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_drains_at_once_take_each_event_once(handler: mock.Mock) -> None:
    for number in range(60):
        _event(f"ev-{number:02d}", minutes_ago=60 - number)
    started = threading.Barrier(2)
    seen: list[str] = []
    lock = threading.Lock()

    def slow(event: HcpEvent, *looked_up: Any) -> EventState:
        threading.Event().wait(0.005)
        with lock:
            seen.append(event.event_id)
        return EventState.DONE

    handler.side_effect = slow

    def drain() -> None:
        from django.db import connection

        started.wait()
        try:
            process_pending.run()
        finally:
            connection.close()

    threads = [threading.Thread(target=drain) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(seen) == [f"ev-{number:02d}" for number in range(60)]  # each once
    assert set(HcpEvent.objects.values_list("state", flat=True)) == {EventState.DONE}
    assert not HcpEvent.objects.exclude(leased_until=None).exists()


def test_a_batch_claims_due_events_in_order_and_leaves_the_rest(handler: mock.Mock) -> None:
    for number in range(4):
        _event(f"ev-{number}", minutes_ago=10 - number)
    _event("held", leased_until=timezone.now() + timedelta(minutes=5))
    _event("later", retry_at=timezone.now() + timedelta(minutes=5))
    _event("done", state=EventState.DONE)

    taken = processing.claim_due(limit=3)

    assert [event.event_id for event in taken] == ["ev-0", "ev-1", "ev-2"]
    assert all(event.leased_until is not None for event in taken)
    assert [event.event_id for event in processing.claim_due(limit=10)] == ["ev-3"]
    assert processing.claim_due(limit=10) == []


def test_a_batch_records_each_outcome_and_retries_only_the_failed(
    handler: mock.Mock, retry_settings: Any
) -> None:
    answers = {"a": EventState.DONE, "b": EventState.IGNORED}

    def answer(event: HcpEvent, *looked_up: Any) -> EventState:
        if event.event_id == "c":
            raise PersonalDataError("Айгерим Нурланова")
        return answers[event.event_id]

    handler.side_effect = answer
    for name in ("a", "b", "c"):
        _event(name)

    results = processing.process_batch(processing.claim_due(limit=10))

    assert sorted(r.outcome for r in results.values()) == sorted(
        [Outcome.DONE, Outcome.IGNORED, Outcome.RETRY]
    )
    states = dict(HcpEvent.objects.values_list("event_id", "state"))
    assert states == {"a": EventState.DONE, "b": EventState.IGNORED, "c": EventState.PENDING}
    failed = HcpEvent.objects.get(event_id="c")
    assert failed.attempts == 1
    assert failed.retry_at is not None
    assert failed.leased_until is None
    assert "Нурланова" not in failed.last_error


def test_a_slow_batch_renews_its_leases_so_no_other_worker_takes_its_events(
    settings: Any,
) -> None:
    """The lease is short (a killed worker's events come back soon); a batch still at work
    when half of it is spent renews it for all its events, those handled but not yet
    recorded included, so a second worker's claim finds none of them."""
    settings.PROPUSK_EVENTS_LEASE_SECONDS = 0.6
    for number in range(3):
        _event(f"ev-{number}", minutes_ago=10 - number)
    taken = processing.claim_due(limit=3)
    seen_by_another_worker: list[list[HcpEvent]] = []

    def slow_handler(event: HcpEvent, looked_up: object = None) -> EventState:
        threading.Event().wait(0.35)  # the database is slow today
        seen_by_another_worker.append(processing.claim_due(limit=10))
        return EventState.DONE

    with mock.patch(HANDLER, side_effect=slow_handler):
        results = processing.process_batch(taken)

    assert [result.outcome for result in results.values()] == [Outcome.DONE] * 3
    assert seen_by_another_worker == [[], [], []]
    assert set(HcpEvent.objects.values_list("state", flat=True)) == {EventState.DONE}


def test_the_lease_is_the_setting(settings: Any) -> None:
    settings.PROPUSK_EVENTS_LEASE_SECONDS = 45.0
    _event("ev-1")
    before = timezone.now()

    (event,) = processing.claim_due(limit=1)

    assert event.leased_until is not None
    assert before + timedelta(seconds=44) <= event.leased_until
    assert event.leased_until <= timezone.now() + timedelta(seconds=45)
