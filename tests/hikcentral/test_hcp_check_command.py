"""The ``hcp_check`` management command against the simulator (needs Django settings)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from hcp_simulator.testing import SimulatorHandle, running_simulator

from .conftest import ALL_DOORS_LEVEL, MAIN_LEVEL, VISITOR_ORG, make_jpeg, seed_site

pytestmark = pytest.mark.simulator


def configure(settings: Any, sim: SimulatorHandle) -> Any:
    settings.HCP_BASE_URL = sim.base_url
    settings.HCP_APP_KEY = sim.app_key
    settings.HCP_APP_SECRET = sim.app_secret
    settings.HCP_APP_SECRET_FILE = ""
    settings.HCP_USER_ID = "admin"
    settings.HCP_VERIFY_TLS = True
    settings.HCP_CA_BUNDLE = ""
    settings.HCP_CONNECT_TIMEOUT = 2.0
    settings.HCP_READ_TIMEOUT = 2.0
    settings.HCP_UTC_OFFSET = "+05:00"
    settings.HCP_BATCH_SIZE = 20
    settings.HCP_ADMIN_PASSWORD = ""
    settings.HCP_ORG_NAME = "Visitors"  # seed_site's organisation VISITOR_ORG
    return settings


@pytest.fixture
def hcp_settings(settings, site):
    return configure(settings, site)


def test_prints_version_levels_and_doors(hcp_settings):
    out = io.StringIO()
    call_command("hcp_check", stdout=out)
    text = out.getvalue()
    assert f"HCP: {hcp_settings.HCP_BASE_URL} (TLS verification: system CA store)" in text
    assert "Version: HikCentral Professional V2.6.0" in text
    assert "Access levels: 2" in text
    assert "  10: Main entrance" in text
    assert "Doors: 12" in text
    assert "  12: Turnstile 12" in text
    assert "HCP connection OK" in text


def test_fails_loudly_on_a_rejected_signature(hcp_settings):
    hcp_settings.HCP_APP_SECRET = "not-the-secret"
    with pytest.raises(CommandError) as info:
        call_command("hcp_check", stdout=io.StringIO())
    message = str(info.value)
    assert "HCPSignatureRejected" in message
    assert "permanent" in message
    assert "HCP_APP_KEY / HCP_APP_SECRET" in message
    assert "clock" in message  # a skewed clock is rejected the same way (stale X-Ca-Timestamp)
    assert "not-the-secret" not in message


def test_fails_loudly_on_missing_settings(hcp_settings):
    hcp_settings.HCP_BASE_URL = ""
    with pytest.raises(CommandError, match="HCP_BASE_URL is not set"):
        call_command("hcp_check", stdout=io.StringIO())


def test_transient_failure_is_reported_as_such(hcp_settings, site):
    site.control.add_fault("http", path="/api/common/v1/version", count=1, status=503)
    with pytest.raises(CommandError, match=r"HCPServerError, transient"):
        call_command("hcp_check", stdout=io.StringIO())


# --- --deep: every unverified call on a throw-away person ----------------------------------

PERSON_ADD = "/api/resource/v1/person/single/add"
PERSON_DELETE = "/api/resource/v1/person/single/delete"
ADD_MEMBERS = "/api/acs/v1/privilege/group/single/addPersons"
DEEP_STEPS = [
    "organisation",
    "access level",
    "doors",
    "person add, with a face",
    "person by personCode",
    "person by personId",
    "person update",
    "face update",
    "person photo",
    "access level addPersons",
    "access level members",
    'reapplication with orderId ""',
    "reapplication without orderId",
    "applicationResult type 1",
    "applicationResult type 2",
    "access level deletePersons",
    "reapplication after removal",
    "door/events by personId",
    "door/events by one eventType",
    "door/events by eventTypes",
    "event subscriptions view",
    "clean-up: look the person up",
    "person delete",
    "person is gone",
]


def run_deep(*args: str) -> str:
    out = io.StringIO()
    call_command("hcp_check", "--deep", *args, stdout=out)
    return out.getvalue()


def deep_failure(*args: str) -> tuple[str, str]:
    out = io.StringIO()
    with pytest.raises(CommandError) as info:
        call_command("hcp_check", "--deep", *args, stdout=out)
    return out.getvalue(), str(info.value)


def assert_nothing_left(sim: SimulatorHandle) -> None:
    state = sim.control.state()
    assert state["persons"] == []  # also on no device (a deleted person there is listed)
    assert all(level["personIds"] == [] for level in state["accessLevels"])


def test_deep_prints_every_unverified_answer_and_removes_the_person(hcp_settings, site, quirks_on):
    site.control.passage("1", unknown_face=True)  # a denial in the last hour
    text = run_deep()
    for step in DEEP_STEPS:
        assert f"  ok    {step}\n" in text, step
    assert "FAIL" not in text
    assert "Deep check: 24 steps ok, 0 failed" in text
    assert text.rstrip().endswith("HCP deep check OK")
    assert "throw-away person PROPUSKCHK" in text
    # In our organisation (HCP_ORG_NAME), not the root.
    assert f"in organisation {VISITOR_ORG}, access level {MAIN_LEVEL}" in text
    # What came back, by shape: the facts a first real site will tell us.
    new_id = "string(digits, 1)" if quirks_on else "string(hex, 32)"
    assert f"{PERSON_ADD} -> {new_id}" in text
    assert "/api/resource/v1/person/single/update -> " + ('""' if quirks_on else '"null"') in text
    if quirks_on:
        assert '/api/acs/v1/auth/applicationResult -> ""' in text
        assert "not a shape the client knows" in text
        assert "outcome: unknown" in text
        assert "the server ignored the type filter: 1 of 1 rows" in text
    else:
        assert "read as counts: waiting 0, applying 0, failed 0" in text
        assert "outcome: applied" in text
        assert "all of the asked types" in text
    # Shapes only: no picture URI, face, name or secret.
    assert "/pic?" not in text
    assert "Propusk" not in text.replace("PROPUSKCHK", "")
    assert site.app_secret not in text
    assert_nothing_left(site)


def test_deep_removes_the_person_when_steps_fail(hcp_settings, site):
    site.control.add_fault(
        "code", path=ADD_MEMBERS, code="2", msg="Incorrect parameter. [list parameter error]"
    )
    out, message = deep_failure()
    assert "  FAIL  access level addPersons: HCPParameterError code 2" in out
    assert "  FAIL  access level members: the person is not among the level's 0 members" in out
    assert "  ok    person is gone" in out
    assert "failed steps: access level addPersons; access level members" in message
    assert "may still be in HCP" not in message
    assert_nothing_left(site)


def test_deep_removes_a_person_whose_add_answer_was_lost(hcp_settings, site):
    site.control.add_fault("lost_response", path=PERSON_ADD, count=1)
    out, message = deep_failure()
    assert "  FAIL  person add, with a face: HCPNetworkError" in out
    assert "(may have been applied)" in out
    assert "  ok    person delete" in out
    assert "person add, with a face" in message
    assert_nothing_left(site)


def test_deep_names_a_person_it_could_not_remove(hcp_settings, site):
    site.control.add_fault("code", path=PERSON_DELETE, code="6", msg="Server busy")
    out, message = deep_failure()
    assert "  FAIL  person delete: HCPBusy code 6 'Server busy'" in out
    (person,) = site.control.state()["persons"]
    assert f"the throw-away person {person['personCode']} may still be in HCP" in message
    assert person["personCode"].startswith("PROPUSKCHK")
    assert person["accessLevels"] == []  # at least it has no access


def test_deep_refuses_an_unknown_organisation_and_creates_nothing(hcp_settings, site):
    out, message = deep_failure("--org", "99")
    assert "  FAIL  organisation: organisation 99 is not among the 2 HCP lists" in out
    assert "nothing created" in out
    assert "organisation" in message
    assert_nothing_left(site)


@pytest.mark.parametrize("copies", [0, 2])
def test_deep_needs_exactly_one_organisation_of_ours_and_creates_nothing(
    hcp_settings, site, copies
):
    hcp_settings.HCP_ORG_NAME = "Propusk visitors"
    for number in range(copies):
        site.control.add_org(str(30 + number), "Propusk visitors")
    site.control.add_org("40", "Propusk visitors (old)")  # a search match, not ours
    out, message = deep_failure()
    assert "failed steps: organisation" in message
    found = "no organisation" if copies == 0 else f"{copies} organisations"
    assert f"  FAIL  organisation: HCP has {found} named 'Propusk visitors'" in out
    assert "nothing created" in out
    assert_nothing_left(site)
    site.control.add_org("41", "Root-level stand-in")
    text = run_deep("--org", "41")  # --org picks any organisation by its index code
    assert "in organisation 41," in text
    assert_nothing_left(site)


def test_deep_refuses_a_face_that_is_not_a_jpeg(hcp_settings, site, tmp_path):
    picture = tmp_path / "face.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    with pytest.raises(CommandError, match="not a JPEG"):
        call_command("hcp_check", "--deep", "--face", str(picture), stdout=io.StringIO())
    assert_nothing_left(site)


@pytest.fixture(scope="module")
def admin_password_simulator() -> Iterator[SimulatorHandle]:
    with running_simulator(admin_password="Adm1n-S3cret") as sim:
        yield sim


def test_deep_sends_the_admin_password_and_takes_the_options(
    settings, admin_password_simulator, tmp_path
):
    sim = admin_password_simulator
    seed_site(sim)
    configure(settings, sim)
    settings.HCP_ADMIN_PASSWORD = "Adm1n-S3cret"
    face = tmp_path / "face.jpg"
    face.write_bytes(make_jpeg((90, 60, 30), side=128))
    text = run_deep("--org", VISITOR_ORG, "--access-level", ALL_DOORS_LEVEL, "--face", str(face))
    assert f"in organisation {VISITOR_ORG}, access level {ALL_DOORS_LEVEL}" in text
    assert "  ok    person delete" in text
    assert f"{PERSON_DELETE} -> {{remainLockNumber: number 5}}" in text  # the V3 answer
    assert "Adm1n-S3cret" not in text
    assert_nothing_left(sim)


def test_deep_with_a_wrong_admin_password_leaves_the_person_named(
    settings, admin_password_simulator
):
    sim = admin_password_simulator
    seed_site(sim)
    configure(settings, sim)
    settings.HCP_ADMIN_PASSWORD = "wrong-guess"
    out, message = deep_failure()
    assert "  FAIL  person delete: HCPParameterError code 2" in out
    assert "may still be in HCP" in message
    assert "wrong-guess" not in out + message
    (person,) = sim.control.state()["persons"]
    assert person["accessLevels"] == []


def test_checks_hcp_even_while_the_workers_circuit_is_open(hcp_settings):
    """A diagnosis must ask HCP itself, not report the workers' open breaker."""
    from hikcentral.errors import HCPServerError
    from propusk.integrations.hikcentral.breaker import build_circuit_breaker

    breaker = build_circuit_breaker()
    for _ in range(hcp_settings.HCP_CIRCUIT_BREAKER_FAILURES):
        breaker.record_failure(HCPServerError("HTTP 503", path="/x", http_status=503))
    assert breaker.state().state == "open"

    out = io.StringIO()
    call_command("hcp_check", stdout=out)
    assert "HCP connection OK" in out.getvalue()
