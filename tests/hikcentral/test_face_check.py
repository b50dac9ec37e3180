"""HikCentralClient.face_check against the simulator: usable, refused, not there.

The answer's ``data`` shape is not published: the client reads a verdict only when one is
present (``FaceCheckResult.from_api``, unit tests below) and never requires it."""

from __future__ import annotations

import pytest

from hcp_simulator.testing import SimulatorHandle
from hikcentral import (
    FaceCheckResult,
    HCPNotFound,
    HCPParameterError,
    HCPServerError,
    HikCentralClient,
)

from .conftest import make_jpeg

CHECK = "/api/acs/v1/faceCheck"
DEVICE = "1"  # the site's turnstile 1 is on device "1"


def test_a_usable_picture(client: HikCentralClient) -> None:
    assert client.face_check(make_jpeg(side=160), acs_dev_index_code=DEVICE) == FaceCheckResult(
        usable=True
    )


def test_a_refused_picture_is_no_with_hcps_message(client: HikCentralClient) -> None:
    # The simulator calls pictures under 80 px a side unusable (person add takes them).
    result = client.face_check(make_jpeg(side=64), acs_dev_index_code=DEVICE)
    assert result.usable is False
    assert "faceData" in (result.detail or "")


def test_a_refusal_injected_with_a_face_message_is_no(
    site: SimulatorHandle, client: HikCentralClient
) -> None:
    site.control.add_fault(
        "code", path=CHECK, count=1, code="0x00072001", msg="Face picture quality is too low."
    )
    result = client.face_check(make_jpeg(side=160), acs_dev_index_code=DEVICE)
    assert result == FaceCheckResult(usable=False, detail="Face picture quality is too low.")


def test_a_parameter_error_about_something_else_raises(
    site: SimulatorHandle, client: HikCentralClient
) -> None:
    site.control.add_fault(
        "code", path=CHECK, count=1, code="2", msg="[acsDevIndexCode parameter error]"
    )
    with pytest.raises(HCPParameterError):
        client.face_check(make_jpeg(side=160), acs_dev_index_code=DEVICE)


def test_an_unknown_device_raises(client: HikCentralClient) -> None:
    with pytest.raises(HCPNotFound):
        client.face_check(make_jpeg(side=160), acs_dev_index_code="999")


def test_absent_endpoint_is_not_known(site: SimulatorHandle, client: HikCentralClient) -> None:
    site.control.set_quirks(face_check_absent=True)  # HTTP 404
    assert client.face_check(make_jpeg(side=160), acs_dev_index_code=DEVICE).usable is None


def test_not_supported_code_is_not_known(site: SimulatorHandle, client: HikCentralClient) -> None:
    site.control.add_fault("code", path=CHECK, count=1, code="8", msg="API not found.")
    result = client.face_check(make_jpeg(side=160), acs_dev_index_code=DEVICE)
    assert result == FaceCheckResult(usable=None, detail="API not found.")


def test_a_transient_error_raises_and_is_sent_once(
    site: SimulatorHandle, client: HikCentralClient, limiter
) -> None:
    site.control.add_fault("http", path=CHECK, count=2, status=500)
    with pytest.raises(HCPServerError):
        client.face_check(make_jpeg(side=160), acs_dev_index_code=DEVICE)
    assert limiter.calls == 1  # no retry: someone is waiting


def test_only_a_jpeg_is_sent(client: HikCentralClient, limiter) -> None:
    with pytest.raises(ValueError, match="JPEG"):
        client.face_check(b"\x89PNG\r\n", acs_dev_index_code=DEVICE)
    assert limiter.calls == 0


# --- reading an answer whose shape nobody published ------------------------------------


@pytest.mark.parametrize("data", [None, "", "null", {}, {"checkResult": True}, {"x": 1}, [1]])
def test_success_without_a_no_is_usable(data: object) -> None:
    assert FaceCheckResult.from_api(data) == FaceCheckResult(usable=True)


@pytest.mark.parametrize(
    "data",
    [{"checkResult": False}, {"result": "false"}, {"usable": False, "msg": "eyes closed"}],
)
def test_an_explicit_no_is_not_usable(data: dict[str, object]) -> None:
    assert FaceCheckResult.from_api(data).usable is False
