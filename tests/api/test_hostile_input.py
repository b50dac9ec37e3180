"""Hostile input to the API: refused in the API's one error shape, never a server error."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile

from propusk.access.models import AccessLevelPolicy
from propusk.visitors.models import Visitor
from tests.api.conftest import registration
from tests.faces import portrait_jpeg
from tests.factories import make_iin

pytestmark = pytest.mark.django_db


def test_json_nested_too_deeply_is_a_parse_error(token_client, reception: User) -> None:
    response = token_client(reception).post(
        "/api/v1/visits/", "[" * 100_000, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


@pytest.mark.parametrize("how", ["json", "multipart"])
def test_a_body_over_the_limit_is_413_in_the_error_shape(
    token_client, reception: User, host: User, guest_policy: AccessLevelPolicy, settings, how
) -> None:
    """JSON or a multipart form with its photo as a file: Django alone would count only the
    form's other fields against DATA_UPLOAD_MAX_MEMORY_SIZE (core.uploads counts the file)."""
    photo = portrait_jpeg()
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024  # a face photo is more
    assert len(photo) > 2 * settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    client = token_client(reception)
    if how == "json":
        body = registration(host=host.pk, photo=photo)
        response = client.post("/api/v1/visits/", body, format="json")
    else:
        body = registration(host=host.pk)
        form = {name: value for name, value in body.items() if name != "visitor"}
        form.update({f"visitor.{name}": value for name, value in body["visitor"].items()})
        form["visitor.consent"] = "true"
        form["visitor.photo"] = SimpleUploadedFile("face.jpg", photo)
        response = client.post("/api/v1/visits/", form, format="multipart")
    assert response.status_code == 413, response.content
    error = response.json()["error"]
    assert error["code"] == "too_large"
    assert error["message"].startswith("The request is too large (at most ")
    assert not Visitor.objects.exists()


def test_a_refusal_never_echoes_what_was_sent(
    token_client, reception: User, host: User, guest_policy: AccessLevelPolicy
) -> None:
    """An ID number typed into the wrong field is in no answer (docs/api.md, Errors)."""
    iin = make_iin()
    client = token_client(reception)
    body = registration(host=host.pk, kind=iin)
    refusals = {
        "kind": client.post("/api/v1/visits/", body, format="json"),
        "status": client.get("/api/v1/visits/", {"status": iin}),
    }
    refusals["invitation kind"] = client.post(
        "/api/v1/invitations/", {"kind": iin, "purpose": "Собеседование"}, format="json"
    )
    for name, response in refusals.items():
        assert response.status_code == 400, name
        assert iin not in response.content.decode(), name
    assert list(refusals["kind"].json()["error"]["fields"]) == ["kind"]
    assert list(refusals["status"].json()["error"]["fields"]) == ["status"]
    assert not Visitor.objects.exists()
