"""Invitation services: creating, withdrawing and redeeming links."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from propusk.audit.models import AuditEntry
from propusk.invitations.models import Invitation, InvitationKind
from propusk.invitations.selectors import InvitationState, invitation_state
from propusk.invitations.services import (
    InvitationUnavailable,
    create_invitation,
    redeem_invitation,
    revoke_invitation,
)
from propusk.visitors.models import Visitor
from propusk.visits.models import Visit, VisitGroup, VisitKind, VisitStatus
from propusk.visits.services import confirm_visitor_identity
from tests.factories import make_iin, make_jpeg, make_visitor, visitor_data

pytestmark = pytest.mark.django_db


def _create(actor, host, policy, **overrides):
    values = {
        "host": host,
        "actor": actor,
        "kind": InvitationKind.SINGLE,
        "access_policy": policy,
        "purpose": "Meeting",
        "department": None,
    }
    values.update(overrides)
    return create_invitation(**values)


# --- Creating -----------------------------------------------------------------------


def test_single_invitation_may_leave_the_time_open(single_invitation, host, settings):
    assert single_invitation.kind == InvitationKind.SINGLE
    assert single_invitation.planned_start is None
    assert single_invitation.max_uses == 1
    assert single_invitation.host == host
    assert single_invitation.created_by == host
    assert single_invitation.department == host.profile.department  # the host's by default
    lifetime = single_invitation.expires_at - single_invitation.created_at
    assert abs(lifetime - timedelta(hours=settings.INVITATION_LIFETIME_HOURS)) < timedelta(
        minutes=1
    )
    assert invitation_state(single_invitation) == InvitationState.OPEN


def test_link_of_a_timed_invitation_expires_with_the_visit(timed_invitation, window):
    assert timed_invitation.expires_at == window[1]


def test_group_invitation_creates_the_visit_group(group_invitation, host, window):
    group = group_invitation.group
    assert isinstance(group, VisitGroup)
    assert group.name == "School No. 12"
    assert group.host == host
    assert (group.planned_start, group.planned_end) == window
    assert group_invitation.max_uses == 3


def test_group_invitation_needs_the_time(host, guest_policy):
    with pytest.raises(ValidationError) as caught:
        _create(host, host, guest_policy, kind=InvitationKind.GROUP, max_uses=10)
    assert "planned_start" in caught.value.error_dict
    assert not VisitGroup.objects.exists()
    assert not Invitation.objects.exists()


def test_half_a_window_is_refused(host, guest_policy, window):
    with pytest.raises(ValidationError) as caught:
        _create(host, host, guest_policy, planned_start=window[0])
    assert "planned_end" in caught.value.error_dict


def test_single_invitation_is_used_once(host, guest_policy):
    with pytest.raises(ValidationError) as caught:
        _create(host, host, guest_policy, max_uses=5)
    assert "max_uses" in caught.value.error_dict


def test_expiry_in_the_past_is_refused(host, guest_policy):
    with pytest.raises(ValidationError) as caught:
        _create(host, host, guest_policy, expires_at=timezone.now() - timedelta(minutes=1))
    assert "expires_at" in caught.value.error_dict


def test_reception_and_admin_invite_for_any_host(reception, admin_user, host, guest_policy):
    assert _create(reception, host, guest_policy).host == host
    assert _create(admin_user, host, guest_policy).created_by == admin_user


@pytest.mark.parametrize("persona", ["security", "no_role_user", "other_host"])
def test_others_cannot_invite_for_a_host(request, persona, host, guest_policy):
    with pytest.raises(PermissionDenied):
        _create(request.getfixturevalue(persona), host, guest_policy)
    assert not Invitation.objects.exists()


def test_security_cannot_invite_even_for_itself(security, guest_policy):
    with pytest.raises(PermissionDenied):
        _create(security, security, guest_policy)


def test_token_is_not_in_the_audit_trail(single_invitation):
    entry = AuditEntry.objects.get(action="invitation.created")
    assert single_invitation.token not in json.dumps(entry.changes)


# --- Withdrawing ----------------------------------------------------------------------


def test_host_withdraws_own_link(single_invitation, host):
    revoke_invitation(invitation=single_invitation, actor=host)
    single_invitation.refresh_from_db()
    assert invitation_state(single_invitation) == InvitationState.REVOKED
    first = single_invitation.revoked_at
    revoke_invitation(invitation=single_invitation, actor=host)  # twice: no change
    single_invitation.refresh_from_db()
    assert single_invitation.revoked_at == first
    assert AuditEntry.objects.filter(action="invitation.revoked").count() == 1


def test_other_host_cannot_withdraw(single_invitation, other_host):
    with pytest.raises(PermissionDenied):
        revoke_invitation(invitation=single_invitation, actor=other_host)


# --- Redeeming ----------------------------------------------------------------------


def _redeem(invitation, submission_token=None, **data):
    return redeem_invitation(
        token=invitation.token,
        data=visitor_data(**data),
        submission_token=submission_token or uuid.uuid4(),
    )


def test_open_time_gives_a_pending_visit(single_invitation, host, guest_policy):
    visit = _redeem(single_invitation, national_id=make_iin())
    assert visit.status == VisitStatus.PENDING
    assert visit.kind == VisitKind.GUEST
    assert visit.host == host
    assert visit.access_policy == guest_policy
    assert visit.invitation == single_invitation
    assert visit.purpose == "Thesis defence"
    # The proposed window starts at the current minute (rounded down).
    assert visit.planned_end > visit.planned_start >= timezone.now() - timedelta(minutes=2)
    assert visit.created_by is None
    single_invitation.refresh_from_db()
    assert single_invitation.uses_count == 1
    visitor_entry = AuditEntry.objects.get(action="visitor.registered")
    assert visitor_entry.actor is None
    assert visitor_entry.actor_label == "invitation"


def test_fixed_time_gives_an_awaiting_visit(timed_invitation, window):
    visit = _redeem(timed_invitation)
    assert visit.status == VisitStatus.AWAITING
    assert (visit.planned_start, visit.planned_end) == window


def test_group_link_gives_each_visitor_a_visit_in_the_group(group_invitation, window):
    visits = [
        _redeem(group_invitation, family_name=name, national_id=make_iin())
        for name in ("Abenova", "Bekova", "Serikova")
    ]
    assert len({v.visitor_id for v in visits}) == 3
    for visit in visits:
        assert visit.kind == VisitKind.GROUP
        assert visit.group == group_invitation.group
        assert visit.status == VisitStatus.AWAITING
        assert (visit.planned_start, visit.planned_end) == window
    group_invitation.refresh_from_db()
    assert group_invitation.uses_count == 3
    assert invitation_state(group_invitation) == InvitationState.USED

    with pytest.raises(InvitationUnavailable) as caught:
        _redeem(group_invitation, family_name="Late")
    assert caught.value.code == InvitationState.USED
    assert Visit.objects.count() == 3
    assert not Visitor.objects.filter(family_name="Late").exists()


def test_a_number_already_on_a_group_link_is_not_refused_nor_revealed(group_invitation):
    """Refusing would tell a link holder that the number is in the group, and would let them
    block the real person: the second registration gets its own record, checked at the desk."""
    iin = make_iin()
    first = _redeem(group_invitation, national_id=iin)
    second = _redeem(group_invitation, national_id=iin, family_name="Changed")
    assert second.visitor_id != first.visitor_id
    assert second.visitor.needs_identity_check
    assert Visitor.objects.get(pk=first.visitor_id).family_name == "Ivanova"
    assert Visit.objects.count() == 2


def test_reused_single_link_is_refused(single_invitation):
    _redeem(single_invitation)
    with pytest.raises(InvitationUnavailable) as caught:
        _redeem(single_invitation, family_name="Second")
    assert caught.value.message == "This invitation has already been used."
    assert Visit.objects.count() == 1
    assert Visitor.objects.count() == 1


def test_expired_link_is_refused_and_creates_nothing(single_invitation):
    with (
        time_machine.travel(single_invitation.expires_at + timedelta(seconds=1)),
        pytest.raises(InvitationUnavailable) as caught,
    ):
        _redeem(single_invitation)
    assert caught.value.code == InvitationState.EXPIRED
    assert not Visitor.objects.exists()
    assert not Visit.objects.exists()


def test_revoked_link_is_refused_and_creates_nothing(single_invitation, host):
    revoke_invitation(invitation=single_invitation, actor=host)
    with pytest.raises(InvitationUnavailable) as caught:
        _redeem(single_invitation)
    assert caught.value.code == InvitationState.REVOKED
    assert not Visitor.objects.exists()


def test_unknown_token_is_refused():
    with pytest.raises(InvitationUnavailable) as caught:
        redeem_invitation(token="nope", data=visitor_data(), submission_token=uuid.uuid4())
    assert caught.value.code == "unknown"


def test_double_submit_creates_one_visit_counted_once(single_invitation):
    token = uuid.uuid4()
    first = _redeem(single_invitation, submission_token=token)
    second = _redeem(single_invitation, submission_token=token)
    assert first.pk == second.pk
    assert Visit.objects.count() == 1
    single_invitation.refresh_from_db()
    assert single_invitation.uses_count == 1


def test_submission_token_of_another_invitation_is_refused(single_invitation, timed_invitation):
    token = uuid.uuid4()
    _redeem(single_invitation, submission_token=token)
    with pytest.raises(ValidationError):
        _redeem(timed_invitation, submission_token=token)
    assert Visit.objects.count() == 1


def test_consent_refused_creates_nothing(single_invitation):
    with pytest.raises(ValidationError):
        _redeem(single_invitation, consent=False)
    assert not Visitor.objects.exists()
    single_invitation.refresh_from_db()
    assert single_invitation.uses_count == 0


def test_returning_visitor_through_a_link_is_matched_at_the_desk(
    single_invitation, timed_invitation, admin_user
):
    """The link attaches nothing to the stored person; reception's confirmation does, and
    then the same person is one visitor again (one HCP person)."""
    iin = make_iin()
    first = _redeem(single_invitation, national_id=iin)
    second = _redeem(timed_invitation, national_id=iin, photo_jpeg=make_jpeg(color=(9, 9, 9)))
    assert first.visitor_id != second.visitor_id
    assert Visitor.objects.count() == 2

    confirm_visitor_identity(visit=second, actor=admin_user, same_person=True)

    second.refresh_from_db()
    assert second.visitor_id == first.visitor_id
    assert Visitor.objects.count() == 1


def test_redeem_refused_after_the_visitor_was_written_leaves_no_face_file(
    timed_invitation, guest_policy, settings
):
    # The visitor (and their face file) is written before register_visit refuses: here the
    # access policy was switched off after the link was sent. Nothing may stay behind.
    from pathlib import Path

    faces = Path(settings.MEDIA_ROOT) / "faces"
    before = set(faces.rglob("*.jpg"))
    guest_policy.is_active = False
    guest_policy.save()
    with pytest.raises(ValidationError):
        _redeem(timed_invitation, national_id=make_iin())
    assert not Visitor.objects.exists()
    assert set(faces.rglob("*.jpg")) == before


# --- A returning visitor through a link ------------------------------------------------


def test_link_cannot_replace_a_returning_visitors_face_or_details(single_invitation):
    """Knowing someone's ID number must not let a stranger swap their face or contacts."""
    iin = make_iin()
    original = make_visitor(national_id=iin, photo_jpeg=make_jpeg(color=(10, 200, 10)))
    original_photo = original.photo.name
    with original.photo.open("rb") as stored:
        original_bytes = stored.read()

    visit = redeem_invitation(
        token=single_invitation.token,
        data=visitor_data(
            national_id=iin,
            family_name="Impostor",
            phone="+77019999999",
            photo_jpeg=make_jpeg(color=(200, 10, 10)),
        ),
        submission_token=uuid.uuid4(),
    )

    visitor = Visitor.objects.get(pk=original.pk)
    assert visit.visitor_id != original.pk  # nothing attached to the stored person
    assert visit.visitor.needs_identity_check
    assert visitor.photo.name == original_photo
    with visitor.photo.open("rb") as stored:
        assert stored.read() == original_bytes
    assert (visitor.family_name, visitor.phone) == ("Ivanova", "+77011234567")
    assert not AuditEntry.objects.filter(action="visitor.returned").exists()


def test_link_does_not_fill_in_a_missing_photo_of_a_returning_visitor(single_invitation):
    iin = make_iin()
    original = make_visitor(national_id=iin, photo_jpeg=None)
    assert not original.photo

    redeem_invitation(
        token=single_invitation.token,
        data=visitor_data(national_id=iin),
        submission_token=uuid.uuid4(),
    )

    # A stranger's face must never become that person's face.
    assert not Visitor.objects.get(pk=original.pk).photo
