"""The HCP call metrics in /metrics: a visitor's way through the real access engine, against
the simulator over HTTP, moves ``propusk_hcp_calls_total`` and the duration histogram, on both
shared-state backends; no label carries a name, an IIN, a person code or an HCP person id;
an unreadable shared state empties the families and says so."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from django.test import Client
from django.urls import reverse

from hcp_simulator.testing import SimulatorHandle
from hikcentral import HCPRateLimited, HikCentralClient
from hikcentral.client import Paths
from propusk.access.models import HcpPerson
from propusk.access.reconciler import ReconcileResult
from propusk.integrations.hikcentral.call_metrics import DURATION_BUCKETS, call_recorder
from propusk.integrations.hikcentral.shared_state import DEFAULT_KEY_PREFIX
from propusk.visits.models import Visit
from tests.access.conftest import (  # noqa: F401 - fixtures
    confirm,
    desk,
    drain,
    hcp,
    hcp_settings,
    register,
    simulator,
    site,
)
from tests.factories import make_iin
from tests.integrations.conftest import redis_url_or_skip
from tests.metrics.conftest import Scrape

pytestmark = [pytest.mark.simulator, pytest.mark.django_db]

Drain = Callable[..., ReconcileResult]
CALLS = "propusk_hcp_calls_total"
DURATION = "propusk_hcp_call_duration_seconds"


@pytest.fixture(autouse=True, params=["file", "redis"])
def backend(request: pytest.FixtureRequest, settings: Any) -> Iterator[str]:
    """The shared state on each backend (the file one is the suite's per-test directory)."""
    if request.param == "redis":
        url = redis_url_or_skip()
        settings.HCP_RATE_LIMIT_URL = url
        server = redis.Redis.from_url(url)
        keys = [DEFAULT_KEY_PREFIX + name for name in ("bucket", "breaker", "calls")]
        server.delete(*keys)
        yield request.param
        server.delete(*keys)
    else:
        yield request.param


def sent(scrape: Scrape, endpoint: str) -> float:
    return scrape.value(f"{DURATION}_count", endpoint=endpoint)


def test_a_visit_through_hcp_is_counted(
    site: SimulatorHandle,  # noqa: F811
    register: Callable[..., Visit],  # noqa: F811
    drain: Drain,  # noqa: F811
    confirm: Drain,  # noqa: F811
    desk: Client,  # noqa: F811
    scrape: Callable[[], Scrape],
) -> None:
    before = scrape()
    assert before.families["propusk_hcp_calls"] == "counter"
    assert before.families[DURATION] == "histogram"
    assert before.value("propusk_hcp_calls_readable") == 1
    assert CALLS not in before.names()

    iin = make_iin("95030245012")
    visit = register(family_name="Сәрсенбаева", given_name="Жанар", national_id=iin)
    drain()
    confirm()
    desk.post(reverse("visits:cancel", args=[visit.pk]))
    drain()
    confirm()  # asks HCP whether the devices dropped it: per person, by HCP's person id
    person = HcpPerson.objects.get(person_code=visit.visitor.person_code)

    after = scrape()
    assert after.value(CALLS, endpoint=Paths.PERSON_ADD, outcome="ok") == 1
    assert after.value(CALLS, endpoint=Paths.ACCESS_LEVEL_ADD, outcome="ok") == 1
    assert after.value(CALLS, endpoint=Paths.ELEMENT_DOWNLOAD_DETAIL, outcome="ok") >= 1
    calls = {
        labels["endpoint"]: value
        for labels, value in after.samples[CALLS]
        if labels["outcome"] not in ("circuit_open", "rate_limit_wait", "not_sent")
    }
    sent_total = 0.0
    for endpoint in calls:
        per_endpoint = sum(
            value for labels, value in after.samples[CALLS] if labels["endpoint"] == endpoint
        )
        assert sent(after, endpoint) == per_endpoint
        assert after.value(f"{DURATION}_bucket", endpoint=endpoint, le="+Inf") == per_endpoint
        assert after.value(f"{DURATION}_sum", endpoint=endpoint) > 0
        sent_total += per_endpoint
    assert sent_total == sum(value for _, value in after.samples[CALLS])
    bounds = [
        float(labels["le"])
        for labels, _ in after.samples[f"{DURATION}_bucket"]
        if labels["endpoint"] == Paths.PERSON_ADD
    ]
    assert bounds == [*map(float, DURATION_BUCKETS), float("inf")]

    # Endpoints are the client's paths (or "other"); outcomes a word: no identifier anywhere.
    endpoints = {labels["endpoint"] for labels, _ in after.samples[CALLS]}
    assert endpoints <= {*Paths.all(), "other"}
    assert person.person_id
    assert f"/person/{person.person_id}/" not in after.text
    for labels, _ in after.samples[CALLS]:
        assert re.fullmatch(r"[a-z_]+", labels["outcome"])
    for secret in ("Сәрсенбаева", "Жанар", iin, iin[:6], visit.visitor.person_code):
        assert secret not in after.text, secret


def test_refused_calls_are_counted_apart(
    site: SimulatorHandle,  # noqa: F811
    hcp: HikCentralClient,  # noqa: F811
    scrape: Callable[[], Scrape],
) -> None:
    site.control.add_fault("code", path=Paths.VERSION, count=2, code="0x02401009")
    for _ in range(2):
        with pytest.raises(HCPRateLimited):
            hcp.version()
    hcp.version()
    counted = scrape()
    assert counted.value(CALLS, endpoint=Paths.VERSION, outcome="quota") == 2
    assert counted.value(CALLS, endpoint=Paths.VERSION, outcome="ok") == 1
    assert sent(counted, Paths.VERSION) == 3


def test_an_unreadable_state_empties_the_families(
    settings: Any, scrape: Callable[[], Scrape], backend: str
) -> None:
    call_recorder()(Paths.VERSION, "ok", 0.02)
    assert scrape().value(CALLS, endpoint=Paths.VERSION, outcome="ok") == 1
    settings.HCP_RATE_LIMIT_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    broken = scrape()
    assert broken.value("propusk_hcp_calls_readable") == 0
    assert CALLS not in broken.names()
    assert f"{DURATION}_count" not in broken.names()
    # The rest of the figures are still there.
    assert broken.value("propusk_hcp_circuit_state_readable") == 0
    assert "propusk_access_work_failed" in broken.names()


def test_signed_in_security_sees_them_too(security: Any, backend: str) -> None:
    call_recorder()(Paths.PERSON_ADD, "hcp_busy", 0.3)
    browser = Client()
    browser.force_login(security)
    text = browser.get("/metrics").content.decode()
    assert f'{CALLS}{{endpoint="{Paths.PERSON_ADD}",outcome="hcp_busy"}} 1.0' in text
    assert f'{DURATION}_bucket{{endpoint="{Paths.PERSON_ADD}",le="0.5"}} 1.0' in text
    assert f'{DURATION}_bucket{{endpoint="{Paths.PERSON_ADD}",le="0.25"}} 0.0' in text
