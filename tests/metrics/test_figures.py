"""Each metric follows the rows it is read from: visits, access work, events, deliveries,
incidents, the circuit breaker - made through the services where there is one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib import metadata

import pytest
import time_machine
from django.contrib.auth.models import User

from hikcentral.errors import TransientError
from hikcentral.models import DoorEvent
from propusk.access.models import AccessWork, WorkState
from propusk.events.models import EventSource, EventState, HcpEvent, PollCursor
from propusk.events.polling import CURSOR_NAME
from propusk.events.services import store_events
from propusk.integrations.hikcentral.breaker import build_circuit_breaker
from propusk.metrics import views
from propusk.notifications.kinds import Kind
from propusk.notifications.models import Delivery, DeliveryStatus
from propusk.notifications.services import notify
from propusk.passages.models import Incident, IncidentKind, IncidentState
from propusk.visits import services as visit_services
from propusk.visits.models import Visit
from tests.metrics.conftest import Scrape

pytestmark = pytest.mark.django_db

Scraper = Callable[[], Scrape]
MakeVisit = Callable[..., Visit]
# A working day at the site (Asia/Almaty, UTC+5): 11:00 local.
T0 = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def test_access_work_by_priority_age_and_failure(
    scrape: Scraper, make_visit: MakeVisit, reception: User, clock
):
    before = scrape()
    assert before.value("propusk_access_work_pending", priority="grant") == 0
    assert before.value("propusk_access_work_failed") == 0

    visit = make_visit(start=T0 - timedelta(minutes=5))  # HCP not configured: the work waits
    after = scrape()
    assert after.value("propusk_access_work_pending", priority="grant") == 1
    assert after.value("propusk_access_work_due", priority="grant") == 1
    assert after.value("propusk_access_work_pending", priority="revoke") == 0

    visit_services.cancel(visit=visit, actor=reception, reason="Встреча перенесена")
    clock.shift(timedelta(seconds=90))
    cancelled = scrape()
    assert cancelled.value("propusk_access_work_pending", priority="revoke") == 1
    assert cancelled.value("propusk_access_work_pending", priority="grant") == 0
    assert cancelled.value("propusk_access_work_oldest_due_age_seconds", priority="revoke") == 90
    assert cancelled.value("propusk_access_work_oldest_due_age_seconds", priority="grant") == 0

    AccessWork.objects.update(state=WorkState.FAILED)
    failed = scrape()
    assert failed.value("propusk_access_work_failed") == 1
    assert failed.value("propusk_access_work_pending", priority="revoke") == 0


def test_a_revocation_becomes_overdue_after_the_threshold(
    scrape: Scraper, make_visit: MakeVisit, reception: User, clock, settings
):
    settings.PROPUSK_METRICS_REVOKE_OVERDUE_SECONDS = 30
    visit = make_visit(start=T0 - timedelta(minutes=30))
    visit_services.check_in(visit=visit, actor=reception)
    visit_services.check_out(visit=visit, actor=reception)  # access should end now: T0

    clock.shift(timedelta(seconds=10))
    soon = scrape()
    assert soon.value("propusk_access_revocations_unconfirmed") == 1
    assert soon.value("propusk_access_revocations_overdue") == 0
    assert soon.value("propusk_access_revocation_oldest_unconfirmed_age_seconds") == 10
    assert soon.value("propusk_access_revocation_overdue_threshold_seconds") == 30

    clock.shift(timedelta(seconds=21))
    late = scrape()
    assert late.value("propusk_access_revocations_overdue") == 1
    assert late.value("propusk_access_revocation_oldest_unconfirmed_age_seconds") == 31

    # HCP confirms (as the reconciler records it): no longer unconfirmed nor overdue.
    Visit.objects.filter(pk=visit.pk).update(access_revoked_at=T0 + timedelta(seconds=31))
    done = scrape()
    assert done.value("propusk_access_revocations_unconfirmed") == 0
    assert done.value("propusk_access_revocations_overdue") == 0
    assert done.value("propusk_access_revocation_oldest_unconfirmed_age_seconds") == 0
    assert done.value("propusk_access_revocations_confirmed", window="1h") == 1


def test_time_to_revoke_buckets_sum_and_worst_per_window(
    scrape: Scraper, make_visit: MakeVisit, clock
):
    # (seconds to revoke, confirmed how long before the scrape)
    cases = [(0.5, 60), (3, 120), (3, 600), (45, 1800), (400, 7200)]
    for seconds, ago in cases:
        visit = make_visit(start=T0 - timedelta(hours=3), minutes=240)
        revoked = T0 - timedelta(seconds=ago)
        Visit.objects.filter(pk=visit.pk).update(
            access_should_end_at=revoked - timedelta(seconds=seconds), access_revoked_at=revoked
        )

    result = scrape()

    within = "propusk_access_revocations_confirmed_within_seconds"
    hour = [seconds for seconds, ago in cases if ago < 3600]
    day = [seconds for seconds, _ in cases]
    for window, times in (("1h", hour), ("24h", day)):
        assert result.value("propusk_access_revocations_confirmed", window=window) == len(times)
        for le in ("1", "2", "5", "10", "30", "60", "300"):
            expected = sum(1 for seconds in times if seconds <= float(le))
            assert result.value(within, window=window, le=le) == expected, (window, le)
        assert result.value(within, window=window, le="+Inf") == len(times)
        assert result.value(
            "propusk_access_time_to_revoke_sum_seconds", window=window
        ) == pytest.approx(sum(times))
        assert result.value(
            "propusk_access_time_to_revoke_max_seconds", window=window
        ) == pytest.approx(max(times))
    assert result.value(within, window="1h", le="2") == 1
    assert result.value(within, window="24h", le="300") == 4


def test_circuit_breaker_state(scrape: Scraper, settings):
    settings.HCP_CIRCUIT_BREAKER_FAILURES = 3
    closed = scrape()
    assert closed.value("propusk_hcp_circuit_open") == 0
    assert closed.value("propusk_hcp_circuit_state", state="closed") == 1
    assert closed.value("propusk_hcp_circuit_state_readable") == 1

    breaker = build_circuit_breaker()
    for _ in range(3):
        breaker.record_failure(TransientError("HCP did not answer"))

    opened = scrape()
    assert opened.value("propusk_hcp_circuit_open") == 1
    assert opened.value("propusk_hcp_circuit_state", state="open") == 1
    assert opened.value("propusk_hcp_circuit_state", state="closed") == 0
    assert opened.value("propusk_hcp_circuit_consecutive_failures") == 3


def test_hcp_settings(scrape: Scraper, settings):
    settings.HCP_BASE_URL = ""
    settings.HCP_RATE_LIMIT_PER_SECOND = 7.5
    settings.HCP_RATE_LIMIT_BURST = 12
    result = scrape()
    assert result.value("propusk_hcp_configured") == 0
    assert result.value("propusk_hcp_rate_limit_per_second") == 7.5
    assert result.value("propusk_hcp_rate_limit_burst") == 12
    settings.HCP_BASE_URL = "https://hcp.example.kz"
    assert scrape().value("propusk_hcp_configured") == 1


def door_event(n: int, at: datetime) -> DoorEvent:
    return DoorEvent(
        event_id=f"metrics-{n}",
        event_type=196893,
        event_time=at,
        door_index_code="1",
        person_id=None,
        person_code=None,
        direction=1,
        pic_uri=None,
    )


def test_events_inbox_push_and_poll(scrape: Scraper, clock):
    empty = scrape()
    assert empty.value("propusk_hcp_events_pending") == 0
    assert empty.value("propusk_hcp_events_last_push_timestamp_seconds") == 0
    assert empty.value("propusk_hcp_events_poll_last_success_timestamp_seconds") == 0
    assert "propusk_hcp_events_poll_cursor_lag_seconds" not in empty.names()

    store_events([door_event(1, T0), door_event(2, T0)], source=EventSource.PUSH)
    clock.shift(timedelta(seconds=40))
    store_events([door_event(3, T0)], source=EventSource.POLL)
    clock.shift(timedelta(seconds=20))
    result = scrape()
    assert result.value("propusk_hcp_events_pending") == 3
    assert result.value("propusk_hcp_events_oldest_pending_age_seconds") == 60
    assert result.value("propusk_hcp_events_last_push_timestamp_seconds") == T0.timestamp()
    assert (
        result.value("propusk_hcp_events_last_received_timestamp_seconds")
        == (T0 + timedelta(seconds=40)).timestamp()
    )

    HcpEvent.objects.filter(event_id="metrics-1").update(state=EventState.DONE)
    HcpEvent.objects.filter(event_id="metrics-2").update(state=EventState.FAILED)
    later = scrape()
    assert later.value("propusk_hcp_events_pending") == 1
    assert later.value("propusk_hcp_events_failed") == 1
    assert later.value("propusk_hcp_events_oldest_pending_age_seconds") == 20
    # The push is found whatever became of it.
    assert later.value("propusk_hcp_events_last_push_timestamp_seconds") == T0.timestamp()

    # A push older than the look-back reads as none.
    clock.shift(timedelta(hours=25))
    assert scrape().value("propusk_hcp_events_last_push_timestamp_seconds") == 0


def test_poll_cursor(scrape: Scraper, clock):
    PollCursor.objects.create(
        name=CURSOR_NAME, read_until=T0 - timedelta(seconds=5), last_run_at=T0
    )
    clock.shift(timedelta(seconds=60))
    result = scrape()
    assert result.value("propusk_hcp_events_poll_last_success_timestamp_seconds") == T0.timestamp()
    assert result.value("propusk_hcp_events_poll_last_run_timestamp_seconds") == T0.timestamp()
    assert result.value("propusk_hcp_events_poll_cursor_lag_seconds") == 65
    assert result.value("propusk_hcp_events_poll_failing") == 0

    # A failed run, recorded as events.polling records it: tried, not complete.
    clock.shift(timedelta(seconds=60))
    PollCursor.objects.filter(name=CURSOR_NAME).update(
        last_run_at=T0 + timedelta(seconds=120), last_error="HCPTimeoutError"
    )
    failing = scrape()
    assert failing.value("propusk_hcp_events_poll_failing") == 1
    assert failing.value("propusk_hcp_events_poll_last_success_timestamp_seconds") == (
        T0.timestamp()
    )
    assert (
        failing.value("propusk_hcp_events_poll_last_run_timestamp_seconds")
        == (T0 + timedelta(seconds=120)).timestamp()
    )


def test_notification_deliveries_by_channel(scrape: Scraper, host: User, security: User, clock):
    notify(recipients=[host, security], kind=Kind.TEST, key="metrics-test")
    clock.shift(timedelta(seconds=45))
    result = scrape()
    assert result.value("propusk_notifications_deliveries", channel="email", status="pending") == 2
    assert result.value("propusk_notifications_deliveries_due", channel="email") == 2
    assert result.value("propusk_notifications_oldest_due_age_seconds", channel="email") == 45
    assert (
        result.value("propusk_notifications_deliveries", channel="telegram", status="pending") == 0
    )

    Delivery.objects.filter(notification__recipient=host).update(status=DeliveryStatus.FAILED)
    failed = scrape()
    assert failed.value("propusk_notifications_deliveries", channel="email", status="failed") == 1
    assert failed.value("propusk_notifications_deliveries", channel="email", status="pending") == 1

    Delivery.objects.update(status=DeliveryStatus.SENT)
    sent = scrape()
    assert sent.value("propusk_notifications_deliveries", channel="email", status="pending") == 0
    assert sent.value("propusk_notifications_oldest_due_age_seconds", channel="email") == 0


def test_incidents_by_kind_and_state(scrape: Scraper):
    for n, (kind, state) in enumerate(
        [
            (IncidentKind.FACE_NOT_RECOGNISED, IncidentState.OPEN),
            (IncidentKind.FACE_NOT_RECOGNISED, IncidentState.OPEN),
            (IncidentKind.OVERSTAY, IncidentState.ACKNOWLEDGED),
            (IncidentKind.DENIED, IncidentState.RESOLVED),
        ]
    ):
        Incident.objects.create(
            key=f"metrics-{n}", kind=kind, state=state, happened_at=T0, last_seen_at=T0
        )
    result = scrape()
    assert result.value("propusk_incidents", kind="face_not_recognised", state="open") == 2
    assert result.value("propusk_incidents", kind="overstay", state="acknowledged") == 1
    assert result.value("propusk_incidents", kind="overstay", state="open") == 0
    assert result.value("propusk_incidents", kind="denied", state="open") == 0
    assert not [
        labels for labels, _ in result.samples["propusk_incidents"] if labels["state"] == "resolved"
    ]


def test_visits_by_status_inside_and_expected(
    scrape: Scraper, make_visit: MakeVisit, reception: User, clock
):
    arriving = make_visit(start=T0 - timedelta(minutes=5))
    make_visit(start=T0 + timedelta(hours=2))
    make_visit(start=T0 + timedelta(days=2))  # not today
    result = scrape()
    assert result.value("propusk_visits", status="awaiting") == 3
    assert result.value("propusk_visits_expected_today") == 2
    assert result.value("propusk_visits_inside") == 0

    visit_services.check_in(visit=arriving, actor=reception)
    inside = scrape()
    assert inside.value("propusk_visits", status="awaiting") == 2
    assert inside.value("propusk_visits", status="checked_in") == 1
    assert inside.value("propusk_visits_inside") == 1
    assert inside.value("propusk_visits_expected_today") == 1


def test_no_personal_data_in_the_output(
    scrape: Scraper, reception: User, host: User, guest_policy, clock
):
    from propusk.visitors.services import VisitorData
    from tests.factories import make_iin, make_jpeg

    iin = make_iin("95030245012")
    visit = visit_services.register_with_visitor(
        visitor=VisitorData(
            family_name="Сәрсенбаева",
            given_name="Жанар",
            middle_name="Қайратқызы",
            phone="+77017654321",
            email="zhanar@example.kz",
            national_id=iin,
            photo_jpeg=make_jpeg(),
            consent=True,
        ),
        actor=reception,
        register=lambda person: visit_services.register_visit(
            kind="guest",
            visitor=person,
            host=host,
            planned_start=T0 - timedelta(minutes=5),
            planned_end=T0 + timedelta(hours=1),
            access_policy=guest_policy,
            actor=reception,
            purpose="Собеседование",
        ),
    )
    visit_services.check_in(visit=visit, actor=reception)
    visit_services.check_out(visit=visit, actor=reception)
    person_code = visit.visitor.person_code
    assert AccessWork.objects.filter(person_code=person_code).exists()

    text = scrape().text
    assert scrape().value("propusk_access_revocations_unconfirmed") == 1  # it is in there
    for secret in (
        "Сәрсенбаева",
        "Жанар",
        "Қайратқызы",
        iin,
        iin[:6],
        "77017654321",
        "zhanar",
        person_code,
        "Собеседование",
        host.last_name,
    ):
        assert secret not in text, secret


def test_build_info_and_scrape_duration(scrape: Scraper, settings):
    from propusk.metrics.collectors import build_info

    settings.PROPUSK_BUILD_COMMIT = "90f98d8"
    build_info.cache_clear()
    try:
        result = scrape()
    finally:
        build_info.cache_clear()
    assert (
        result.value("propusk_build_info", version=metadata.version("propusk"), commit="90f98d8")
        == 1
    )
    assert result.value("propusk_metrics_scrape_duration_seconds") > 0


def test_a_scrape_is_kept_for_the_cache_seconds(
    scrape: Scraper, make_visit: MakeVisit, settings, monkeypatch
):
    settings.PROPUSK_METRICS_CACHE_SECONDS = 2
    now = [1000.0]
    monkeypatch.setattr(views, "clock", lambda: now[0])
    first = scrape()
    make_visit()

    now[0] += 1.5
    again = scrape()
    assert again.text == first.text  # not read again
    assert again.value("propusk_visits", status="awaiting") == 0

    now[0] += 0.6
    fresh = scrape()
    assert fresh.value("propusk_visits", status="awaiting") == 1


def test_hcp_persons_on_the_devices(scrape: Scraper, clock):
    from propusk.access.models import ApplyState, HcpPerson

    rows = [
        ("V0000001", "101", ApplyState.APPLIED, ""),
        ("V0000002", "102", ApplyState.WAITING, ""),
        ("V0000003", "103", ApplyState.FAILED, ""),
        ("V0000004", "104", ApplyState.APPLIED, "faceScore below the threshold"),
        ("V0000005", "", ApplyState.UNKNOWN, "faceScore below the threshold"),  # deleted since
    ]
    for code, person_id, state, rejected in rows:
        HcpPerson.objects.create(
            person_code=code,
            person_id=person_id,
            apply_state=state,
            face_rejected_reason=rejected,
            apply_requested_at=T0 - timedelta(seconds=120),
            reconciled_at=T0 - timedelta(seconds=120),
        )
    result = scrape()
    assert result.value("propusk_access_persons_waiting_for_devices") == 1
    assert result.value("propusk_access_persons_oldest_waiting_age_seconds") == 120
    assert result.value("propusk_access_persons_failed_on_devices") == 1
    assert result.value("propusk_access_persons_face_rejected") == 1
    assert (
        result.value("propusk_access_last_confirmed_timestamp_seconds")
        == (T0 - timedelta(seconds=120)).timestamp()
    )
