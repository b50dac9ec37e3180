"""Fixtures for the access engine: the real HCP simulator (one process per test module, reset
through its control API before each test), Django settings pointing at it, and the helpers the
scenario tests share: registering visits over HTTP and draining the work."""

from __future__ import annotations

import io
import itertools
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image, ImageDraw

from hcp_simulator.testing import SimulatorHandle, running_simulator
from hikcentral import HikCentralClient
from propusk.access.models import AccessLevelPolicy
from propusk.access.reconciler import ReconcileResult, forget_hcp_directory, reconcile_due_work
from propusk.integrations.hikcentral.factory import build_client
from propusk.visits.models import Visit
from tests.factories import make_jpeg

ALMATY = ZoneInfo("Asia/Almaty")
ORG_NAME = "Propusk visitors"
OUR_ORG = "2"
STAFF_ORG = "3"
GUEST_LEVEL = "1"  # the demo site's "Guests": doors 1 and 2
VIP_LEVEL = "2"  # doors 1 to 4 (the suite's vip_policy)
ENTRANCE = "1"
ADMINISTRATION = "4"  # VIP only
# The reconciler asks whether the devices applied a change this long after asking for it.
APPLY_CHECK_AFTER = timedelta(seconds=2)


def start_simulator(**options: Any) -> Iterator[SimulatorHandle]:
    # Request timestamps two days either side of the simulator's clock are accepted:
    # ``daytime_site`` moves this process's clock (and so the signed timestamps) to a fixed
    # hour. The signature window itself is tested in tests/simulator.
    options.setdefault("timestamp_window", 2 * 86400)
    with running_simulator(seed_demo=True, **options) as sim:
        yield sim


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorHandle]:
    yield from start_simulator()


@pytest.fixture
def site(simulator: SimulatorHandle) -> SimulatorHandle:
    """The demo site (doors 1-4, levels 1-3), our organisation and a staff organisation.

    The reconciler's remembered organisation and door list are dropped: each test's site is
    new (as a process starting)."""
    forget_hcp_directory()
    control = simulator.control
    control.reset()
    control.add_org(OUR_ORG, ORG_NAME)
    control.add_org(STAFF_ORG, "Staff")
    return simulator


@pytest.fixture
def daytime_site(site: SimulatorHandle, daytime: datetime) -> SimulatorHandle:
    """The site at tomorrow 11:00 Almaty (``daytime``), the simulator's clock too."""
    site.control.set_clock(daytime)
    return site


@pytest.fixture
def hcp_settings(settings: Any, site: SimulatorHandle) -> Any:
    settings.HCP_BASE_URL = site.base_url
    settings.HCP_APP_KEY = site.app_key
    settings.HCP_APP_SECRET = site.app_secret
    settings.HCP_CONNECT_TIMEOUT = 2.0
    settings.HCP_READ_TIMEOUT = 2.0
    settings.HCP_ORG_NAME = ORG_NAME
    return settings


@pytest.fixture
def hcp(hcp_settings: Any) -> Iterator[HikCentralClient]:
    with build_client() as client:
        yield client


@pytest.fixture
def drain(hcp: HikCentralClient) -> Callable[..., ReconcileResult]:
    """Run the reconciler as a worker does (at ``now``, default the present)."""

    def run(now: datetime | None = None) -> ReconcileResult:
        return reconcile_due_work(client=hcp, now=now)

    return run


@pytest.fixture
def confirm(drain: Callable[..., ReconcileResult]) -> Callable[..., ReconcileResult]:
    """A run late enough to ask HCP whether the last changes reached the devices."""

    def run(now: datetime | None = None) -> ReconcileResult:
        return drain(now=(now or timezone.now()) + APPLY_CHECK_AFTER)

    return run


def local(moment: datetime) -> str:
    """A datetime as the registration form's inputs take it (site time, minutes)."""
    return moment.astimezone(ALMATY).strftime("%Y-%m-%dT%H:%M")


def distinct_face(n: int) -> bytes:
    """A face-coloured picture with a dark mark where no other of the first 256 has it."""
    image = Image.open(io.BytesIO(make_jpeg()))
    x, y = n % 16 * 40, n // 16 % 16 * 40
    ImageDraw.Draw(image).rectangle((x, y, x + 39, y + 39), fill=(40, 30, 20))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG")
    return buffer.getvalue()


def photo_upload(content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile("face.jpg", content, content_type="image/jpeg")


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def register(reception: User, host: User, guest_policy: AccessLevelPolicy) -> Callable[..., Visit]:
    """Reception registers a visit over HTTP: a walk-in (``start`` None) or a planned one.

    Each visitor gets a face of their own (the simulator's turnstile recognises a face by its
    bytes, so two visitors with one picture would be told apart by chance).
    """
    desk = signed_in(reception)
    shades = itertools.count()

    def post(
        *,
        family_name: str = "Nurlanova",
        given_name: str = "Aigerim",
        national_id: str = "",
        photo: bytes | None = None,
        start: datetime | None = None,
        minutes: int = 120,
        policy: AccessLevelPolicy | None = None,
    ) -> Visit:
        data: dict[str, Any] = {
            "submission_token": str(uuid.uuid4()),
            "kind": "guest",
            "host": str(host.pk),
            "purpose": "Seminar",
            "access_policy": str(policy.pk) if policy else "",
            "visitor-family_name": family_name,
            "visitor-given_name": given_name,
            "visitor-phone": "+7 701 234 56 78",
            "visitor-national_id": national_id,
            "visitor-consent": "on",
            "visitor-photo": photo_upload(photo or distinct_face(next(shades))),
        }
        if start is None:
            data.update(mode="now", duration=str(minutes))
        else:
            data.update(
                mode="later",
                planned_start=local(start),
                planned_end=local(start + timedelta(minutes=minutes)),
            )
        response = desk.post(reverse("visits:register"), data)
        assert response.status_code == 302, response.content.decode()[:2000]
        visit_id = int(response["Location"].rstrip("/").split("/")[-1])
        return Visit.objects.select_related("visitor", "access_policy").get(pk=visit_id)

    return post


@pytest.fixture
def desk(reception: User) -> Client:
    """Reception's browser, for the actions on a visit."""
    return signed_in(reception)


def hcp_person(sim: SimulatorHandle, person_code: str) -> dict[str, Any]:
    """The simulator's record of the one person with this code (asserts there is one)."""
    persons = [p for p in sim.control.state()["persons"] if p.get("personCode") == person_code]
    assert len(persons) == 1, persons
    return persons[0]
