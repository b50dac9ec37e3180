"""The Prometheus collector: the figures of ``metrics.selectors`` as metric families.

Every family is read at scrape time (docs/metrics.md lists them). All are gauges but the HCP
calls' counter and duration histogram, counted by every process in shared state. Ages are
seconds until the moment of the scrape, 0 when there is nothing; moments are Unix timestamps
(``*_timestamp_seconds``), 0 when there was none.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from functools import cache
from importlib import metadata

from django.conf import settings
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from propusk.access.models import WorkPriority
from propusk.integrations.hikcentral.call_metrics import CallCounts
from propusk.metrics import selectors
from propusk.metrics.selectors import Figures

CIRCUIT_STATES = ("closed", "open", "half-open")


def _timestamp(moment: datetime | None) -> float:
    return moment.timestamp() if moment is not None else 0.0


def _gauge(name: str, documentation: str, value: float, unit: str = "") -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value, unit=unit)


def _labelled(
    name: str, documentation: str, labels: list[str], samples: Sequence[tuple[list[str], float]]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for values, value in samples:
        family.add_metric(values, value)
    return family


@cache
def build_info() -> tuple[str, str]:
    """(version, commit): the installed package's version, ``PROPUSK_BUILD_COMMIT``."""
    try:
        version = metadata.version("propusk")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return version, settings.PROPUSK_BUILD_COMMIT or "unknown"


class PropuskCollector(Collector):
    """Reads the database (``metrics.selectors.figures``) on each collection."""

    def describe(self) -> list[Metric]:
        return []  # never collect at registration

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        figures = selectors.figures()
        families = list(_families(figures))
        yield from families
        yield _gauge(
            "propusk_metrics_scrape_duration_seconds",
            "Seconds spent reading the figures of this result from the database.",
            time.perf_counter() - started,
        )


def _families(figures: Figures) -> Iterator[Metric]:
    version, commit = build_info()
    info = GaugeMetricFamily(
        "propusk_build_info", "Propusk's version and commit.", labels=["version", "commit"]
    )
    info.add_metric([version, commit], 1)
    yield info
    yield from _access(figures)
    yield from _hcp(figures)
    yield from _events(figures)
    yield from _notifications(figures)
    yield from _site(figures)


def _access(figures: Figures) -> Iterator[GaugeMetricFamily]:
    access = figures.access
    priorities = [(priority, priority.name.lower()) for priority in WorkPriority]
    yield _labelled(
        "propusk_access_work_pending",
        "Access work rows pending (due now or later), by priority.",
        ["priority"],
        [([name], access.work[priority].pending) for priority, name in priorities],
    )
    yield _labelled(
        "propusk_access_work_due",
        "Access work rows pending and due now, by priority.",
        ["priority"],
        [([name], access.work[priority].due) for priority, name in priorities],
    )
    yield _labelled(
        "propusk_access_work_oldest_due_age_seconds",
        "Seconds the oldest due pending access work has been due, by priority (0: none).",
        ["priority"],
        [([name], access.work[priority].oldest_due_age) for priority, name in priorities],
    )
    yield _gauge(
        "propusk_access_work_failed",
        "Access work rows failed (staff must look: the visit page, the admin).",
        access.failed_work,
    )
    yield _gauge(
        "propusk_access_persons_waiting_for_devices",
        "HCP persons whose last change HCP has not yet applied to the devices.",
        access.persons_waiting,
    )
    yield _gauge(
        "propusk_access_persons_oldest_waiting_age_seconds",
        "Seconds since the application of the longest-waiting person was asked (0: none).",
        access.oldest_waiting_age,
    )
    yield _gauge(
        "propusk_access_persons_failed_on_devices",
        "HCP persons whose last change a device failed to apply.",
        access.persons_failed,
    )
    yield _gauge(
        "propusk_access_persons_face_rejected",
        "HCP persons without a face: HCP refused the photo.",
        access.persons_face_rejected,
    )
    yield _gauge(
        "propusk_access_last_confirmed_timestamp_seconds",
        "When HCP last confirmed holding a person's desired state (0: never).",
        _timestamp(access.last_confirmed_at),
    )
    yield _gauge(
        "propusk_access_revocations_unconfirmed",
        "Visits whose access should have ended and HCP has not confirmed it gone.",
        access.revocations_unconfirmed,
    )
    yield _gauge(
        "propusk_access_revocations_overdue",
        "Visits whose access should have ended more than "
        "PROPUSK_METRICS_REVOKE_OVERDUE_SECONDS ago and HCP has not confirmed it gone.",
        access.revocations_overdue,
    )
    yield _gauge(
        "propusk_access_revocation_overdue_threshold_seconds",
        "PROPUSK_METRICS_REVOKE_OVERDUE_SECONDS: when an unconfirmed revocation is overdue.",
        settings.PROPUSK_METRICS_REVOKE_OVERDUE_SECONDS,
    )
    yield _gauge(
        "propusk_access_revocation_oldest_unconfirmed_age_seconds",
        "Seconds since the access of the oldest unconfirmed revocation should have ended.",
        access.oldest_unconfirmed_age,
    )
    windows = access.time_to_revoke
    yield _labelled(
        "propusk_access_revocations_confirmed",
        "Revocations HCP confirmed within the window (visits), by window.",
        ["window"],
        [([name], ttr.count) for name, ttr in windows.items()],
    )
    within: list[tuple[list[str], float]] = []
    for name, ttr in windows.items():
        within.extend(([name, _le(le)], count) for le, count in ttr.within.items())
        within.append(([name, "+Inf"], ttr.count))
    yield _labelled(
        "propusk_access_revocations_confirmed_within_seconds",
        "Revocations confirmed within the window whose time to revoke was at most le "
        "seconds (cumulative buckets: histogram_quantile() reads them).",
        ["window", "le"],
        within,
    )
    yield _labelled(
        "propusk_access_time_to_revoke_sum_seconds",
        "Sum of the times to revoke of the revocations confirmed within the window.",
        ["window"],
        [([name], ttr.total) for name, ttr in windows.items()],
    )
    yield _labelled(
        "propusk_access_time_to_revoke_max_seconds",
        "The longest time to revoke among the revocations confirmed within the window.",
        ["window"],
        [([name], ttr.worst) for name, ttr in windows.items()],
    )


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else f"{bound:g}"


