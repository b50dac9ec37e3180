"""Short leases kept alive by a thread (reconciler.LeaseKeeper): a worker killed in the middle of
a batch holds its persons for ``PROPUSK_ACCESS_LEASE_RENEWED_SECONDS``, not the long lease, while
a live worker's run keeps them however long one HCP call takes."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from hcp_simulator.testing import SimulatorHandle
from hikcentral import HikCentralClient
from propusk.access import reconciler
from propusk.access.models import AccessWork
from propusk.access.reconciler import claim_due_work, reconcile_due_work
from propusk.integrations.hikcentral.factory import build_config
from propusk.visits.models import Visit

from .conftest import start_simulator

# The keeper's thread has a database connection of its own: it sees committed rows only.
pytestmark = [
    pytest.mark.simulator,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

RENEWED = 3.0  # seconds: the shortest the setting takes

Register = Callable[..., Visit]


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorHandle]:
    yield from start_simulator(apply_delay=0)


def test_a_killed_workers_claim_is_taken_over_when_the_renewed_lease_lapses(
    site: SimulatorHandle, register: Register, hcp_settings: Any
) -> None:
    visit = register()
    now = timezone.now()
    # A worker claims the person with the short lease, then dies: no renewal, no give-back.
    dead = claim_due_work(now=now, limit=5, token=secrets.token_hex(16), lease_seconds=RENEWED)
    assert [claim.person_code for claim in dead] == [visit.visitor.person_code]

    assert claim_due_work(now=now + timedelta(seconds=RENEWED - 0.5), limit=5, token="other") == []
    taken = claim_due_work(now=now + timedelta(seconds=RENEWED), limit=5, token="other")
    assert [claim.person_code for claim in taken] == [visit.visitor.person_code]
    # ... and the long lease, without a keeper, holds as long as it says.
    work = AccessWork.objects.get(pk=taken[0].pk)
    assert work.leased_until == now + timedelta(seconds=RENEWED + 300)


@pytest.mark.parametrize("renewing", [True, False], ids=["kept", "not-renewed"])
def test_a_runs_short_leases_are_kept_while_one_call_takes_longer_than_the_lease(
    site: SimulatorHandle,
    register: Register,
    hcp_settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    renewing: bool,
) -> None:
    hcp_settings.PROPUSK_ACCESS_LEASE_RENEWED_SECONDS = RENEWED
    visit = register()
    if not renewing:  # the keeper's thread does nothing: what the renewals are for
        monkeypatch.setattr(reconciler.LeaseKeeper, "_run", lambda self: None)
    seen: list[tuple[float, list[str]]] = []

    def observer(path: str, data: object) -> None:
        if not path.endswith("/person/single/add"):
            return
        # HCP (or the quota) keeps this one call longer than the lease: another worker
        # tries to take the person meanwhile.
        started = time.monotonic()
        while time.monotonic() - started < RENEWED + 1.5:
            time.sleep(0.5)
            work = AccessWork.objects.get(person_code=visit.visitor.person_code)
            assert work.leased_until is not None
            left = (work.leased_until - timezone.now()).total_seconds()
            assert left <= RENEWED  # the short lease, not the long one
            others = claim_due_work(now=timezone.now(), limit=5, token="another-worker")
            seen.append((left, [claim.person_code for claim in others]))
            if others:
                break

    with HikCentralClient(build_config(), response_observer=observer) as client:
        result = reconcile_due_work(client=client, linger=0.5)

    taken_over = [codes for _, codes in seen if codes]
    if renewing:
        assert taken_over == []
        assert result.reconciled == 1
        assert not AccessWork.objects.exclude(lease_token="").exists()
    else:
        assert taken_over == [[visit.visitor.person_code]]
