"""Correct history and wording: only real changes, by label and name; staff forms speak to
staff; a visit from a link without a time has no time (and no access) until one is confirmed."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse

from propusk.access.desired import desired_state
from propusk.invitations.models import InvitationKind
from propusk.invitations.services import create_invitation, redeem_invitation
from propusk.visits import services
from propusk.visits.history import history_rows
from propusk.visits.models import VisitKind, VisitStatus
from propusk.visits.selectors import visit_history
from tests.factories import make_iin, make_visitor, visitor_data

from .conftest import NOW

pytestmark = pytest.mark.django_db


@pytest.fixture
def visit(frozen_now, reception, host, guest_policy):
    return services.register_visit(
        kind=VisitKind.GUEST,
        visitor=make_visitor(family_name="Нурланова", given_name="Айгерим"),
        host=host,
        planned_start=NOW + timedelta(hours=1),
        planned_end=NOW + timedelta(hours=3),
        access_policy=guest_policy,
        actor=reception,
    )


def _rows(visit):
    return history_rows(visit_history(visit).select_related("actor"))


def test_a_change_of_the_end_shows_the_end_only(visit, reception):
    services.change_window(
        visit=visit,
        planned_start=visit.planned_start,  # unchanged: not a change
        planned_end=NOW + timedelta(hours=4),
        actor=reception,
    )
    entry = visit_history(visit).last()
    assert entry is not None
    assert set(entry.changes) == {"planned_end"}  # the audit entry itself holds the end only
    changed = _rows(visit)[-1]
    assert changed.action == "Time changed"
    assert [(c.field, c.old, c.new) for c in changed.changes] == [
        ("Planned end", "12.03.2030 13:00", "12.03.2030 14:00")
    ]


def test_registration_shows_values_set_with_labels_and_the_policy_by_name(visit):
    registered = _rows(visit)[0]
    fields = {change.field: change for change in registered.changes}
    assert fields["Access policy"].new == "Guests"  # the name, not the key "guest"
    assert fields["Status"].new == "Expected"
    assert all(change.new for change in registered.changes)  # nothing empty listed
    assert "guest" not in [change.new for change in registered.changes]


def test_a_check_in_shows_the_status_and_the_time(visit, reception, time_machine):
    time_machine.move_to(NOW + timedelta(hours=1), tick=False)
    services.check_in(visit=visit, actor=reception)
    checked_in = _rows(visit)[-1]
    assert [c.field for c in checked_in.changes] == ["Status", "Checked in at"]


# --- Wording: staff pages speak to staff, the public page to the visitor ------------------


def test_the_desk_form_speaks_to_staff(client, reception, frozen_now):
    client.force_login(reception)
    body = client.get(reverse("visits:register")).content.decode()
    assert "The visitor has read the text above and agrees" in body
    assert "Photo of the visitor&#x27;s face" in body
    assert "I agree to the processing of my" not in body
    assert "Photo of your face" not in body


def test_the_group_member_form_speaks_to_staff(client, reception, host, guest_policy, frozen_now):
    invitation = create_invitation(
        host=host,
        actor=reception,
        kind=InvitationKind.GROUP,
        access_policy=guest_policy,
        purpose="Open day",
        department=None,
        planned_start=NOW + timedelta(hours=1),
        planned_end=NOW + timedelta(hours=3),
        max_uses=5,
        group_name="School No. 12",
    )
    client.force_login(reception)
    body = client.get(reverse("visits:register_member", args=[invitation.group.pk])).content
    assert "The visitor has read the text above and agrees" in body.decode()


def test_the_public_page_speaks_to_the_visitor(client, host, guest_policy):
    invitation = create_invitation(
        host=host,
        actor=host,
        kind=InvitationKind.SINGLE,
        access_policy=guest_policy,
        purpose="Thesis defence",
        department=None,
    )
    body = client.get(reverse("invitations:public", args=[invitation.token])).content.decode()
    assert "I agree to the processing of my personal and biometric data" in body
    assert "Photo of your face" in body
    assert "The visitor has read" not in body


def test_a_consent_refused_at_the_desk_is_explained_to_staff(client, reception, host, frozen_now):
    client.force_login(reception)
    response = client.post(
        reverse("visits:register"),
        {
            "submission_token": str(uuid.uuid4()),
            "mode": "now",
            "kind": "guest",
            "duration": "60",
            "host": str(host.pk),
            "visitor-family_name": "Сейткали",
            "visitor-given_name": "Ерлан",
            "visitor-phone": "+7 701 234 56 78",
        },
    )
    assert response.status_code == 400
    assert "Without the visitor&#x27;s consent no pass can be issued." in response.content.decode()


# --- A link without a time ------------------------------------------------------------------


@pytest.fixture
def pending_visit(frozen_now, host, guest_policy):
    invitation = create_invitation(
        host=host,
        actor=host,
        kind=InvitationKind.SINGLE,
        access_policy=guest_policy,
        purpose="Thesis defence",
        department=None,
    )
    return redeem_invitation(
        token=invitation.token,
        data=visitor_data(family_name="Ахметова", national_id=make_iin()),
        submission_token=uuid.uuid4(),
    )


def test_a_visit_from_a_link_without_a_time_gives_no_access(pending_visit):
    assert pending_visit.status == VisitStatus.PENDING
    desired = desired_state(pending_visit.visitor.person_code, now=NOW + timedelta(minutes=5))
    assert desired.person is None  # no access in HCP until a time is confirmed


def _value_of(body: str, name: str) -> str | None:
    match = re.search(rf'<input[^>]*name="{name}"[^>]*>', body)
    assert match is not None, name
    value = re.search(r'value="([^"]*)"', match.group(0))
    return value.group(1) if value else None


def test_the_confirm_form_starts_empty_not_with_the_placeholder(client, host, pending_visit):
    client.force_login(host)
    body = client.get(reverse("visits:detail", args=[pending_visit.pk])).content.decode()
    assert 'id="confirm"' in body
    assert _value_of(body, "confirm-planned_start") is None
    assert _value_of(body, "confirm-planned_end") is None
    # The page says there is no time yet, instead of "now until the link expires".
    assert "time not confirmed yet" in body
    expires = pending_visit.planned_end.astimezone(NOW.tzinfo).strftime("%d.%m.%Y %H:%M")
    assert expires not in body


def test_the_history_of_a_pending_visit_shows_no_placeholder_time(pending_visit):
    registered = _rows(pending_visit)[0]
    assert "Planned start" not in [change.field for change in registered.changes]
    assert "Planned end" not in [change.field for change in registered.changes]


def test_confirming_the_time_gives_access_then(client, host, pending_visit):
    client.force_login(host)
    response = client.post(
        reverse("visits:confirm", args=[pending_visit.pk]),
        {"confirm-planned_start": "2030-03-12T14:00", "confirm-planned_end": "2030-03-12T16:00"},
    )
    assert response.status_code == 302
    pending_visit.refresh_from_db()
    assert pending_visit.status == VisitStatus.AWAITING
    desired = desired_state(pending_visit.visitor.person_code, now=NOW + timedelta(hours=4))
    assert desired.person is not None
