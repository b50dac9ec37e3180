"""Reading and changing visits through the API: the pages' scoping (404 for a visit the
user may not see), the services' permission checks (403 with the reason), refused
transitions (409), access work for the engine, errors in Russian."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient

from propusk.access.models import AccessLevelPolicy, AccessWork
from propusk.audit.models import AuditEntry
from propusk.visits.models import Visit, VisitStatus
from tests.api.conftest import registration
from tests.conftest import QueuedAccessWork

pytestmark = pytest.mark.django_db

CYRILLIC = re.compile("[\u0400-\u04ff]")


@pytest.fixture
def register(token_client, reception: User, guest_policy: AccessLevelPolicy):
    """Reception registers a visit through the API (a walk-in unless told otherwise)."""
    desk = token_client(reception)

    def post(host: User, **overrides: Any) -> dict[str, Any]:
        body = registration(host=host.pk, **overrides)
        if "planned_start" not in overrides:
            body.pop("planned_start")
        response = desk.post("/api/v1/visits/", body, format="json")
        assert response.status_code == 201, response.content
        return response.json()

    return post


def test_a_host_sees_only_their_own_visits_and_others_are_404(
    register, token_client, host: User, other_host: User
) -> None:
    mine = register(host, visitor={"family_name": "Ахметов", "given_name": "Нурлан"})
    theirs = register(other_host, visitor={"family_name": "Касымова", "given_name": "Әлия"})
    client = token_client(host)

    listed = client.get("/api/v1/visits/").json()
    assert [visit["id"] for visit in listed["results"]] == [mine["id"]]
    assert client.get(f"/api/v1/visits/{mine['id']}/").status_code == 200
    for method, path, body in (
        ("get", f"/api/v1/visits/{theirs['id']}/", None),
        ("get", f"/api/v1/visits/{theirs['id']}/passages/", None),
        ("get", f"/api/v1/visits/{theirs['id']}/photo/", None),
        ("post", f"/api/v1/visits/{theirs['id']}/cancel/", {"reason": "x"}),
        ("post", f"/api/v1/visits/{theirs['id']}/check-in/", None),
        ("patch", f"/api/v1/visits/{theirs['id']}/", {"planned_end": "2030-01-01T10:00Z"}),
        ("get", "/api/v1/visits/999999/", None),
    ):
        response = getattr(client, method)(path, body, format="json")
        assert response.status_code == 404, (method, path, response.content)
        assert response.json() == {"error": {"code": "not_found", "message": "Not found."}}
    assert Visit.objects.get(pk=theirs["id"]).status == VisitStatus.AWAITING


def test_a_host_may_not_check_in_and_is_told_why(register, token_client, host: User) -> None:
    visit = register(host)
    response = token_client(host).post(f"/api/v1/visits/{visit['id']}/check-in/")
    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "permission_denied",
        "message": "You are not allowed to do this with this visit.",
    }
    assert Visit.objects.get(pk=visit["id"]).status == VisitStatus.AWAITING


def test_security_reads_every_visit_with_the_access_card_but_changes_nothing(
    register, token_client, security: User, host: User
) -> None:
    visit = register(host)
    client = token_client(security)
    detail = client.get(f"/api/v1/visits/{visit['id']}/").json()
    assert detail["actions"] == []
    access = detail["access"]
    assert access["status"] == "waiting"
    assert access["desired"]["access_levels"] == ["1 (Guests)"]
    assert access["confirmed"] is None  # the engine has not reached HCP
    assert access["work"]["state"] == "pending"
    assert client.post(f"/api/v1/visits/{visit['id']}/cancel/").status_code == 403


def test_a_host_sees_no_access_card(register, token_client, host: User) -> None:
    visit = register(host)
    access = token_client(host).get(f"/api/v1/visits/{visit['id']}/").json()["access"]
    assert access == {"status": None, "status_label": None, "face_rejected_reason": ""}


def test_check_in_and_out_through_the_api_revoke_access(
    register, token_client, reception: User, host: User, announced: QueuedAccessWork
) -> None:
    visit = register(host)
    client = token_client(reception)
    checked_in = client.post(f"/api/v1/visits/{visit['id']}/check-in/")
    assert checked_in.status_code == 200, checked_in.content
    assert checked_in.json()["status"] == "checked_in"
    assert checked_in.json()["actions"] == ["change_window", "check_out"]

    checked_out = client.post(f"/api/v1/visits/{visit['id']}/check-out/")
    assert checked_out.json()["status"] == "checked_out"
    assert announced == [
        (visit["id"], "registered"),
        (visit["id"], "checked_in"),
        (visit["id"], "checked_out"),
    ]
    # The engine's work revokes first (checked out: access must end).
    work = AccessWork.objects.get()
    assert work.revoke_due_at is not None
    stored = Visit.objects.get(pk=visit["id"])
    assert stored.access_should_end_at == stored.checked_out_at
    labels = set(
        AuditEntry.objects.filter(action__in=["visit.checked_in", "visit.checked_out"]).values_list(
            "actor_label", flat=True
        )
    )
    token_id = reception.api_tokens.order_by("-pk").first().pk
    assert labels == {f"reception via API token {token_id}"}


def test_a_host_cancels_their_visit_and_access_goes(
    register, token_client, host: User, announced: QueuedAccessWork
) -> None:
    visit = register(host)
    response = token_client(host).post(
        f"/api/v1/visits/{visit['id']}/cancel/", {"reason": "Встреча перенесена"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["cancel_reason"] == "Встреча перенесена"
    assert announced[-1] == (visit["id"], "cancelled")
    entry = AuditEntry.objects.get(action="visit.cancelled")
    assert entry.actor == host
    assert entry.actor_label.startswith("alice via API token ")


def test_a_refused_transition_is_409_with_the_reason_in_russian(
    register, token_client, reception: User, host: User
) -> None:
    visit = register(host)
    client = token_client(reception)
    client.post(f"/api/v1/visits/{visit['id']}/cancel/")
    english = client.post(f"/api/v1/visits/{visit['id']}/check-in/")
    assert english.status_code == 409
    assert english.json()["error"] == {
        "code": "invalid_transition",
        "message": "A cancelled visit cannot be checked in.",
    }
    russian = client.post(f"/api/v1/visits/{visit['id']}/check-in/", HTTP_ACCEPT_LANGUAGE="ru")
    assert russian.status_code == 409
    message = russian.json()["error"]["message"]
    assert message != english.json()["error"]["message"]
    assert "отмен" in message.lower()


def test_input_errors_and_authentication_errors_in_russian(
    register, token_client, reception: User, host: User
) -> None:
    visit = register(host)
    client = token_client(reception)
    response = client.patch(
        f"/api/v1/visits/{visit['id']}/",
        {"planned_end": "2020-01-01T10:00:00+05:00"},
        format="json",
        HTTP_ACCEPT_LANGUAGE="ru",
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Проверьте введённые данные."
    [error] = response.json()["error"]["fields"]["planned_end"]
    assert error["code"] == "end_before_start"
    assert CYRILLIC.search(error["message"])
    anonymous = APIClient().get("/api/v1/visits/", HTTP_ACCEPT_LANGUAGE="ru")
    assert anonymous.status_code == 401
    assert CYRILLIC.search(anonymous.json()["error"]["message"])


def test_the_window_changes_through_the_service(
    register, token_client, host: User, announced: QueuedAccessWork
) -> None:
    start = timezone.now() + timedelta(days=1)
    visit = register(
        host,
        planned_start=start.isoformat(),
        planned_end=(start + timedelta(hours=1)).isoformat(),
    )
    new_end = start + timedelta(hours=3)
    response = token_client(host).patch(
        f"/api/v1/visits/{visit['id']}/", {"planned_end": new_end.isoformat()}, format="json"
    )
    assert response.status_code == 200, response.content
    assert Visit.objects.get(pk=visit["id"]).planned_end == new_end
    assert announced[-1] == (visit["id"], "window_changed")
    assert AuditEntry.objects.filter(action="visit.window_changed", actor=host).count() == 1


def test_the_list_filters_as_the_visit_list_page(
    register, token_client, security: User, host: User, other_host: User, student_policy
) -> None:
    a = register(host, visitor={"family_name": "Нурланова", "given_name": "Айгерим"})
    b = register(
        other_host,
        kind="student",
        visitor={"family_name": "Сейткали", "given_name": "Ерлан", "phone": "+7 747 000 11 22"},
    )
    # Two days ahead: today's visits, registered late in the evening, may run past midnight
    # into tomorrow and so be on tomorrow's list too.
    later = timezone.localtime() + timedelta(days=2)
    c = register(
        host,
        planned_start=later.isoformat(),
        planned_end=(later + timedelta(hours=1)).isoformat(),
        visitor={"family_name": "Жумабаева", "given_name": "Динара"},
    )
    client = token_client(security)

    def ids(**query: Any) -> set[int]:
        response = client.get("/api/v1/visits/", query)
        assert response.status_code == 200, response.content
        return {visit["id"] for visit in response.json()["results"]}

    assert ids() == {a["id"], b["id"], c["id"]}
    assert ids(host=other_host.pk) == {b["id"]}
    assert ids(kind="student") == {b["id"]}
    assert ids(search="айгерим") == {a["id"]}
    assert ids(search="747 000") == {b["id"]}
    assert ids(day=later.date().isoformat()) == {c["id"]}
    assert ids(status="awaiting") == {a["id"], b["id"], c["id"]}
    assert ids(status="checked_in") == set()
    # A host id no database holds, or "digits" int() refuses: refused, not a server error.
    for forged in ("9" * 30, "²", "-1"):
        refused = client.get("/api/v1/visits/", {"host": forged})
        assert refused.status_code == 400, forged
        assert list(refused.json()["error"]["fields"]) == ["host"]
    bad = client.get("/api/v1/visits/", {"day": "1900-01-01", "kind": "x"})
    assert bad.status_code == 400
    assert bad.json()["error"]["message"] == "Check the data entered."
    assert "day" in bad.json()["error"]["fields"]
    # Faces and contacts are never in a list.
    listed = client.get("/api/v1/visits/").json()["results"][0]
    assert set(listed["visitor"]) == {"family_name", "given_name", "middle_name", "full_name"}


def test_the_face_follows_the_visit_and_each_view_is_audited(
    register, token_client, host: User, other_host: User
) -> None:
    visit = register(host)
    response = token_client(host).get(f"/api/v1/visits/{visit['id']}/photo/")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response.content[:3] == b"\xff\xd8\xff"
    entry = AuditEntry.objects.get(action="visitor.photo_viewed")
    assert entry.actor == host
    assert "via API" in entry.actor_label
    assert token_client(other_host).get(f"/api/v1/visits/{visit['id']}/photo/").status_code == 404


def test_invitations_through_the_api(token_client, host: User, guest_policy) -> None:
    client = token_client(host)
    response = client.post(
        "/api/v1/invitations/",
        {"kind": "single", "purpose": "Собеседование в деканате"},
        format="json",
    )
    assert response.status_code == 201, response.content
    invitation = response.json()
    assert invitation["state"] == "open"
    assert invitation["host"]["id"] == host.pk
    assert "/invitations/i/" in invitation["url"]
    assert client.get(f"/api/v1/invitations/{invitation['id']}/").json()["url"] == invitation["url"]
    group = client.post(
        "/api/v1/invitations/",
        {"kind": "group", "purpose": "День открытых дверей", "max_uses": 30},
        format="json",
    )
    assert group.status_code == 400
    assert "planned_start" in group.json()["error"]["fields"]
    assert AuditEntry.objects.get(action="invitation.created").actor == host


def test_the_throttle_answers_429_with_retry_after_per_token(
    token_client, reception: User, settings
) -> None:
    settings.API_RATE = "3/minute"
    first, second = token_client(reception), token_client(reception)
    for _ in range(3):
        assert first.get("/api/v1/me/").status_code == 200
    refused = first.get("/api/v1/me/")
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused.json()["error"]["code"] == "throttled"
    assert second.get("/api/v1/me/").status_code == 200  # another token has its own budget


def test_registrations_have_a_budget_of_their_own(
    token_client, reception: User, host: User, guest_policy, settings
) -> None:
    settings.API_REGISTER_RATE = "1/hour"
    client = token_client(reception)
    assert (
        client.post("/api/v1/visits/", registration(host=host.pk), format="json").status_code == 201
    )
    refused = client.post("/api/v1/visits/", registration(host=host.pk), format="json")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    assert client.get("/api/v1/visits/").status_code == 200  # reading goes on
    assert Visit.objects.count() == 1


def test_an_unhandled_error_leaves_no_api_label_on_later_audit_entries(
    register, token_client, host: User, monkeypatch
) -> None:
    """The API's audit label lives for its request only, even one that fails with a 500."""
    from propusk.api import views
    from propusk.audit.services import record

    visit = register(host)
    client = token_client(host)
    client.raise_request_exception = False

    def broken(visit: Visit) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(views, "visit_passages", broken)
    response = client.get(f"/api/v1/visits/{visit['id']}/passages/")
    assert response.status_code == 500
    # In the API's one error shape, not the site's HTML 500 page; nothing of the error.
    assert response.json()["error"]["code"] == "server_error"
    assert "database" not in response.content.decode()
    entry = record(actor=host, action="test.after", target=Visit.objects.get(pk=visit["id"]))
    assert entry.actor_label == "alice"