def _hcp(figures: Figures) -> Iterator[Metric]:
    hcp = figures.hcp
    circuit = hcp.circuit
    yield _gauge(
        "propusk_hcp_configured", "1 when HCP_BASE_URL is set, else 0.", int(hcp.configured)
    )
    yield _gauge(
        "propusk_hcp_circuit_state_readable",
        "1 when the circuit breaker's shared state could be read, 0 when not (Redis down).",
        int(not circuit.error),
    )
    yield _labelled(
        "propusk_hcp_circuit_state",
        "The HCP circuit breaker's state: 1 for the current one.",
        ["state"],
        [([state], int(circuit.state == state)) for state in CIRCUIT_STATES],
    )
    yield _gauge(
        "propusk_hcp_circuit_open",
        "1 while calls to HCP are paused by the circuit breaker (open or half-open).",
        int(circuit.state in ("open", "half-open")),
    )
    yield _gauge(
        "propusk_hcp_circuit_consecutive_failures",
        "Consecutive transient failures of calls to HCP counted by the circuit breaker.",
        circuit.failures,
    )
    yield _gauge(
        "propusk_hcp_rate_limit_per_second",
        "HCP_RATE_LIMIT_PER_SECOND: calls to HCP a second, shared by every worker.",
        hcp.rate_limit_per_second,
    )
    yield _gauge(
        "propusk_hcp_rate_limit_burst",
        "HCP_RATE_LIMIT_BURST: calls to HCP that may be saved up.",
        hcp.rate_limit_burst,
    )
    yield from _hcp_calls(hcp.calls)


def _hcp_calls(counts: CallCounts | None) -> Iterator[Metric]:
    yield _gauge(
        "propusk_hcp_calls_readable",
        "1 when the counts of HCP calls could be read from the shared state, 0 when not "
        "(the two families below are then empty).",
        int(counts is not None),
    )
    calls = CounterMetricFamily(
        "propusk_hcp_calls",
        "HTTP requests to HCP by every process, by endpoint (the OpenAPI path) and outcome "
        "(ok, quota, http_error, timeout, connection_error, bad_response, hcp_<error class>, "
        "or not sent: circuit_open, rate_limit_wait, not_sent).",
        labels=["endpoint", "outcome"],
    )
    durations = HistogramMetricFamily(
        "propusk_hcp_call_duration_seconds",
        "Seconds from sending a request to HCP to its answer or failure (requests sent "
        "only; the wait for the rate limiter not included), by endpoint.",
        labels=["endpoint"],
    )
    if counts is not None:
        for (endpoint, outcome), count in sorted(counts.calls.items()):
            calls.add_metric([endpoint, outcome], count)
        for endpoint, taken in sorted(counts.durations.items()):
            durations.add_metric(
                [endpoint],
                buckets=[(_le(bound), count) for bound, count in taken.cumulative()],
                sum_value=taken.total,
            )
    yield calls
    yield durations


