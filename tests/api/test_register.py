"""POST /api/v1/visits/: a visitor and their visit in one call, through the same service as
the desk and the invitation page, with every photo check; idempotent retries."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile

from hcp_simulator.testing import SimulatorHandle
from propusk.access.models import AccessLevelPolicy
from propusk.api.models import IdempotencyState, IdempotentRequest
from propusk.audit.models import AuditEntry
from propusk.visitors.crypto import decrypt_national_id
from propusk.visitors.models import Visitor
from propusk.visits.models import Visit
from tests.access.conftest import hcp_person
from tests.api.conftest import registration
from tests.faces import blue_square_jpeg, portrait_jpeg
from tests.factories import make_iin

pytestmark = pytest.mark.django_db


@pytest.fixture
def face_check(settings: Any) -> None:
    settings.FACE_CHECK = True


def face_files() -> list[Path]:
    return [path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file()]


def test_reception_registers_a_visitor_with_a_real_face_and_hcp_holds_the_person(
    face_check: None,
    token_client,
    reception: User,
    host: User,
    guest_policy: AccessLevelPolicy,
    site: SimulatorHandle,
    drain,
) -> None:
    iin = make_iin()
    body = registration(photo=portrait_jpeg(), national_id=iin, host=host.pk)
    response = token_client(reception).post("/api/v1/visits/", body, format="json")

    assert response.status_code == 201, response.content
    answer = response.json()
    visit = Visit.objects.select_related("visitor").get()
    assert response["Location"].endswith(f"/api/v1/visits/{visit.pk}/")
    assert answer["id"] == visit.pk
    assert answer["status"] == "awaiting"
    assert answer["visitor"]["full_name"] == "Сейітқали Әлихан Нұрланұлы"
    assert answer["host"]["id"] == host.pk
    assert answer["access"]["status"] == "waiting"
    # Stored as the desk stores it: the ID number encrypted, the face normalised.
    assert decrypt_national_id(visit.visitor.national_id_encrypted) == iin
    assert visit.created_by == reception
    with visit.visitor.photo.open("rb") as face:
        assert face.read()[:3] == b"\xff\xd8\xff"
    # The access engine takes it to HikCentral.
    drain()
    person = hcp_person(site, visit.visitor.person_code)
    assert person["accessLevels"] == ["1"]  # the guests' level
    assert person["personId"]


def test_a_photo_without_a_face_is_refused_and_nothing_is_stored(
    face_check: None, token_client, reception: User, host: User, guest_policy: AccessLevelPolicy
) -> None:
    before = face_files()
    response = token_client(reception).post(
        "/api/v1/visits/", registration(photo=blue_square_jpeg(), host=host.pk), format="json"
    )

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert [item["code"] for item in error["fields"]["visitor.photo"]] == ["no_face"]
    # The general sentence; the photo's own reason is beside it, on its field.
    assert error["message"] == "Check the data entered."
    assert not Visitor.objects.exists()
    assert not Visit.objects.exists()
    assert face_files() == before


def test_a_refused_visit_keeps_no_visitor_and_no_face_file(
    token_client, reception: User, host: User, guest_policy: AccessLevelPolicy
) -> None:
    """The photo passes, then the service refuses the visit (its end is past): nothing
    stays, the face file written meanwhile neither."""
    before = face_files()
    body = registration(host=host.pk)
    body["planned_start"], body["planned_end"] = (
        "2020-01-01T10:00:00+05:00",
        "2020-01-01T12:00:00+05:00",
    )
    response = token_client(reception).post("/api/v1/visits/", body, format="json")
    assert response.status_code == 400, response.content
    assert "planned_end" in response.json()["error"]["fields"]
    assert not Visitor.objects.exists()
    assert face_files() == before


def test_every_input_error_comes_at_once_keyed_by_field(
    token_client, reception: User, guest_policy: AccessLevelPolicy
) -> None:
    body = registration(visitor={"phone": "12", "national_id": "123456789012", "consent": False})
    body.pop("planned_end")
    response = token_client(reception).post("/api/v1/visits/", body, format="json")
    assert response.status_code == 400
    # One general sentence for the whole input, not the first field's error (which alone,
    # e.g. "This field is required.", would not say which field).
    assert response.json()["error"]["message"] == "Check the data entered."
    fields = response.json()["error"]["fields"]
    assert set(fields) >= {
        "planned_end",
        "visitor.phone",
        "visitor.national_id",
        "visitor.consent",
    }
    assert "123456789012" not in response.content.decode()
    assert not Visitor.objects.exists()
    # Checks across fields come once every field is readable: the host, here.
    body["planned_end"] = "2030-01-01T12:00:00+05:00"
    body["visitor"].update(phone="+77015551234", national_id=make_iin(), consent=True)
    response = token_client(reception).post("/api/v1/visits/", body, format="json")
    assert set(response.json()["error"]["fields"]) == {"host"}


def test_multipart_with_the_photo_as_a_file(
    token_client, reception: User, host: User, guest_policy: AccessLevelPolicy
) -> None:
    body = registration(host=host.pk)
    form: dict[str, Any] = {k: v for k, v in body.items() if k != "visitor"}
    for name, value in body["visitor"].items():
        form[f"visitor.{name}"] = value
    form["visitor.consent"] = "true"
    form["visitor.photo"] = SimpleUploadedFile("face.jpg", b64_decode(body["visitor"]["photo"]))
    response = token_client(reception).post("/api/v1/visits/", form, format="multipart")
    assert response.status_code == 201, response.content
    assert Visit.objects.get().visitor.photo


def b64_decode(text: str) -> bytes:
    import base64

    return base64.b64decode(text)


def test_a_host_registers_for_themselves_only(
    token_client, host: User, other_host: User, guest_policy: AccessLevelPolicy
) -> None:
    client = token_client(host)
    mine = client.post("/api/v1/visits/", registration(), format="json")
    assert mine.status_code == 201, mine.content
    assert mine.json()["host"]["id"] == host.pk

    theirs = client.post("/api/v1/visits/", registration(host=other_host.pk), format="json")
    assert theirs.status_code == 403
    assert theirs.json()["error"]["code"] == "permission_denied"
    assert Visit.objects.count() == 1
    assert Visitor.objects.count() == 1


def test_security_registers_nobody(token_client, security: User, host: User, guest_policy) -> None:
    response = token_client(security).post(
        "/api/v1/visits/", registration(host=host.pk), format="json"
    )
    assert response.status_code == 403
    assert not Visitor.objects.exists()


def test_a_host_may_not_give_a_policy_kept_for_the_desk(
    token_client, host: User, guest_policy, vip_policy
) -> None:
    response = token_client(host).post(
        "/api/v1/visits/", registration(access_policy="vip"), format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["access_policy"][0]["code"] == "policy_not_allowed"
    assert not Visit.objects.exists()


def test_a_host_submitting_a_known_iin_gets_the_answer_a_new_one_gets(
    token_client, reception: User, host: User, guest_policy: AccessLevelPolicy, time_machine
) -> None:
    """docs/visits.md: a host learns nothing about who is behind an ID number."""
    # Late in the evening the visit (an hour from now) would be tomorrow's, outside the
    # reception desk's day: the check below reads it as reception.
    time_machine.move_to(datetime(2030, 3, 12, 6, 0, tzinfo=UTC), tick=True)
    known = make_iin()
    first = token_client(reception).post(
        "/api/v1/visits/",
        registration(national_id=known, host=host.pk, visitor={"family_name": "Жумабаева"}),
        format="json",
    )
    assert first.status_code == 201
    stored = Visitor.objects.get()

    client = token_client(host)
    with_known = client.post("/api/v1/visits/", registration(national_id=known), format="json")
    with_new = client.post("/api/v1/visits/", registration(national_id=make_iin()), format="json")
    assert with_known.status_code == with_new.status_code == 201

    def shape(answer: dict[str, Any]) -> dict[str, Any]:
        return {
            k: v
            for k, v in answer.items()
            if k not in {"id", "created_at", "planned_start", "planned_end"}
        }

    assert shape(with_known.json()) == shape(with_new.json())
    assert with_known.json()["visitor"]["family_name"] == "Сейітқали"  # what the host typed
    stored.refresh_from_db()
    assert stored.family_name == "Жумабаева"  # the stored identity untouched
    assert Visit.objects.get(pk=with_known.json()["id"]).visitor_id != stored.pk
    # Reception sees the "check ID" mark on that visit, as on the Reception page.
    desk_view = token_client(reception).get(f"/api/v1/visits/{with_known.json()['id']}/")
    assert desk_view.json()["identity_check_needed"] is True
    assert with_known.json()["identity_check_needed"] is False


def test_the_iin_is_never_in_an_answer_a_log_or_the_audit(
    token_client, reception: User, host: User, guest_policy, caplog
) -> None:
    iin = make_iin()
    client = token_client(reception)
    with caplog.at_level(logging.DEBUG):
        created = client.post(
            "/api/v1/visits/", registration(national_id=iin, host=host.pk), format="json"
        )
        visit_id = created.json()["id"]
        answers = [
            created,
            client.get("/api/v1/visits/"),
            client.get(f"/api/v1/visits/{visit_id}/"),
            client.post(f"/api/v1/visits/{visit_id}/cancel/", {"reason": "Болеет"}, format="json"),
            client.post("/api/v1/visits/", registration(national_id=iin), format="json"),
        ]
    assert created.status_code == 201
    assert answers[-1].status_code == 400  # no host: refused, the number not echoed
    for answer in answers:
        assert iin not in answer.content.decode()
        assert iin[:6] + "*" not in answer.content.decode()
    assert iin not in caplog.text
    assert caplog.records  # the logs were captured at all
    for entry in AuditEntry.objects.all():
        assert iin not in json.dumps(entry.changes, ensure_ascii=False)
    for row in IdempotentRequest.objects.all():
        assert iin not in json.dumps(row.response, ensure_ascii=False)


def test_a_retry_with_the_same_idempotency_key_returns_the_first_answer_and_creates_nothing(
    token_client, reception: User, host: User, guest_policy: AccessLevelPolicy
) -> None:
    client = token_client(reception)
    body = registration(host=host.pk)
    headers = {"HTTP_IDEMPOTENCY_KEY": "3f1c9a52-admissions-batch-17"}
    first = client.post("/api/v1/visits/", body, format="json", **headers)
    retry = client.post("/api/v1/visits/", body, format="json", **headers)

    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry["Location"] == first["Location"]
    assert retry["Idempotent-Replayed"] == "true"
    assert Visit.objects.count() == 1
    assert Visitor.objects.count() == 1
    assert AuditEntry.objects.filter(action="visit.registered").count() == 1

    # The same key with another request is refused; a new key registers again.
    other = registration(host=host.pk, purpose="Экскурсия")
    reused = client.post("/api/v1/visits/", other, format="json", **headers)
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    fresh = client.post("/api/v1/visits/", other, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert fresh.status_code == 201
    assert Visit.objects.count() == 2


def test_keys_are_per_token(token_client, reception: User, host: User, guest_policy) -> None:
    body = registration(host=host.pk)
    for client in (token_client(reception), token_client(reception)):
        response = client.post("/api/v1/visits/", body, format="json", HTTP_IDEMPOTENCY_KEY="same")
        assert response.status_code == 201
    assert Visit.objects.count() == 2


def test_a_refused_request_is_not_kept_so_a_corrected_retry_runs(
    token_client, reception: User, host: User, guest_policy
) -> None:
    client = token_client(reception)
    headers = {"HTTP_IDEMPOTENCY_KEY": "retry-me"}
    bad = client.post("/api/v1/visits/", registration(), format="json", **headers)  # no host
    assert bad.status_code == 400
    good = client.post("/api/v1/visits/", registration(host=host.pk), format="json", **headers)
    assert good.status_code == 201
    assert Visit.objects.count() == 1


def test_a_request_still_running_with_the_key_answers_409(
    token_client, reception: User, host: User, guest_policy
) -> None:
    client = token_client(reception)
    body = registration(host=host.pk)
    first = client.post("/api/v1/visits/", body, format="json", HTTP_IDEMPOTENCY_KEY="busy")
    assert first.status_code == 201
    # As if that first request were still running.
    IdempotentRequest.objects.update(state=IdempotencyState.IN_PROGRESS, response=None)
    response = client.post("/api/v1/visits/", body, format="json", HTTP_IDEMPOTENCY_KEY="busy")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_in_progress"
    assert Visit.objects.count() == 1


def test_a_retry_after_the_answer_was_lost_lands_on_the_same_visit(
    token_client, reception: User, host: User, guest_policy
) -> None:
    """The process died after the visit was committed, before the answer was kept: the
    claim is abandoned, and the retry finds the visit by the key's submission token."""
    client = token_client(reception)
    body = registration(host=host.pk)
    first = client.post("/api/v1/visits/", body, format="json", HTTP_IDEMPOTENCY_KEY="lost")
    IdempotentRequest.objects.all().delete()
    retry = client.post("/api/v1/visits/", body, format="json", HTTP_IDEMPOTENCY_KEY="lost")
    assert retry.status_code == 201
    assert retry.json()["id"] == first.json()["id"]
    assert Visit.objects.count() == 1
    assert Visitor.objects.count() == 1


