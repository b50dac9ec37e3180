"""What the metrics report, read from the database (and the HCP circuit breaker's and call
counts' shared state) at scrape time.

Every figure but the HCP call counts is derived from rows, not counted in a process: it is
right whatever the number of web and worker processes, and nothing is lost when one restarts
(the call counts are added up by every process in the shared state, ``call_metrics``). Each
read is a fixed number of queries, each on an index or bounded in time (docs/metrics.md,
"Cost"). Only counts, states, kinds, channels, priorities, HCP endpoints and outcomes come out
of here: never a name, an ID number, a person code, an HCP person id or a face.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from django.conf import settings
from django.db.models import Aggregate, Count, DurationField, ExpressionWrapper, F, Max, Min, Q, Sum

from propusk.access.models import AccessWork, ApplyState, HcpPerson, WorkPriority, WorkState
from propusk.core.time import now as current_time
from propusk.dashboard.selectors import CircuitView, circuit_view, expected_today
from propusk.events.models import EventSource, EventState, HcpEvent, PollCursor
from propusk.events.polling import CURSOR_NAME
from propusk.integrations.hikcentral.call_metrics import CallCounts, read_call_counts
from propusk.integrations.hikcentral.shared_state import SharedStateUnavailable
from propusk.notifications.kinds import Channel
from propusk.notifications.models import Delivery, DeliveryStatus
from propusk.passages.models import Incident, IncidentKind, IncidentState, Passage, PictureState
from propusk.visits.models import Visit, VisitStatus

logger = logging.getLogger(__name__)

# The time to revoke is reported for the revocations confirmed within these windows.
TIME_TO_REVOKE_WINDOWS: Final[dict[str, timedelta]] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
}
# Upper bounds (seconds) of the time-to-revoke buckets; +Inf is added by the collector.
TIME_TO_REVOKE_BUCKETS: Final[tuple[float, ...]] = (1, 2, 5, 10, 30, 60, 300)
# How far back the last pushed event is looked for (the inbox's index is by state and
# time received, so the look is bounded by time): none within it reads as "none".
PUSH_LOOKBACK: Final = timedelta(hours=24)
# Passages whose camera picture is still being fetched are counted over this window (the
# passages sweep gives up on older ones; the passages index is by time).
PICTURES_LOOKBACK: Final = timedelta(hours=24)
# Incidents that are still someone's business (resolved ones only grow).
INCIDENT_STATES: Final = (IncidentState.OPEN, IncidentState.ACKNOWLEDGED)


def _seconds(delta: timedelta | None) -> float:
    return delta.total_seconds() if delta is not None else 0.0


def _age(moment: datetime, since: datetime | None) -> float:
    """Seconds from ``since`` to ``moment``; 0 when there is nothing (or it is in the future)."""
    if since is None:
        return 0.0
    return max(0.0, (moment - since).total_seconds())


# --- The access engine --------------------------------------------------------------------


@dataclass(frozen=True)
class WorkFigures:
    """Pending access work of one priority: all of it, the part due now, the oldest due."""

    pending: int = 0
    due: int = 0
    oldest_due_age: float = 0.0


@dataclass(frozen=True)
class TimeToRevoke:
    """The revocations HCP confirmed within a window: how many, how many within each bucket
    (cumulative, as Prometheus' ``le``), the sum and the worst time to revoke (seconds)."""

    count: int
    within: dict[float, int]
    total: float
    worst: float


@dataclass(frozen=True)
class AccessFigures:
    work: dict[WorkPriority, WorkFigures]
    failed_work: int
    persons_waiting: int  # HCP has not yet applied the person's last change to the devices
    persons_failed: int  # a device failed to apply it
    persons_face_rejected: int  # in HCP without a face: HCP refused the photo
    oldest_waiting_age: float
    last_confirmed_at: datetime | None  # the last change HCP confirmed (a person reconciled)
    revocations_unconfirmed: int  # access should have ended, HCP has not confirmed it yet
    revocations_overdue: int  # ... for more than PROPUSK_METRICS_REVOKE_OVERDUE_SECONDS
    oldest_unconfirmed_age: float
    time_to_revoke: dict[str, TimeToRevoke]


def access_figures(moment: datetime) -> AccessFigures:
    work = {priority: WorkFigures() for priority in WorkPriority}
    due = Q(due_at__lte=moment)
    rows = (
        AccessWork.objects.filter(state=WorkState.PENDING)
        .values("priority")
        .annotate(
            pending=Count("pk"), due=Count("pk", filter=due), oldest=Min("due_at", filter=due)
        )
        .order_by()
    )
    for row in rows:
        work[WorkPriority(row["priority"])] = WorkFigures(
            pending=row["pending"], due=row["due"], oldest_due_age=_age(moment, row["oldest"])
        )
    failed = AccessWork.objects.filter(state=WorkState.FAILED).count()

    waiting = Q(apply_state=ApplyState.WAITING)
    persons = HcpPerson.objects.aggregate(
        waiting=Count("pk", filter=waiting),
        failed=Count("pk", filter=Q(apply_state=ApplyState.FAILED)),
        face_rejected=Count("pk", filter=~Q(face_rejected_reason="") & ~Q(person_id="")),
        oldest_waiting=Min("apply_requested_at", filter=waiting),
        last_confirmed=Max("reconciled_at"),
    )
    visits = _revocation_figures(moment)
    return AccessFigures(
        work=work,
        failed_work=failed,
        persons_waiting=persons["waiting"],
        persons_failed=persons["failed"],
        persons_face_rejected=persons["face_rejected"],
        oldest_waiting_age=_age(moment, persons["oldest_waiting"]),
        last_confirmed_at=persons["last_confirmed"],
        revocations_unconfirmed=visits["unconfirmed"],
        revocations_overdue=visits["overdue"],
        oldest_unconfirmed_age=_age(moment, visits["oldest_unconfirmed"]),
        time_to_revoke={
            name: TimeToRevoke(
                count=visits[f"{name}_count"],
                within={le: visits[f"{name}_le_{index}"] for index, le in _buckets()},
                total=_seconds(visits[f"{name}_sum"]),
                worst=_seconds(visits[f"{name}_max"]),
            )
            for name in TIME_TO_REVOKE_WINDOWS
        },
    )


def _buckets() -> Iterable[tuple[int, float]]:
    return enumerate(TIME_TO_REVOKE_BUCKETS)


def _revocation_figures(moment: datetime) -> dict[str, Any]:
    """The visits' side of revocation, in one query: those whose access should have ended
    and is not confirmed gone, and the time to revoke of those confirmed in each window."""
    overdue_after = timedelta(seconds=settings.PROPUSK_METRICS_REVOKE_OVERDUE_SECONDS)
    unconfirmed = Q(access_should_end_at__lte=moment, access_revoked_at__isnull=True)
    widest = max(TIME_TO_REVOKE_WINDOWS.values())
    aggregates: dict[str, Aggregate] = {
        "unconfirmed": Count("pk", filter=unconfirmed),
        "overdue": Count(
            "pk",
            filter=Q(
                access_should_end_at__lte=moment - overdue_after, access_revoked_at__isnull=True
            ),
        ),
        "oldest_unconfirmed": Min("access_should_end_at", filter=unconfirmed),
    }
    for name, window in TIME_TO_REVOKE_WINDOWS.items():
        confirmed = Q(
            access_revoked_at__gt=moment - window,
            access_revoked_at__lte=moment,
            access_should_end_at__isnull=False,
        )
        aggregates[f"{name}_count"] = Count("pk", filter=confirmed)
        aggregates[f"{name}_sum"] = Sum("time_to_revoke", filter=confirmed)
        aggregates[f"{name}_max"] = Max("time_to_revoke", filter=confirmed)
        for index, le in _buckets():
            aggregates[f"{name}_le_{index}"] = Count(
                "pk", filter=confirmed & Q(time_to_revoke__lte=timedelta(seconds=le))
            )
    return (
        Visit.objects.filter(
            Q(access_should_end_at__isnull=False, access_revoked_at__isnull=True)
            | Q(access_revoked_at__gt=moment - widest)
        )
        .annotate(
            time_to_revoke=ExpressionWrapper(
                F("access_revoked_at") - F("access_should_end_at"), output_field=DurationField()
            )
        )
        .aggregate(**aggregates)
    )


# --- HikCentral ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HcpFigures:
    configured: bool
    circuit: CircuitView  # ``error`` set: its shared state could not be read
    rate_limit_per_second: float
    rate_limit_burst: float
    calls: CallCounts | None  # None: the shared state could not be read


def hcp_figures() -> HcpFigures:
    return HcpFigures(
        configured=bool(settings.HCP_BASE_URL),
        circuit=circuit_view(),
        rate_limit_per_second=float(settings.HCP_RATE_LIMIT_PER_SECOND),
        rate_limit_burst=float(settings.HCP_RATE_LIMIT_BURST),
        calls=_call_counts(),
    )


def _call_counts() -> CallCounts | None:
    """The calls to HCP counted by every process (``call_metrics``); None when unreadable."""
    try:
        return read_call_counts()
    except SharedStateUnavailable as exc:
        logger.warning("metrics: the HCP call counts cannot be read: %s", exc)
        return None


# --- The events inbox ---------------------------------------------------------------------


@dataclass(frozen=True)
class EventFigures:
    pending: int
    failed: int
    oldest_pending_age: float  # by the time it was received
    last_received_at: datetime | None  # any source
    last_push_at: datetime | None  # within PUSH_LOOKBACK
    poll_last_success_at: datetime | None  # the last poll that read its whole range
    poll_last_run_at: datetime | None
    poll_failing: bool  # the last poll stopped on an error
    poll_cursor_lag: float | None  # None: never polled


def event_figures(moment: datetime) -> EventFigures:
    states: dict[str, dict[str, Any]] = {
        row["state"]: dict(row)
        for row in HcpEvent.objects.filter(state__in=[EventState.PENDING, EventState.FAILED])
        .values("state")
        .annotate(count=Count("pk"), oldest=Min("received_at"))
        .order_by()
    }
    pending = states.get(EventState.PENDING, {})
    last_received = HcpEvent.objects.order_by("-pk").values_list("received_at", flat=True).first()
    cursor = PollCursor.objects.filter(name=CURSOR_NAME).first()
    return EventFigures(
        pending=pending.get("count", 0),
        failed=states.get(EventState.FAILED, {}).get("count", 0),
        oldest_pending_age=_age(moment, pending.get("oldest")),
        last_received_at=last_received,
        last_push_at=_last_push(moment),
        # ``updated_at`` moves only when a poll completes (a failed one updates the row
        # without it: events.polling).
        poll_last_success_at=cursor.updated_at if cursor else None,
        poll_last_run_at=cursor.last_run_at if cursor else None,
        poll_failing=bool(cursor and cursor.last_error),
        poll_cursor_lag=_age(moment, cursor.read_until) if cursor else None,
    )


def _last_push(moment: datetime) -> datetime | None:
    """The last pushed event received within PUSH_LOOKBACK: one look per state, each down the
    inbox's (state, received_at) index from the newest, stopping at the first push."""
    found = [
        HcpEvent.objects.filter(
            state=state, source=EventSource.PUSH, received_at__gte=moment - PUSH_LOOKBACK
        )
        .order_by("-received_at")
        .values_list("received_at", flat=True)
        .first()
        for state in EventState
    ]
    moments = [at for at in found if at is not None]
    return max(moments) if moments else None


# --- Notifications ------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelFigures:
    pending: int = 0
    due: int = 0
    failed: int = 0
    oldest_due_age: float = 0.0


def notification_figures(moment: datetime) -> dict[Channel, ChannelFigures]:
    due = Q(status=DeliveryStatus.PENDING, next_attempt_at__lte=moment)
    figures = {channel: ChannelFigures() for channel in Channel}
    rows = (
        Delivery.objects.filter(status__in=[DeliveryStatus.PENDING, DeliveryStatus.FAILED])
        .values("channel")
        .annotate(
            pending=Count("pk", filter=Q(status=DeliveryStatus.PENDING)),
            due=Count("pk", filter=due),
            failed=Count("pk", filter=Q(status=DeliveryStatus.FAILED)),
            oldest=Min("next_attempt_at", filter=due),
        )
        .order_by()
    )
    for row in rows:
        if row["channel"] in Channel.values:
            figures[Channel(row["channel"])] = ChannelFigures(
                pending=row["pending"],
                due=row["due"],
                failed=row["failed"],
                oldest_due_age=_age(moment, row["oldest"]),
            )
    return figures


# --- Passages and visits ------------------------------------------------------------------


@dataclass(frozen=True)
class SiteFigures:
    incidents: dict[tuple[str, str], int]  # (kind, state) -> count, open and acknowledged
    pictures_pending: int
    visits: dict[str, int]  # status -> count
    inside: int
    expected_today: int


def site_figures(moment: datetime) -> SiteFigures:
    # The dashboard's own definition of "inside now" (its count is a fixed few queries).
    from propusk.dashboard.selectors import _inside_base

    incidents = {(kind.value, state.value): 0 for kind in IncidentKind for state in INCIDENT_STATES}
    for row in (
        Incident.objects.filter(state__in=INCIDENT_STATES)
        .values("kind", "state")
        .annotate(count=Count("pk"))
        .order_by()
    ):
        incidents[(row["kind"], row["state"])] = row["count"]
    visits = {status.value: 0 for status in VisitStatus}
    for status_row in Visit.objects.values("status").annotate(count=Count("pk")).order_by():
        visits[status_row["status"]] = status_row["count"]
    return SiteFigures(
        incidents=incidents,
        pictures_pending=Passage.objects.filter(
            happened_at__gte=moment - PICTURES_LOOKBACK, picture_state=PictureState.PENDING
        ).count(),
        visits=visits,
        inside=_inside_base().count(),
        expected_today=expected_today(now=moment).count(),
    )


# --- Everything ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    taken_at: datetime
    access: AccessFigures
    hcp: HcpFigures
    events: EventFigures
    notifications: dict[Channel, ChannelFigures]
    site: SiteFigures


def figures(*, now: datetime | None = None) -> Figures:
    moment = now or current_time()
    return Figures(
        taken_at=moment,
        access=access_figures(moment),
        hcp=hcp_figures(),
        events=event_figures(moment),
        notifications=notification_figures(moment),
        site=site_figures(moment),
    )
