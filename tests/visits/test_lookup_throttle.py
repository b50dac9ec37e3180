"""Look-ups by national ID are limited per user (PROPUSK_LOOKUP_LIMIT per window)."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.urls import reverse

from propusk.audit.models import AuditEntry
from propusk.visitors.services import LookupThrottled, look_up_visitor
from tests.factories import make_iin, make_visitor

from .test_lookup import find, typed

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_now")]


@pytest.fixture(autouse=True)
def _small_limit_and_empty_cache():
    cache.clear()
    with override_settings(LOOKUP_LIMIT=2, LOOKUP_WINDOW_SECONDS=600):
        yield


def _cache_keys():
    return list(cache._cache.keys())  # LocMemCache's own store


def test_service_refuses_over_the_limit_audits_without_the_iin(reception):
    iin = make_iin()
    wanted = make_visitor(national_id=iin)
    assert look_up_visitor(national_id=iin, actor=reception) == wanted
    assert look_up_visitor(national_id=make_iin(), actor=reception) is None
    with pytest.raises(LookupThrottled) as refused:
        look_up_visitor(national_id=iin, actor=reception)
    assert refused.value.message == "Too many look-ups; try again in 10 minutes."
    assert AuditEntry.objects.filter(action="visitor.looked_up").count() == 2  # nothing more
    entry = AuditEntry.objects.get(action="visitor.lookup_throttled")
    assert entry.actor == reception
    assert (entry.target_type, entry.target_id) == ("visitors.visitor", "")
    assert iin not in str(entry.changes)
    assert wanted.national_id_hash not in str(entry.changes)
    assert not any(iin in key or wanted.national_id_hash in key for key in _cache_keys())


def test_the_limit_is_per_user(reception, admin_user):
    for _ in range(2):
        look_up_visitor(national_id=make_iin(), actor=reception)
    with pytest.raises(LookupThrottled):
        look_up_visitor(national_id=make_iin(), actor=reception)
    assert look_up_visitor(national_id=make_iin(), actor=admin_user) is None


def test_the_limit_resets_after_the_window(reception, time_machine):
    for _ in range(2):
        look_up_visitor(national_id=make_iin(), actor=reception)
    with pytest.raises(LookupThrottled):
        look_up_visitor(national_id=make_iin(), actor=reception)
    time_machine.shift(600)
    assert look_up_visitor(national_id=make_iin(), actor=reception) is None


def test_a_host_is_refused_before_counting(host, reception):
    from django.core.exceptions import PermissionDenied

    for _ in range(3):
        with pytest.raises(PermissionDenied):
            look_up_visitor(national_id=make_iin(), actor=host)
    assert not _cache_keys()


def test_find_over_the_limit_is_429_with_a_clear_message(client, reception):
    iin = make_iin()
    make_visitor(national_id=iin, family_name="Returnova")
    for _ in range(2):
        assert find(client, reception, make_iin()).status_code == 200
    response = find(client, reception, iin, purpose="Typed before Find")
    body = response.content.decode()
    assert response.status_code == 429
    assert "Too many look-ups; try again in 10 minutes." in body
    assert "Returnova" not in body  # nothing was looked up
    assert 'value="Typed before Find"' in body  # the form stays as typed
    assert not AuditEntry.objects.filter(action="visitor.looked_up", target_id__gt="").exists()
    assert AuditEntry.objects.filter(action="visitor.lookup_throttled").count() == 1


def test_find_over_the_limit_is_translated(client, reception):
    for _ in range(2):
        find(client, reception, make_iin())
    client.cookies["django_language"] = "ru"
    response = client.post(
        reverse("visits:register_lookup"),
        typed(**{"visitor-national_id": make_iin()}),
        HTTP_ACCEPT_LANGUAGE="ru",
    )
    assert response.status_code == 429
    assert "Слишком много запросов на поиск" in response.content.decode()


def test_group_member_find_over_the_limit_is_429(client, reception, host, guest_policy):
    from propusk.invitations.models import InvitationKind
    from propusk.invitations.services import create_invitation

    from .conftest import NOW

    invitation = create_invitation(
        host=host,
        actor=host,
        kind=InvitationKind.GROUP,
        access_policy=guest_policy,
        purpose="Open day",
        department=None,
        planned_start=NOW.replace(hour=14),
        planned_end=NOW.replace(hour=16),
        max_uses=5,
    )
    url = reverse("visits:register_member_lookup", args=[invitation.group.pk])
    client.force_login(reception)
    for _ in range(2):
        response = client.post(url, {"visitor-national_id": make_iin()})
        assert response.status_code == 200
    response = client.post(url, {"visitor-national_id": make_iin()})
    assert response.status_code == 429
    assert "Too many look-ups" in response.content.decode()


def test_admin_find_over_the_limit_shows_a_message_and_looks_nothing_up(client, admin_user):
    admin_user.is_staff = True
    admin_user.is_superuser = True  # as seed_demo makes the administrator
    admin_user.save()
    iin = make_iin()
    make_visitor(national_id=iin, family_name="Wanted")
    client.force_login(admin_user)
    find_url = reverse("admin:visitors_visitor_find_by_national_id")
    for _ in range(2):
        client.post(find_url, {"national_id": make_iin()})
    response = client.post(find_url, {"national_id": iin}, follow=True)
    assert "Too many look-ups; try again in 10 minutes." in response.content.decode()
    # Back to the whole list, not to the visitor: nothing was looked up.
    assert response.redirect_chain == [(reverse("admin:visitors_visitor_changelist"), 302)]
    assert AuditEntry.objects.filter(action="visitor.looked_up").count() == 2
    assert AuditEntry.objects.filter(action="visitor.lookup_throttled").count() == 1