def test_registration_is_audited_as_the_tokens_user_through_the_api(
    token_client, reception: User, host: User, guest_policy
) -> None:
    response = token_client(reception).post(
        "/api/v1/visits/", registration(host=host.pk), format="json"
    )
    token_id = reception.api_tokens.get().pk
    entries = AuditEntry.objects.filter(action__in=["visitor.registered", "visit.registered"])
    assert entries.count() == 2
    for entry in entries:
        assert entry.actor == reception
        assert entry.actor_label == f"reception via API token {token_id}"
    assert response.status_code == 201


def test_a_signed_in_user_retries_a_multipart_form_with_a_key(
    reception: User, host: User, guest_policy: AccessLevelPolicy
) -> None:
    """In the browser (session + CSRF, which reads the form first) the key works too."""
    from django.middleware.csrf import _get_new_csrf_string, _mask_cipher_secret
    from rest_framework.test import APIClient

    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(reception)
    secret = _get_new_csrf_string()
    browser.cookies["csrftoken"] = secret
    body = registration(host=host.pk)
    form: dict[str, Any] = {k: v for k, v in body.items() if k != "visitor"}
    form.update({f"visitor.{name}": value for name, value in body["visitor"].items()})
    form["visitor.consent"] = "true"

    def post() -> Any:
        data = {
            **form,
            "visitor.photo": SimpleUploadedFile("face.jpg", b64_decode(body["visitor"]["photo"])),
        }
        return browser.post(
            "/api/v1/visits/",
            data,
            format="multipart",
            HTTP_X_CSRFTOKEN=_mask_cipher_secret(secret),
            HTTP_IDEMPOTENCY_KEY="desk-form-1",
        )

    first, retry = post(), post()
    assert first.status_code == retry.status_code == 201, first.content
    assert retry.json()["id"] == first.json()["id"]
    assert retry["Idempotent-Replayed"] == "true"
    assert Visit.objects.count() == 1
