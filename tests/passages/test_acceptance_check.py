"""``manage.py acceptance_check`` against the simulator over real HTTP: passes, cleans up,
refuses a HikCentral that is not the simulator, exits non-zero on a failure."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from hcp_simulator.testing import SimulatorHandle, running_simulator
from propusk.access.models import AccessLevelPolicy, HcpPerson
from propusk.events.models import EventState, HcpEvent
from propusk.events.polling import poll
from propusk.integrations.hikcentral.factory import build_client
from propusk.notifications.models import Notification
from propusk.passages.models import Incident, Passage
from propusk.visitors.models import Visitor
from propusk.visits.models import Visit

pytestmark = pytest.mark.django_db


def test_the_acceptance_check_passes_against_the_simulator_and_cleans_up(
    hcp_settings: Any,
    site: SimulatorHandle,
    host: User,
    guest_policy: AccessLevelPolicy,
    security: User,
) -> None:
    hcp_settings.FACE_CHECK = True  # a real face, as make run's registration demands
    out = io.StringIO()
    call_command("acceptance_check", stdout=out)
    text = out.getvalue()

    for step in (
        "HCP person id saved",
        "access applied",
        "checked in at",
        "checked out at",
        "access revoked in HCP",
        "host alice notified",
        "a later attempt refused",
        "acceptance check passed",
    ):
        assert step in text, text
    # Nothing is left behind: here, nor in HCP.
    assert not Visit.objects.exists()
    assert not Visitor.objects.exists()
    assert not Passage.objects.exists()
    assert not Incident.objects.exists()
    assert not Notification.objects.exists()
    assert not HcpPerson.objects.exists()
    assert [p for p in site.control.state()["persons"] if not p.get("deleted")] == []
    # HCP keeps the run's passages: their events stay, kept with nothing to do, so that the
    # polling backfill reading them back brings no unknown face to the security dashboard.
    assert set(HcpEvent.objects.values_list("state", flat=True)) == {EventState.IGNORED}
    with build_client() as client:
        polled = poll(client)
    assert polled.complete
    assert polled.read >= 3
    assert polled.stored == 0
    assert not Passage.objects.exists()
    assert not Incident.objects.exists()


def test_a_hikcentral_that_is_not_the_simulator_is_refused(
    settings: Any, host: User, guest_policy: AccessLevelPolicy
) -> None:
    with running_simulator(seed_demo=True, control_api=False) as real_like:
        settings.HCP_BASE_URL = real_like.base_url
        settings.HCP_APP_KEY = real_like.app_key
        settings.HCP_APP_SECRET = real_like.app_secret
        with pytest.raises(CommandError, match="not the HCP simulator"):
            call_command("acceptance_check", stdout=io.StringIO())
    assert not Visit.objects.exists()


def test_a_failed_step_exits_with_its_reason_and_still_cleans_up(
    hcp_settings: Any, site: SimulatorHandle, host: User, guest_policy: AccessLevelPolicy
) -> None:
    guest_policy.hcp_access_level_ids = ["99"]  # a level HCP does not have
    guest_policy.save()
    with pytest.raises(CommandError, match="opens a door"):
        call_command("acceptance_check", stdout=io.StringIO())
    assert not Visit.objects.exists()
