"""Staff register members of a group visit at the desk: the service, its page, the group page."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from propusk.audit.models import AuditEntry
from propusk.invitations.models import InvitationKind
from propusk.invitations.selectors import InvitationState, invitation_state
from propusk.invitations.services import create_invitation, redeem_invitation
from propusk.visitors.models import Visitor
from propusk.visits import services
from propusk.visits.models import Visit, VisitKind, VisitStatus
from tests.factories import make_iin, make_jpeg, make_visitor, visitor_data

from .conftest import NOW

START, END = NOW.replace(hour=14), NOW.replace(hour=16)


@pytest.fixture
def invitation(frozen_now, host, reception, vip_policy):
    """alice's group "School No. 12", today 14:00-16:00, a link for up to 2 people (made by
    reception: hosts may not give the VIP policy)."""
    return create_invitation(
        host=host,
        actor=reception,
        kind=InvitationKind.GROUP,
        access_policy=vip_policy,
        purpose="Open day",
        department=None,
        planned_start=START,
        planned_end=END,
        max_uses=2,
        group_name="School No. 12",
    )


@pytest.fixture
def group(invitation):
    return invitation.group


def _member(group, actor, **kwargs):
    visitor = kwargs.pop("visitor", None) or make_visitor(national_id=make_iin())
    return services.register_group_member(group=group, visitor=visitor, actor=actor, **kwargs)


def _redeem(invitation, **data):
    return redeem_invitation(
        token=invitation.token, data=visitor_data(**data), submission_token=uuid.uuid4()
    )


# --- The service ------------------------------------------------------------------------


def test_member_takes_everything_from_the_group(group, invitation, reception, host, vip_policy):
    visit = _member(group, reception)

    visit.refresh_from_db()
    assert visit.kind == VisitKind.GROUP
    assert visit.group == group
    assert visit.status == VisitStatus.AWAITING
    assert visit.host == host
    assert (visit.planned_start, visit.planned_end) == (START, END)
    assert visit.department == host.profile.department == group.department
    assert visit.purpose == "Open day"
    assert visit.access_policy == vip_policy
    assert visit.created_by == reception
    assert visit.invitation is None  # not a use of the link
    entry = AuditEntry.objects.get(action="visit.registered", target_id=str(visit.pk))
    assert entry.actor == reception
    assert entry.changes["group"] == [None, group.pk]


def test_single_pass_is_the_one_choice(group, reception):
    assert _member(group, reception).single_pass is False  # the policy's default
    assert _member(group, reception, single_pass=True).single_pass is True


def test_desk_members_do_not_count_against_the_link(group, invitation, reception):
    _member(group, reception)
    _member(group, reception)
    invitation.refresh_from_db()
    assert invitation.uses_count == 0
    assert invitation_state(invitation) == InvitationState.OPEN

    _redeem(invitation, national_id=make_iin())
    _redeem(invitation, national_id=make_iin())
    invitation.refresh_from_db()
    assert invitation_state(invitation) == InvitationState.USED
    # The link is used up; the desk still registers while the group's time is not over.
    _member(group, reception)
    assert group.visits.count() == 5


@pytest.mark.parametrize("moment", [END, END + timedelta(days=1)])
def test_refused_once_the_groups_window_is_over(group, reception, moment):
    visitor = make_visitor(national_id=make_iin())
    with time_machine.travel(moment, tick=False), pytest.raises(ValidationError) as caught:
        _member(group, reception, visitor=visitor)
    assert caught.value.code == "group_over"
    assert "no more members" in caught.value.messages[0]
    assert not Visit.objects.exists()


def test_a_group_that_has_started_still_takes_members(group, reception):
    with time_machine.travel(START + timedelta(minutes=30), tick=False):
        visit = _member(group, reception)
    assert visit.planned_start == START


def test_the_same_person_twice_is_refused(group, reception):
    visitor = make_visitor(national_id=make_iin())
    _member(group, reception, visitor=visitor)
    with pytest.raises(services.AlreadyInGroup) as caught:
        _member(group, reception, visitor=visitor)
    assert caught.value.code == "already_in_group"
    assert "Ivanova Aigerim is already registered in this group." in caught.value.messages
    assert group.visits.count() == 1


def test_one_rule_for_link_and_desk(group, invitation, reception):
    """Whoever registered a person first, the other way refuses them: the rule is one."""
    first_iin, second_iin = make_iin(), make_iin()
    _redeem(invitation, national_id=first_iin)
    with pytest.raises(services.AlreadyInGroup):
        _member(group, reception, visitor=Visitor.objects.get(family_name="Ivanova"))

    # The link never says who is in the group: a number already there gets a visit of its own,
    # on a record reception confirms at arrival (see tests/visitors/test_identity_disclosure.py).
    desk = make_visitor(national_id=second_iin, family_name="Desk")
    _member(group, reception, visitor=desk)
    visit = _redeem(invitation, national_id=second_iin)
    assert visit.visitor_id != desk.pk
    assert visit.visitor.needs_identity_check
    assert group.visits.count() == 3
    invitation.refresh_from_db()
    assert invitation.uses_count == 2


def test_a_cancelled_member_may_be_registered_again(group, reception):
    visitor = make_visitor(national_id=make_iin())
    services.cancel(visit=_member(group, reception, visitor=visitor), actor=reception)
    assert _member(group, reception, visitor=visitor).status == VisitStatus.AWAITING


def test_register_visit_itself_refuses_a_second_membership(group, reception, host, vip_policy):
    """Any path into a group goes through register_visit, which holds the rule."""
    visitor = make_visitor()
    arguments = {
        "kind": VisitKind.GROUP,
        "visitor": visitor,
        "host": host,
        "planned_start": START,
        "planned_end": END,
        "access_policy": vip_policy,
        "actor": reception,
        "group": group,
    }
    services.register_visit(**arguments)
    with pytest.raises(services.AlreadyInGroup):
        services.register_visit(**arguments)


@pytest.mark.parametrize(
    ("actor", "allowed"),
    [
        ("reception", True),
        ("admin_user", True),
        ("host", True),  # the group's host
        ("other_host", False),
        ("security", False),
        ("no_role_user", False),
    ],
)
def test_who_may_register_a_member(group, request, actor, allowed):
    user = request.getfixturevalue(actor)
    visitor = make_visitor(national_id=make_iin())
    if allowed:
        assert _member(group, user, visitor=visitor).created_by == user
    else:
        with pytest.raises(PermissionDenied):
            _member(group, user, visitor=visitor)
        assert not Visit.objects.exists()


def test_permission_is_checked_before_the_window(group, other_host):
    with time_machine.travel(END + timedelta(hours=1), tick=False), pytest.raises(PermissionDenied):
        _member(group, other_host)


# --- The page ---------------------------------------------------------------------------


def photo():
    return SimpleUploadedFile("face.jpg", make_jpeg(), content_type="image/jpeg")


def member_data(**overrides):
    data = {
        "submission_token": str(uuid.uuid4()),
        "single_pass": "",
        "visitor-family_name": "Serikova",
        "visitor-given_name": "Madina",
        "visitor-phone": "+7 701 111 22 33",
        "visitor-national_id": make_iin(),
        "visitor-consent": "on",
        "visitor-photo": photo(),
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def page_url(group):
    return reverse("visits:register_member", args=[group.pk])


def test_page_shows_the_group_read_only_and_asks_only_for_the_visitor(client, group, reception):
    client.force_login(reception)
    response = client.get(page_url(group))
    body = response.content.decode()
    assert response.status_code == 200
    assert "School No. 12" in body
    assert "Open day" in body
    assert "VIP guests" in body
    assert "12.03.2030 14:00 \N{EN DASH} 16:00" in body
    for absent in ('name="host"', 'name="planned_start"', 'name="kind"', 'name="access_policy"'):
        assert absent not in body
    assert 'name="single_pass"' in body
    assert 'name="visitor-photo"' in body
    assert "do not count against the link" in body


@pytest.mark.parametrize("persona", ["reception", "admin_user", "host"])
def test_staff_register_a_member_on_the_page(client, group, invitation, request, persona):
    user = request.getfixturevalue(persona)
    client.force_login(user)
    response = client.post(page_url(group), member_data(single_pass="yes"))

    visit = Visit.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("invitations:detail", args=[invitation.pk])
    assert visit.group == group
    assert visit.single_pass is True
    assert visit.created_by == user
    assert visit.visitor.full_name == "Serikova Madina"
    assert visit.visitor.photo


def test_register_and_add_another_comes_back_to_the_form(client, group, reception):
    client.force_login(reception)
    response = client.post(page_url(group), member_data(then="another"))
    assert response.status_code == 302
    assert response["Location"] == page_url(group)
    assert "Serikova Madina is registered in the group School No. 12." in (
        client.get(response["Location"]).content.decode()
    )


def test_double_submit_lands_on_the_same_visit(client, group, reception):
    client.force_login(reception)
    data = member_data()
    client.post(page_url(group), data)
    data["visitor-photo"] = photo()
    second = client.post(page_url(group), data)
    visit = Visit.objects.get()
    assert second["Location"] == reverse("visits:detail", args=[visit.pk])


def test_the_same_person_twice_on_the_page_is_refused_without_a_stray_face(
    client, group, reception, settings
):
    client.force_login(reception)
    iin = make_iin()
    first = client.post(page_url(group), member_data(**{"visitor-national_id": iin}))
    assert first.status_code == 302
    faces = set((Path(settings.MEDIA_ROOT) / "faces").rglob("*.jpg"))

    response = client.post(page_url(group), member_data(**{"visitor-national_id": iin}))

    assert response.status_code == 400
    assert "Serikova Madina is already registered in this group." in response.content.decode()
    assert Visit.objects.count() == 1
    assert set((Path(settings.MEDIA_ROOT) / "faces").rglob("*.jpg")) == faces


def test_form_errors_keep_the_input(client, group, reception):
    client.force_login(reception)
    response = client.post(page_url(group), member_data(**{"visitor-consent": None}))
    body = response.content.decode()
    assert response.status_code == 400
    assert 'value="Serikova"' in body
    assert "Photo received" in body
    assert not Visit.objects.exists()


def test_page_of_a_group_that_is_over(client, group, reception):
    client.force_login(reception)
    with time_machine.travel(END + timedelta(minutes=1), tick=False):
        page = client.get(page_url(group))
        refused = client.post(page_url(group), member_data())
    assert page.status_code == 200
    assert "no more members can be registered" in page.content.decode()
    assert 'name="visitor-family_name"' not in page.content.decode()
    assert refused.status_code == 400
    assert not Visit.objects.exists()


@pytest.mark.parametrize(("persona", "status"), [("other_host", 404), ("security", 403)])
def test_others_cannot_open_or_use_the_page(client, group, request, persona, status):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(page_url(group)).status_code == status
    assert client.post(page_url(group), member_data()).status_code == status
    assert not Visit.objects.exists()


def test_no_role_is_403_and_anonymous_is_sent_to_login(client, group, no_role_user):
    assert reverse("login") in client.get(page_url(group))["Location"]
    client.force_login(no_role_user)
    assert client.get(page_url(group)).status_code == 403
    assert client.post(page_url(group), member_data()).status_code == 403


def test_unknown_group_is_404(client, reception, frozen_now):
    client.force_login(reception)
    assert client.get(reverse("visits:register_member", args=[999])).status_code == 404


# --- The group's page (the group invitation) and a member's visit page --------------------


def test_group_page_lists_every_member_with_status_and_counts(
    client, group, invitation, reception, host
):
    linked = _redeem(invitation, family_name="Linkova", national_id=make_iin())
    desk = _member(group, reception, visitor=make_visitor(family_name="Deskova"))
    services.cancel(visit=linked, actor=host)

    client.force_login(host)
    body = client.get(reverse("invitations:detail", args=[invitation.pk])).content.decode()

    assert "Members of the group" in body
    assert "Linkova Aigerim" in body
    assert "Deskova Aigerim" in body
    assert "through the link" in body
    assert f"by {reception.get_full_name()}" in body
    assert "status-cancelled" in body
    assert "status-awaiting" in body
    assert reverse("visits:detail", args=[desk.pk]) in body
    assert page_url(group) in body  # "Register a member"
    context = client.get(reverse("invitations:detail", args=[invitation.pk])).context
    assert (context["member_count"], context["desk_count"]) == (1, 1)
    assert "Registered through the link" in body


def test_group_page_has_no_register_button_once_over(client, group, invitation, host):
    client.force_login(host)
    with time_machine.travel(END, tick=False):
        body = client.get(reverse("invitations:detail", args=[invitation.pk])).content.decode()
    assert page_url(group) not in body
    assert "no more members can be registered" in body


def test_member_visit_page_links_the_group_and_offers_to_register(
    client, group, invitation, reception, security
):
    visit = _member(group, reception)
    client.force_login(reception)
    body = client.get(reverse("visits:detail", args=[visit.pk])).content.decode()
    assert reverse("invitations:detail", args=[invitation.pk]) in body
    assert page_url(group) in body

    client.force_login(security)  # sees every visit, registers nobody
    body = client.get(reverse("visits:detail", args=[visit.pk])).content.decode()
    assert page_url(group) not in body
    assert "School No. 12" in body
