"""Django's error reports - the DEBUG page, the mail to ADMINS - never show an ID number, a face
or a secret (propusk.core.debug)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.conf import settings
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse

from propusk.api.tokens import create_token
from propusk.visitors import services as visitor_services
from tests.factories import make_iin, make_jpeg

pytestmark = pytest.mark.django_db

FACE = make_jpeg(color=(181, 143, 121))


@pytest.fixture
def failing_registration(client, reception, host, guest_policy, monkeypatch):
    """A real POST of the registration page with an IIN and a face, where the service fails
    while the number is in its local variables (and in the arguments of the failing call)."""

    def key_service_down(number: str) -> str:
        raise RuntimeError("the lookup key service is down")

    monkeypatch.setattr(visitor_services, "national_id_lookup_hash", key_service_down)
    client.force_login(reception)
    client.raise_request_exception = False
    iin = make_iin()

    def post(accept: str = "text/html") -> Any:
        data = {
            "submission_token": str(uuid.uuid4()),
            "mode": "now",
            "kind": "guest",
            "duration": "60",
            "host": str(host.pk),
            "purpose": "Собеседование",
            "visitor-family_name": "Байжанова",
            "visitor-given_name": "Жанар",
            "visitor-phone": "+7 701 234 56 78",
            "visitor-national_id": iin,
            "visitor-consent": "on",
            "visitor-photo": SimpleUploadedFile(
                f"passport-{iin}.jpg", FACE, content_type="image/jpeg"
            ),
        }
        url = f"{reverse('visits:register')}?ref={iin}"
        return client.post(url, data, headers={"accept": accept})

    return iin, post


def _secrets() -> list[str]:
    return [
        settings.SECRET_KEY,
        settings.LOOKUP_HASH_KEY,
        *settings.FIELD_ENCRYPTION_KEYS,
    ]


@override_settings(DEBUG=True)
def test_the_debug_page_shows_no_id_number_face_or_secret(failing_registration):
    iin, post = failing_registration

    response = post()

    assert response.status_code == 500
    page = response.content.decode()
    assert "RuntimeError" in page  # Django's technical page, with its frames
    assert "the lookup key service is down" in page
    assert "key_service_down" in page
    assert "visitor-national_id" in page  # the POST field is listed, its value is not
    assert iin not in page
    assert "&lt;national-id&gt;" in page  # the query string and the file name, masked
    assert "\\xff\\xd8\\xff" not in page  # no JPEG bytes in any frame
    for secret in _secrets():
        assert secret not in page


@override_settings(DEBUG=True)
def test_no_cookie_value_is_shown(failing_registration, client, admin_user):
    """Django stars the session cookie only. The messages cookie carries, for one request, an
    API token just made in the admin (shown once: api.admin); any cookie of ours is state or a
    credential, none helps to read an error."""
    _, raw = create_token(user=admin_user, name="Admissions office", actor=admin_user)
    client.cookies["messages"] = f"[Token made: {raw}]"
    client.cookies["django_language"] = "ru"
    _, post = failing_registration

    page = post().content.decode()

    assert "messages" in page  # the cookie is listed, its value is not
    assert raw not in page
    assert raw[:10] not in page


@override_settings(DEBUG=True)
def test_the_plain_text_debug_page_shows_no_id_number(failing_registration):
    iin, post = failing_registration

    response = post(accept="text/plain")

    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/plain")
    page = response.content.decode()
    assert "the lookup key service is down" in page
    assert "<national-id>" in page
    assert iin not in page


@override_settings(DEBUG=False, ADMINS=[("Ops", "ops@example.org")])
def test_the_error_mail_shows_no_id_number_face_or_secret(failing_registration):
    iin, post = failing_registration

    response = post()

    assert response.status_code == 500
    assert iin not in response.content.decode()  # the plain 500 page
    assert "Something went wrong on our side" in response.content.decode()  # templates/500.html
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    alternatives = getattr(message, "alternatives", [])
    texts = [message.subject, message.body, *(str(body) for body, _type in alternatives)]
    assert "the lookup key service is down" in message.body
    for text in texts:
        assert iin not in text
        assert "\\xff\\xd8\\xff" not in text
        for secret in _secrets():
            assert secret not in text


def test_settings_with_keys_and_passwords_are_hidden():
    from django.views.debug import get_default_exception_reporter_filter

    reporter_filter = get_default_exception_reporter_filter()
    shown = reporter_filter.get_safe_settings()

    hidden = "********************"
    for name in ("FIELD_ENCRYPTION_KEYS", "LOOKUP_HASH_KEY", "HCP_APP_SECRET", "SECRET_KEY"):
        assert shown[name] == hidden, name
    assert shown["CELERY_BROKER_URL"] == hidden  # amqp://user:password@host
    caches = {"default": {"BACKEND": "redis", "LOCATION": "redis://:password@cache:6379/1"}}
    assert reporter_filter.cleanse_setting("CACHES", caches)["default"]["LOCATION"] == hidden
    assert shown["TIME_ZONE"] == settings.TIME_ZONE  # the rest stays readable
