"""Access policies by role: a host gives only policies marked ``hosts_may_choose``.

Reception and administrators may give any active policy (VIP included). The rule holds in the
services, so a forged form cannot get around it; the forms only offer what may be chosen.
"""

from __future__ import annotations

import uuid

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from propusk.invitations.models import Invitation, InvitationKind
from propusk.invitations.services import create_invitation
from propusk.visitors.models import Visitor
from propusk.visits import services
from propusk.visits.models import Visit, VisitKind
from tests.factories import make_jpeg, make_visitor
from tests.visits.conftest import NOW


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)
    return NOW


def _register_form(**overrides):
    data = {
        "submission_token": str(uuid.uuid4()),
        "mode": "later",
        "kind": "guest",
        "planned_start": "2030-03-12T14:00",
        "planned_end": "2030-03-12T16:00",
        "purpose": "Board meeting",
        "visitor-family_name": "Қасымов",
        "visitor-given_name": "Ерлан",
        "visitor-phone": "+7 701 234 56 78",
        "visitor-consent": "on",
        "visitor-photo": SimpleUploadedFile("f.jpg", make_jpeg(), content_type="image/jpeg"),
    }
    data.update(overrides)
    return data


def test_the_host_form_offers_only_policies_hosts_may_choose(
    client, frozen, host, guest_policy, vip_policy
):
    client.force_login(host)
    for url in (reverse("visits:register"), reverse("invitations:create")):
        page = client.get(url).content.decode()
        assert f'value="{guest_policy.pk}"' in page
        assert f'value="{vip_policy.pk}"' not in page


def test_a_host_posting_the_vip_policy_is_refused_and_nothing_is_created(
    client, frozen, host, guest_policy, vip_policy
):
    client.force_login(host)
    response = client.post(reverse("visits:register"), _register_form(access_policy=vip_policy.pk))
    assert response.status_code == 400
    assert not Visit.objects.exists()
    assert not Visitor.objects.exists()

    response = client.post(
        reverse("invitations:create"),
        {"kind": "single", "purpose": "Tour", "access_policy": vip_policy.pk, "max_uses": 1},
    )
    assert response.status_code == 400
    assert not Invitation.objects.exists()


@pytest.mark.parametrize("persona", ["reception", "admin_user"])
def test_the_desk_may_give_the_vip_policy(client, request, frozen, persona, host, vip_policy):
    client.force_login(request.getfixturevalue(persona))
    assert f'value="{vip_policy.pk}"' in client.get(reverse("visits:register")).content.decode()
    response = client.post(
        reverse("visits:register"),
        _register_form(access_policy=vip_policy.pk, host=host.pk),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Visit.objects.get().access_policy == vip_policy


def test_the_services_refuse_a_host_whatever_the_form_said(frozen, host, vip_policy):
    visitor = make_visitor()
    with pytest.raises(ValidationError) as caught:
        services.register_visit(
            kind=VisitKind.GUEST,
            visitor=visitor,
            host=host,
            planned_start=NOW,
            planned_end=NOW.replace(hour=12),
            access_policy=vip_policy,
            actor=host,
        )
    assert caught.value.error_dict["access_policy"][0].code == "policy_not_allowed"
    with pytest.raises(ValidationError) as caught:
        create_invitation(
            host=host,
            actor=host,
            kind=InvitationKind.SINGLE,
            access_policy=vip_policy,
            purpose="Tour",
            department=None,
        )
    assert caught.value.error_dict["access_policy"][0].code == "policy_not_allowed"
    with pytest.raises(ValidationError):
        services.create_visit_group(
            name="Delegation",
            host=host,
            planned_start=NOW,
            planned_end=NOW.replace(hour=12),
            access_policy=vip_policy,
            actor=host,
        )
    assert not Visit.objects.exists()
    assert not Invitation.objects.exists()


def test_a_host_default_policy_that_hosts_may_not_choose_is_a_clear_error(
    client, frozen, host, guest_policy
):
    guest_policy.hosts_may_choose = False
    guest_policy.save()
    client.force_login(host)
    response = client.post(reverse("visits:register"), _register_form())
    assert response.status_code == 400
    assert "no default access policy" in response.content.decode()
    assert not Visit.objects.exists()


def test_a_link_made_by_reception_with_vip_registers_its_visitor(
    client, frozen, host, reception, vip_policy
):
    """The policy was checked when reception made the link; the visitor gets it."""
    invitation = create_invitation(
        host=host,
        actor=reception,
        kind=InvitationKind.SINGLE,
        access_policy=vip_policy,
        purpose="Rector's guest",
        department=None,
        planned_start=NOW.replace(hour=14),
        planned_end=NOW.replace(hour=16),
    )
    response = client.post(
        reverse("invitations:public", args=[invitation.token]),
        {
            "family_name": "Оспанова",
            "given_name": "Әсел",
            "phone": "+7 701 000 11 22",
            "consent": "on",
            "submission_token": str(uuid.uuid4()),
            "photo": SimpleUploadedFile("me.jpg", make_jpeg(), content_type="image/jpeg"),
        },
    )
    assert response.status_code == 200
    assert Visit.objects.get().access_policy == vip_policy