def _events(figures: Figures) -> Iterator[GaugeMetricFamily]:
    events = figures.events
    yield _gauge(
        "propusk_hcp_events_pending",
        "HCP events in the inbox waiting to be processed.",
        events.pending,
    )
    yield _gauge(
        "propusk_hcp_events_failed",
        "HCP events whose processing failed for good.",
        events.failed,
    )
    yield _gauge(
        "propusk_hcp_events_oldest_pending_age_seconds",
        "Seconds since the oldest pending HCP event was received (0: none pending).",
        events.oldest_pending_age,
    )
    yield _gauge(
        "propusk_hcp_events_last_received_timestamp_seconds",
        "When the last HCP event was received, pushed or polled (0: never).",
        _timestamp(events.last_received_at),
    )
    yield _gauge(
        "propusk_hcp_events_last_push_timestamp_seconds",
        "When the last HCP event pushed by HCP was received (0: none in the last 24 h).",
        _timestamp(events.last_push_at),
    )
    yield _gauge(
        "propusk_hcp_events_poll_last_success_timestamp_seconds",
        "When the polling backfill last read its whole range (0: never).",
        _timestamp(events.poll_last_success_at),
    )
    yield _gauge(
        "propusk_hcp_events_poll_last_run_timestamp_seconds",
        "When the polling backfill last ran, successful or not (0: never).",
        _timestamp(events.poll_last_run_at),
    )
    yield _gauge(
        "propusk_hcp_events_poll_failing",
        "1 when the last run of the polling backfill stopped on an error.",
        int(events.poll_failing),
    )
    if events.poll_cursor_lag is not None:
        yield _gauge(
            "propusk_hcp_events_poll_cursor_lag_seconds",
            "Seconds between now and the moment up to which polling has read every event "
            "(absent: never polled).",
            events.poll_cursor_lag,
        )


def _notifications(figures: Figures) -> Iterator[GaugeMetricFamily]:
    channels = figures.notifications
    statuses = []
    for channel, numbers in channels.items():
        statuses.append(([channel.value, "pending"], numbers.pending))
        statuses.append(([channel.value, "failed"], numbers.failed))
    yield _labelled(
        "propusk_notifications_deliveries",
        "Notification deliveries pending (now or later) or failed for good, by channel.",
        ["channel", "status"],
        statuses,
    )
    yield _labelled(
        "propusk_notifications_deliveries_due",
        "Notification deliveries pending and due now, by channel.",
        ["channel"],
        [([channel.value], numbers.due) for channel, numbers in channels.items()],
    )
    yield _labelled(
        "propusk_notifications_oldest_due_age_seconds",
        "Seconds the oldest due pending delivery has been due, by channel (0: none).",
        ["channel"],
        [([channel.value], numbers.oldest_due_age) for channel, numbers in channels.items()],
    )


def _site(figures: Figures) -> Iterator[GaugeMetricFamily]:
    site = figures.site
    yield _labelled(
        "propusk_incidents",
        "Incidents open or acknowledged (not resolved), by kind and state.",
        ["kind", "state"],
        [([kind, state], count) for (kind, state), count in site.incidents.items()],
    )
    yield _gauge(
        "propusk_passages_pictures_pending",
        "Camera pictures of the last 24 h's passages still being fetched from HCP.",
        site.pictures_pending,
    )
    yield _labelled(
        "propusk_visits",
        "Visits by status (all of them).",
        ["status"],
        [([status], count) for status, count in site.visits.items()],
    )
    yield _gauge(
        "propusk_visits_inside", "Visitors inside now (the dashboard's count).", site.inside
    )
    yield _gauge(
        "propusk_visits_expected_today",
        "Visits expected today whose time is not over (the dashboard's count).",
        site.expected_today,
    )


def build_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PropuskCollector())
    return registry
