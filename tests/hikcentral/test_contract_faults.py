"""Contract: every fault kind maps to the right typed error, and nothing is swallowed."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator

import pytest

from hcp_simulator.testing import SimulatorHandle, running_simulator
from hikcentral import (
    CircuitOpenError,
    HCPAlreadyExists,
    HCPBusy,
    HCPNetworkError,
    HCPNotFound,
    HCPParameterError,
    HCPPermissionDenied,
    HCPRateLimited,
    HCPServerError,
    HCPSignatureRejected,
    HCPTimeout,
    HCPUnsupported,
    HikCentralClient,
    PermanentError,
    TransientError,
)

from .conftest import (
    MAIN_LEVEL,
    CountingLimiter,
    RecordingBreaker,
    make_config,
    make_jpeg,
    seed_site,
    visitor,
)

pytestmark = pytest.mark.simulator

VERSION = "/api/common/v1/version"
PERSON_ADD = "/api/resource/v1/person/single/add"


# --- transient -----------------------------------------------------------------------------


def test_latency_beyond_the_read_timeout_is_a_timeout(site):
    site.control.add_fault("latency", path=VERSION, count=1, ms=1500)
    with HikCentralClient(make_config(site, read_timeout=0.5)) as client:
        with pytest.raises(HCPTimeout) as info:
            client.version()
        assert info.value.retryable
        assert info.value.may_have_applied
        # Latency under the timeout is just slow.
        site.control.add_fault("latency", path=VERSION, count=1, ms=100)
        assert client.version().soft_version


def test_held_request_times_out(site):
    site.control.add_fault("timeout", path=VERSION, count=1, seconds=30)
    try:
        with (
            HikCentralClient(make_config(site, read_timeout=0.5)) as client,
            pytest.raises(HCPTimeout),
        ):
            client.version()
    finally:
        site.control.clear_faults()  # releases the held request


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("6", HCPBusy),
        ("0x00052101", HCPBusy),
        ("0x02401009", HCPRateLimited),
        ("5", HCPServerError),
        ("0x00052103", HCPTimeout),
        ("0x00052104", HCPServerError),
    ],
)
def test_transient_codes(client, site, code, error):
    site.control.add_fault("code", path=PERSON_ADD, count=1, code=code, msg="injected")
    with pytest.raises(error) as info:
        client.add_person(visitor("F0001"))
    assert isinstance(info.value, TransientError)
    assert info.value.code == code
    assert info.value.msg == "injected"
    assert info.value.path == PERSON_ADD
    # The fault answered instead of the handler: nothing was created, and a retry works.
    assert site.control.state()["persons"] == []
    assert client.add_person(visitor("F0001"))


@pytest.mark.parametrize("status", [500, 502, 503])
def test_http_5xx(client, site, status):
    site.control.add_fault("http", path=VERSION, count=1, status=status)
    with pytest.raises(HCPServerError) as info:
        client.version()
    assert info.value.http_status == status
    assert info.value.retryable


def test_http_429_with_retry_after(client, site):
    site.control.add_fault("http", path=VERSION, count=1, status=429, retryAfter=7)
    with pytest.raises(HCPRateLimited) as info:
        client.version()
    assert info.value.http_status == 429
    assert info.value.retry_after == 7.0


def test_call_quota(client, site):
    site.control.add_fault("quota", rps=1)
    errors = []
    for _ in range(5):
        try:
            client.version()
        except HCPRateLimited as exc:
            errors.append(exc)
    assert errors, "a burst over the quota must be refused"
    assert errors[0].code == "0x02401009"
    site.control.clear_faults()
    assert client.version()


def test_dropped_connection_on_a_write(client, site):
    site.control.add_fault("drop", path=PERSON_ADD, count=1)
    with pytest.raises(HCPNetworkError) as info:
        client.add_person(visitor("D0001"))
    assert info.value.retryable
    assert info.value.may_have_applied
    # Writes are never resent: the dropped request was not applied and nothing else was sent.
    with pytest.raises(HCPNotFound):
        client.get_person_by_code("D0001")


def test_dropped_connection_on_a_read_is_resent_once(site):
    limiter = CountingLimiter()
    breaker = RecordingBreaker()
    with HikCentralClient(
        make_config(site), rate_limiter=limiter, circuit_breaker=breaker
    ) as client:
        site.control.add_fault("drop", path=VERSION, count=1)
        assert client.version().soft_version
        # The resend is a request like any other: the breaker and the limiter see both.
        assert limiter.calls == 2
        assert breaker.events == ["before", "failure:HCPNetworkError", "before", "success"]
        site.control.add_fault("drop", path=VERSION, count=2)
        with pytest.raises(HCPNetworkError):
            client.version()


def test_applied_but_response_lost(client, site):
    site.control.add_fault("lost_response", path=PERSON_ADD, count=1)
    with pytest.raises(HCPNetworkError) as info:
        client.add_person(visitor("L0001"), face_jpeg=make_jpeg())
    assert info.value.retryable
    assert info.value.may_have_applied
    # The change happened: the caller looks the person up by personCode, never adds blindly.
    found = client.get_person_by_code("L0001")
    assert found.has_face
    with pytest.raises(HCPAlreadyExists):
        client.add_person(visitor("L0001"))


def test_applied_but_answered_500(client, site):
    site.control.add_fault("lost_response", path=PERSON_ADD, count=1, status=500)
    with pytest.raises(HCPServerError) as info:
        client.add_person(visitor("L0002"))
    assert info.value.may_have_applied
    assert client.get_person_by_code("L0002").person_code == "L0002"


def test_connection_refused(site):
    config = make_config(site, base_url="http://127.0.0.1:9", connect_timeout=1.0)
    with HikCentralClient(config) as client, pytest.raises(HCPNetworkError) as info:
        client.version()
    assert not info.value.may_have_applied


# --- permanent -----------------------------------------------------------------------------


def test_duplicate_person_code(client):
    client.add_person(visitor("P0001"))
    with pytest.raises(HCPAlreadyExists) as info:
        client.add_person(visitor("P0001"))
    assert info.value.code == "131"
    assert not info.value.retryable


def test_unknown_ids(client):
    with pytest.raises(HCPNotFound) as info:
        client.get_person_by_id("no-such-person")
    assert info.value.code == "128"
    with pytest.raises(HCPNotFound):
        client.delete_person(person_id="no-such-person")
    with pytest.raises(HCPNotFound):
        client.update_face(make_jpeg(), person_code="NOBODY")
    with pytest.raises(HCPNotFound):
        client.add_persons_to_access_level("999", ["x"])
    person_id = client.add_person(visitor("P0002"))
    with pytest.raises(HCPNotFound, match="privilegeGroupId"):
        client.list_access_level_members("999")
    with pytest.raises(HCPNotFound):
        client.add_persons_to_access_level(MAIN_LEVEL, [person_id, "ghost"])


def test_parameter_error_names_the_field(client):
    with pytest.raises(HCPParameterError) as info:
        client.add_person(visitor("P0003", email="not-an-email"))
    assert info.value.code == "2"
    assert info.value.field == "email"
    assert not info.value.retryable
    with pytest.raises(HCPParameterError) as info:
        client.add_person(visitor("P0004"), face_jpeg=make_jpeg(side=8))  # too small
    assert info.value.field == "faceData"


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("17", HCPPermissionDenied),
        ("0x02401007", HCPPermissionDenied),
        ("8", HCPUnsupported),
        ("0x00072001", HCPParameterError),
    ],
)
def test_permanent_codes(client, site, code, error):
    site.control.add_fault("code", path=VERSION, count=1, code=code)
    with pytest.raises(error) as info:
        client.version()
    assert isinstance(info.value, PermanentError)


def test_wrong_secret_is_rejected(site):
    with (
        HikCentralClient(make_config(site, app_secret="not-the-secret")) as client,
        pytest.raises(HCPSignatureRejected) as info,
    ):
        client.version()
    assert info.value.code == "0x02401003"
    assert info.value.http_status == 200
    assert not info.value.retryable


def test_unknown_app_key_is_rejected(site):
    with (
        HikCentralClient(make_config(site, app_key="stranger")) as client,
        pytest.raises(HCPSignatureRejected) as info,
    ):
        client.version()
    assert info.value.code == "0x02401001"


@pytest.fixture(scope="module")
def strict_gateway() -> Iterator[SimulatorHandle]:
    with running_simulator(auth_failure_status=401, admin_password="s3cret") as sim:
        yield sim


def test_wrong_secret_answered_401(strict_gateway):
    with (
        HikCentralClient(make_config(strict_gateway, app_secret="wrong")) as client,
        pytest.raises(HCPSignatureRejected) as info,
    ):
        client.version()
    assert info.value.http_status == 401
    assert info.value.code == "0x02401003"


def test_delete_sends_the_configured_admin_password(strict_gateway):
    seed_site(strict_gateway)
    with HikCentralClient(make_config(strict_gateway)) as client:
        person_id = client.add_person(visitor("W0001"))
        with pytest.raises(HCPParameterError) as info:
            client.delete_person(person_id=person_id)  # none configured
        assert info.value.field == "adminPassword"
    with HikCentralClient(make_config(strict_gateway, admin_password="guess")) as client:
        with pytest.raises(HCPParameterError) as info:
            client.delete_person(person_id=person_id)
        assert info.value.remain_lock_number == 4
    with HikCentralClient(make_config(strict_gateway, admin_password="s3cret")) as client:
        client.delete_person(person_id=person_id)
        with pytest.raises(HCPNotFound):
            client.get_person_by_id(person_id)


# --- hooks and logs ------------------------------------------------------------------------


def test_breaker_and_limiter_hooks(site):
    limiter = CountingLimiter()
    breaker = RecordingBreaker()
    with HikCentralClient(
        make_config(site), rate_limiter=limiter, circuit_breaker=breaker
    ) as client:
        client.version()
        assert breaker.events == ["before", "success"]

        breaker.events.clear()
        site.control.add_fault("code", path=VERSION, count=1, code="6")
        with pytest.raises(HCPBusy):
            client.version()
        assert breaker.events == ["before", "failure:HCPBusy"]

        # A business error is an answer: HCP is up.
        breaker.events.clear()
        with pytest.raises(HCPNotFound):
            client.get_person_by_id("nobody")
        assert breaker.events == ["before", "success"]

        # An open breaker: nothing is sent, no limiter token is spent.
        breaker.open = True
        calls_before = limiter.calls
        with pytest.raises(CircuitOpenError) as info:
            client.add_person(visitor("C0001"))
        assert info.value.retryable
        assert limiter.calls == calls_before
        assert site.control.state()["persons"] == []

        breaker.open = False
        revoking = client.with_priority("revoke")
        revoking.version()
        assert limiter.priorities[-1] == "revoke"
        client.version()
        assert limiter.priorities[-1] == "normal"


def test_logs_carry_no_secrets_or_personal_data(site, caplog):
    face = make_jpeg((9, 9, 9))
    with HikCentralClient(make_config(site, app_secret=site.app_secret)) as client:
        caplog.set_level(logging.DEBUG, logger="hikcentral")
        client.add_person(
            visitor("G0001", family_name="Zhumabayeva", phone_no="+77779998877"), face_jpeg=face
        )
        site.control.add_fault("code", path=PERSON_ADD, count=1, code="6")
        with pytest.raises(HCPBusy):
            client.add_person(visitor("G0002", family_name="Zhumabayeva"))
        client.subscribe_events([196893], dest="https://x.example/hook", token="tok-SECRET-123")
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "G0001" in text  # identifiers are logged
    for secret in (site.app_secret, "Zhumabayeva", "+77779998877", "tok-SECRET-123", "faceData"):
        assert secret not in text
    assert base64.b64encode(face).decode()[:40] not in text
