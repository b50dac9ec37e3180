"""HikCentral's own faceCheck after ours, over real HTTP with the simulator.

A usable portrait passes both checks; a photo HCP refuses is refused on the page with nothing
stored; where HCP has no faceCheck, or is down, registration goes on on our own check alone
and a warning without personal data is logged. The simulator refuses by its own rules (not
base64 of a JPEG, over its face size limit, under 80 px) or, standing in for what a real
device's model dislikes, when told to (a `code` fault: HCP's parameter error on the face).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone, translation

from hcp_simulator.testing import SimulatorHandle, running_simulator
from propusk.access.forms import ReenrolForm
from propusk.integrations.hikcentral.face_check import forget_device
from propusk.invitations.models import InvitationKind
from propusk.invitations.services import create_invitation
from propusk.visitors.models import Visitor
from propusk.visitors.photos import normalize_face_photo
from propusk.visits.models import Visit
from tests import faces
from tests.access.conftest import ALMATY
from tests.factories import make_iin

FACE_CHECK = "/api/acs/v1/faceCheck"
REFUSED = "The access system cannot use this photo"
REFUSED_RU = "Система доступа не может использовать эту фотографию"
FAMILY_NAME = "Нурланова"
GIVEN_NAME = "Айгерим"
LOGGER = "propusk.integrations.hikcentral.face_check"


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorHandle]:
    with running_simulator(seed_demo=True) as sim:
        yield sim


def _point_at(settings: Any, sim: SimulatorHandle) -> None:
    settings.HCP_BASE_URL = sim.base_url
    settings.HCP_APP_KEY = sim.app_key
    settings.HCP_APP_SECRET = sim.app_secret
    settings.HCP_CONNECT_TIMEOUT = 2.0
    settings.HCP_READ_TIMEOUT = 2.0


@pytest.fixture
def site(simulator: SimulatorHandle, settings: Any) -> SimulatorHandle:
    """The demo site (doors 1-4, each its own device), both checks on."""
    simulator.control.reset()
    _point_at(settings, simulator)
    settings.FACE_CHECK = True
    settings.HCP_FACE_CHECK = "auto"
    settings.HCP_FACE_CHECK_DEVICE = ""
    forget_device()
    return simulator


@pytest.fixture(autouse=True)
def _english_after() -> Iterator[None]:
    with translation.override("en"):
        yield


def _upload(content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile("face.jpg", content, content_type="image/jpeg")


def _stored_files() -> set[Path]:
    root = Path(django_settings.MEDIA_ROOT)
    return {path for path in root.rglob("*") if path.is_file()} if root.exists() else set()


def _desk_data(host: Any, photo: bytes, national_id: str) -> dict[str, object]:
    start = (timezone.now() + timedelta(days=1)).astimezone(ALMATY)
    return {
        "submission_token": str(uuid.uuid4()),
        "mode": "later",
        "kind": "guest",
        "host": str(host.pk),
        "duration": "60",
        "planned_start": start.strftime("%Y-%m-%dT%H:%M"),
        "planned_end": (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
        "purpose": "Seminar",
        "visitor-family_name": FAMILY_NAME,
        "visitor-given_name": GIVEN_NAME,
        "visitor-phone": "+7 701 234 56 78",
        "visitor-national_id": national_id,
        "visitor-consent": "on",
        "visitor-photo": _upload(photo),
    }


@pytest.fixture
def desk(client: Any, reception: Any, guest_policy: Any) -> Any:
    client.force_login(reception)
    return client


def _refuse_next_check(sim: SimulatorHandle) -> None:
    """HCP refuses the next picture as a real one would: a parameter error on the face."""
    sim.control.add_fault(
        "code",
        path=FACE_CHECK,
        count=1,
        code="0x00072001",
        msg="Incorrect request parameter. [faceData parameter error]",
    )


def _face_check_rules(sim: SimulatorHandle) -> list[dict[str, Any]]:
    return [rule for rule in sim.control.faults()["rules"] if rule["path"] == FACE_CHECK]


@pytest.mark.django_db
def test_a_good_portrait_passes_both_checks(site, desk, host):
    # A pass-through fault counts the calls: the photo reached faceCheck once, and was kept.
    site.control.add_fault("latency", path=FACE_CHECK, count=2, ms=0)
    response = desk.post(
        reverse("visits:register"), _desk_data(host, faces.large_portrait_jpeg(), make_iin())
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert Visitor.objects.get().photo
    assert [rule["count"] for rule in _face_check_rules(site)] == [1]


@pytest.mark.django_db
@pytest.mark.parametrize(("language", "message"), [("en", REFUSED), ("ru", REFUSED_RU)])
def test_a_photo_hcp_refuses_is_refused_on_the_desk_page(site, desk, host, language, message):
    _refuse_next_check(site)
    desk.cookies[django_settings.LANGUAGE_COOKIE_NAME] = language
    before = _stored_files()
    response = desk.post(
        reverse("visits:register"), _desk_data(host, faces.large_portrait_jpeg(), make_iin())
    )

    assert response.status_code == 400
    body = response.content.decode()
    assert message in body
    assert FAMILY_NAME in body  # what was typed stays
    assert not Visitor.objects.exists()
    assert not Visit.objects.exists()
    assert _stored_files() == before
    assert _face_check_rules(site) == []  # HCP was asked


@pytest.mark.django_db
def test_a_photo_hcp_refuses_is_refused_on_the_public_page(site, client, host, guest_policy):
    invitation = create_invitation(
        host=host,
        actor=host,
        kind=InvitationKind.SINGLE,
        access_policy=guest_policy,
        purpose="Thesis defence",
        department=None,
    )
    _refuse_next_check(site)
    data = {
        "family_name": "Сейткали",
        "given_name": "Ерлан",
        "phone": "+7 701 555 44 33",
        "national_id": make_iin(),
        "consent": "on",
        "submission_token": str(uuid.uuid4()),
    }
    url = reverse("invitations:public", args=[invitation.token])
    refused = client.post(url, {**data, "photo": _upload(faces.portrait_jpeg())})
    assert refused.status_code == 400
    assert REFUSED in refused.content.decode()
    assert not Visitor.objects.exists()

    # The next check passes: the same photo again is accepted.
    data["submission_token"] = str(uuid.uuid4())
    accepted = client.post(url, {**data, "photo": _upload(faces.portrait_jpeg())})
    assert accepted.status_code in (200, 302)
    assert Visitor.objects.get().photo


@pytest.mark.django_db
def test_a_photo_hcp_refuses_is_refused_on_the_group_member_page(
    site, client, reception, host, vip_policy
):
    invitation = create_invitation(
        host=host,
        actor=reception,
        kind=InvitationKind.GROUP,
        access_policy=vip_policy,
        purpose="Open day",
        department=None,
        planned_start=timezone.now() + timedelta(days=1),
        planned_end=timezone.now() + timedelta(days=1, hours=2),
        max_uses=2,
        group_name="School No. 12",
    )
    client.force_login(reception)
    _refuse_next_check(site)
    data = {
        key: value
        for key, value in _desk_data(host, faces.large_portrait_jpeg(), make_iin()).items()
        if key.startswith("visitor-") or key == "submission_token"
    }
    response = client.post(reverse("visits:register_member", args=[invitation.group.pk]), data)
    assert response.status_code == 400
    assert REFUSED in response.content.decode()
    assert not Visit.objects.exists()
    assert _face_check_rules(site) == []


@pytest.mark.django_db
def test_the_re_enrol_form_asks_hcp_too(site):
    _refuse_next_check(site)
    form = ReenrolForm(
        data={"reason": "The turnstile does not recognise her"},
        files={"photo": _upload(faces.portrait_jpeg())},
    )
    assert not form.is_valid()
    assert REFUSED in " ".join(form.errors["photo"])

    again = ReenrolForm(
        data={"reason": "The turnstile does not recognise her"},
        files={"photo": _upload(faces.portrait_jpeg())},
    )
    assert again.is_valid(), again.errors
    assert again.cleaned_data["photo"].startswith(b"\xff\xd8\xff")


@pytest.mark.django_db
def test_a_photo_over_the_sites_face_size_limit_is_refused(settings, desk, host):
    """A site whose HCP takes smaller faces than we send: its faceCheck refuses ours."""
    settings.FACE_CHECK = True
    sent = normalize_face_photo(faces.large_portrait_jpeg())
    limit = len(sent) - 1
    with running_simulator(seed_demo=True, extra_args=["--max-face-bytes", str(limit)]) as sim:
        _point_at(settings, sim)
        settings.HCP_FACE_CHECK = "auto"
        forget_device()
        response = desk.post(
            reverse("visits:register"), _desk_data(host, faces.large_portrait_jpeg(), make_iin())
        )
    assert response.status_code == 400
    assert REFUSED in response.content.decode()
    assert not Visitor.objects.exists()


@pytest.mark.django_db
def test_off_does_not_ask_hcp(site, settings, desk, host):
    settings.HCP_FACE_CHECK = "off"
    _refuse_next_check(site)
    response = desk.post(
        reverse("visits:register"), _desk_data(host, faces.large_portrait_jpeg(), make_iin())
    )
    assert response.status_code == 302
    assert len(_face_check_rules(site)) == 1  # never asked


@pytest.mark.django_db
def test_without_faceCheck_registration_goes_on(site, desk, host, caplog):
    site.control.set_quirks(face_check_absent=True)
    caplog.set_level(logging.WARNING, logger=LOGGER)
    response = desk.post(
        reverse("visits:register"), _desk_data(host, faces.large_portrait_jpeg(), make_iin())
    )
    assert response.status_code == 302
    assert Visitor.objects.get().photo
    assert "no faceCheck" in caplog.text


@pytest.mark.django_db
def test_an_unknown_configured_device_is_not_a_refusal(site, settings, desk, host, caplog):
    settings.HCP_FACE_CHECK_DEVICE = "999"
    caplog.set_level(logging.WARNING, logger=LOGGER)
    response = desk.post(
        reverse("visits:register"), _desk_data(host, faces.large_portrait_jpeg(), make_iin())
    )
    assert response.status_code == 302
    assert "HCPNotFound" in caplog.text


@pytest.mark.django_db
def test_hcp_down_registration_goes_on_and_logs_no_personal_data(
    site, settings, desk, host, caplog
):
    site.control.add_fault("drop", path=FACE_CHECK)  # every faceCheck: connection reset
    caplog.set_level(logging.DEBUG)
    iin = make_iin()
    response = desk.post(
        reverse("visits:register"), _desk_data(host, faces.large_portrait_jpeg(), iin)
    )
    assert response.status_code == 302
    assert Visitor.objects.get().photo
    assert "HCP face check not available" in caplog.text
    assert "HCPNetworkError" in caplog.text
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for personal in (iin, FAMILY_NAME, GIVEN_NAME):
        assert personal not in logged


@pytest.mark.django_db
def test_an_unreachable_hcp_is_not_a_refusal(site, settings, desk, host, caplog):
    settings.HCP_BASE_URL = "http://127.0.0.1:9"  # nothing listens there
    caplog.set_level(logging.WARNING, logger=LOGGER)
    response = desk.post(
        reverse("visits:register"), _desk_data(host, faces.large_portrait_jpeg(), make_iin())
    )
    assert response.status_code == 302
    assert "HCPNetworkError" in caplog.text


@pytest.mark.django_db
def test_an_open_breaker_is_not_a_refusal(site, settings, desk, host, caplog):
    from hikcentral import HCPNetworkError
    from propusk.integrations.hikcentral.breaker import build_circuit_breaker

    breaker = build_circuit_breaker()
    for _ in range(settings.HCP_CIRCUIT_BREAKER_FAILURES):
        breaker.record_failure(HCPNetworkError("down"))
    _refuse_next_check(site)
    caplog.set_level(logging.WARNING, logger=LOGGER)
    response = desk.post(
        reverse("visits:register"), _desk_data(host, faces.large_portrait_jpeg(), make_iin())
    )
    assert response.status_code == 302
    assert "CircuitOpen" in caplog.text
    assert len(_face_check_rules(site)) == 1  # nothing was sent
