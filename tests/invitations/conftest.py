"""Fixtures for invitation tests: windows relative to the real clock, ready invitations."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from propusk.access.models import AccessLevelPolicy
from propusk.invitations.models import Invitation, InvitationKind
from propusk.invitations.services import create_invitation


def tomorrow_at(hour: int) -> datetime:
    local = timezone.localtime() + timedelta(days=1)
    return local.replace(hour=hour, minute=0, second=0, microsecond=0)


@pytest.fixture
def window() -> tuple[datetime, datetime]:
    return tomorrow_at(10), tomorrow_at(12)


@pytest.fixture
def single_invitation(host: User, guest_policy: AccessLevelPolicy) -> Invitation:
    """One visitor, time left open."""
    return create_invitation(
        host=host,
        actor=host,
        kind=InvitationKind.SINGLE,
        access_policy=guest_policy,
        purpose="Thesis defence",
        department=None,
    )


@pytest.fixture
def timed_invitation(
    host: User, guest_policy: AccessLevelPolicy, window: tuple[datetime, datetime]
) -> Invitation:
    return create_invitation(
        host=host,
        actor=host,
        kind=InvitationKind.SINGLE,
        access_policy=guest_policy,
        purpose="Consultation",
        department=None,
        planned_start=window[0],
        planned_end=window[1],
    )


@pytest.fixture
def group_invitation(
    host: User, guest_policy: AccessLevelPolicy, window: tuple[datetime, datetime]
) -> Invitation:
    return create_invitation(
        host=host,
        actor=host,
        kind=InvitationKind.GROUP,
        access_policy=guest_policy,
        purpose="Open day",
        department=None,
        planned_start=window[0],
        planned_end=window[1],
        max_uses=3,
        group_name="School No. 12",
    )
