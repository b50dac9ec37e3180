"""The gateway's signature check: every signed byte counts, replays and stale requests fail."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hcp_simulator.testing import SimulatorHandle, running_simulator

from .artemis import Artemis, SignedRequest, sign

pytestmark = pytest.mark.simulator

VERSION = "/api/common/v1/version"
ORG_LIST = "/api/resource/v1/org/advance/orgList"
GATEWAY_AUTH_CODES = {"0x02401000", "0x02401001", "0x02401002", "0x02401003"}
SIGNED_HEADERS = (
    "Accept",
    "Content-MD5",
    "Content-Type",
    "X-Ca-Key",
    "X-Ca-Nonce",
    "X-Ca-Timestamp",
    "X-Ca-Signature-Headers",
    "X-Ca-Signature",
)


def changed_char(text: str, index: int) -> str:
    """`text` with the character at `index` replaced by a different, header-safe one."""
    replacement = "x" if text[index] != "x" else "y"
    return text[:index] + replacement + text[index + 1 :]


def code_of(response_json: dict[str, object]) -> str:
    return str(response_json["code"])


def assert_rejected(api: Artemis, request: SignedRequest) -> str:
    response = api.send(request)
    assert response.status_code == 200, response.text
    code = code_of(response.json())
    assert code in GATEWAY_AUTH_CODES, (request, response.text)
    return code


def fresh(api: Artemis, path: str = ORG_LIST) -> SignedRequest:
    return api.build(path, {"pageNo": 1, "pageSize": 10, "orgName": "Root"})


def test_a_correctly_signed_request_passes(api: Artemis) -> None:
    response = api.send(fresh(api))
    assert response.json()["code"] == "0"
    assert response.json()["data"]["list"][0]["orgIndexCode"] == "1"


@pytest.mark.parametrize("header", SIGNED_HEADERS)
def test_every_byte_of_every_signed_header_is_checked(api: Artemis, header: str) -> None:
    original = fresh(api).headers[header]
    for index in range(len(original)):
        request = fresh(api)  # a new nonce each time, so only the changed byte can fail it
        request = request.with_header(header, changed_char(request.headers[header], index))
        code = assert_rejected(api, request)
        if header == "X-Ca-Key":
            assert code == "0x02401001"
        else:
            assert code == "0x02401003"


def test_every_byte_of_the_path_is_checked(api: Artemis) -> None:
    path = fresh(api).path
    for index in range(1, len(path)):  # byte 0 must stay "/" to be an HTTP request target
        request = fresh(api)
        tampered = SignedRequest(
            request.method, changed_char(path, index), request.body, request.headers
        )
        assert_rejected(api, tampered)


def test_every_byte_of_the_body_is_checked_through_content_md5(api: Artemis) -> None:
    body = fresh(api).body
    for index in range(len(body)):
        request = fresh(api)
        tampered_body = body[:index] + bytes([body[index] ^ 0x01]) + body[index + 1 :]
        assert_rejected(
            api, SignedRequest(request.method, request.path, tampered_body, request.headers)
        )


@pytest.mark.parametrize("signed_method", ["PUT", "GET", "POSX", "post "])
def test_the_method_is_signed(api: Artemis, signed_method: str) -> None:
    request = api.build(VERSION, {}, sign_method=signed_method)
    assert assert_rejected(api, request) == "0x02401003"


def test_a_request_signed_for_post_but_sent_as_put_fails(api: Artemis) -> None:
    request = api.build(VERSION, {})
    assert assert_rejected(api, SignedRequest("PUT", request.path, request.body, request.headers))


@pytest.mark.parametrize(
    "header", ["Accept", "Content-MD5", "Content-Type", "X-Ca-Nonce", "X-Ca-Timestamp"]
)
def test_dropping_a_signed_header_fails(api: Artemis, header: str) -> None:
    assert assert_rejected(api, fresh(api).with_header(header, None)) == "0x02401003"


def test_a_charset_appended_after_signing_fails(api: Artemis) -> None:
    request = api.build(VERSION, {}, content_type="application/json")
    tampered = request.with_header("Content-Type", "application/json; charset=utf-8")
    assert assert_rejected(api, tampered) == "0x02401003"


def test_signing_without_the_artemis_prefix_fails(api: Artemis) -> None:
    body = b"{}"
    wrong = sign(
        "POST", "/api/common/v1/version", body, app_key=api.app_key, app_secret=api.app_secret
    )
    request = SignedRequest("POST", "/artemis/api/common/v1/version", body, wrong.headers)
    assert assert_rejected(api, request) == "0x02401003"


def test_listing_a_header_that_is_not_sent_fails(api: Artemis) -> None:
    request = fresh(api).with_header(
        "X-Ca-Signature-Headers", "x-ca-key,x-ca-nonce,x-ca-timestamp,x-ca-extra"
    )
    assert assert_rejected(api, request) == "0x02401003"


def test_listed_header_names_are_taken_as_written(api: Artemis) -> None:
    """Clients sign lower-case names; a name listed otherwise changes the string to sign."""
    request = fresh(api).with_header("X-Ca-Signature-Headers", "x-ca-key,X-Ca-Nonce,x-ca-timestamp")
    assert assert_rejected(api, request) == "0x02401003"


def test_the_minimal_form_is_accepted(api: Artemis) -> None:
    envelope = api.call(VERSION, {}, minimal=True)
    assert envelope["code"] == "0"
    assert envelope["data"] == {"produceName": "HikCentral Professional", "softVersion": "V2.6.0"}


def test_the_minimal_form_still_covers_accept_content_type_and_path(api: Artemis) -> None:
    request = api.build(VERSION, {}, minimal=True)
    assert set(request.headers) == {"Accept", "Content-Type", "X-Ca-Key", "X-Ca-Signature"}
    assert assert_rejected(api, request.with_header("Accept", "*/*"))
    assert assert_rejected(api, request.with_header("Content-Type", "application/json"))
    moved = SignedRequest(
        "POST", "/artemis/api/resource/v1/person/personList", request.body, request.headers
    )
    assert assert_rejected(api, moved)


def test_query_parameters_are_signed_sorted_and_blank_values_as_the_key_alone(
    api: Artemis,
) -> None:
    """As the official SDKs build the path line: keys sorted, `k=v` joined by `&`, and a
    parameter with a blank value written as `k` alone (not `k=`)."""
    signed_path = "/artemis" + VERSION + "?a=1&b&c=x y"
    request = sign("POST", signed_path, b"{}", app_key=api.app_key, app_secret=api.app_secret)
    sent = SignedRequest("POST", "/artemis" + VERSION + "?c=x%20y&b=&a=1", b"{}", request.headers)
    assert api.send(sent).json()["code"] == "0"
    other = sign(
        "POST",
        "/artemis" + VERSION + "?b&a=2",
        b"{}",
        app_key=api.app_key,
        app_secret=api.app_secret,
    )
    changed = SignedRequest("POST", "/artemis" + VERSION + "?a=1&b=", b"{}", other.headers)
    assert assert_rejected(api, changed) == "0x02401003"


def test_without_content_md5_the_body_is_not_signed(api: Artemis) -> None:
    """As on the real gateway: Content-MD5 is optional, and only it protects the body."""
    request = api.build(ORG_LIST, {"pageNo": 1, "pageSize": 10}, content_md5=False)
    other = json.dumps({"pageNo": 1, "pageSize": 5}).encode()
    response = api.send(SignedRequest(request.method, request.path, other, request.headers))
    assert response.json()["data"]["pageSize"] == 5


def test_a_sent_content_md5_must_match_the_body(api: Artemis) -> None:
    request = api.build(VERSION, {})
    assert (
        assert_rejected(api, SignedRequest("POST", request.path, b"{} ", request.headers))
        == "0x02401003"
    )


def test_missing_app_key_unknown_partner_and_missing_signature(api: Artemis) -> None:
    request = fresh(api)
    assert assert_rejected(api, request.with_header("X-Ca-Key", None)) == "0x02401000"
    stranger = sign("POST", request.path, request.body, app_key="someone-else", app_secret="x")
    assert assert_rejected(api, stranger) == "0x02401001"
    assert assert_rejected(api, fresh(api).with_header("X-Ca-Signature", None)) == "0x02401002"


def test_the_wrong_secret_is_an_invalid_signature(api: Artemis) -> None:
    request = sign("POST", "/artemis" + VERSION, b"{}", app_key=api.app_key, app_secret="wrong")
    response = api.send(request)
    assert response.status_code == 200
    assert response.json() == {"code": "0x02401003", "msg": "Invalid signature."}


def test_a_reused_nonce_is_rejected(api: Artemis) -> None:
    request = fresh(api)
    assert api.send(request).json()["code"] == "0"
    replay = api.send(request).json()
    assert replay["code"] == "0x02401003"
    assert "Nonce" in replay["msg"]


def test_a_request_failing_the_signature_does_not_burn_its_nonce(api: Artemis) -> None:
    request = fresh(api)
    assert_rejected(api, request.with_header("Accept", "*/*"))
    assert api.send(request).json()["code"] == "0"


@pytest.mark.parametrize("skew_seconds", [-16 * 60, 16 * 60])
def test_a_timestamp_outside_the_window_is_rejected(api: Artemis, skew_seconds: int) -> None:
    stamp = int((time.time() + skew_seconds) * 1000)
    envelope = api.call(VERSION, {}, timestamp_ms=stamp)
    assert envelope["code"] == "0x02401003"
    assert "Timestamp" in envelope["msg"]


def test_a_timestamp_inside_the_window_is_accepted(api: Artemis) -> None:
    stamp = int((time.time() - 14 * 60) * 1000)
    assert api.call(VERSION, {}, timestamp_ms=stamp)["code"] == "0"


def test_the_window_uses_real_time_not_the_simulator_clock(
    sim: SimulatorHandle, api: Artemis
) -> None:
    sim.control.advance_clock(30 * 24 * 3600)
    assert api.call(VERSION, {})["code"] == "0"


def test_paths_outside_artemis_are_behind_the_gateway(api: Artemis) -> None:
    bad = SignedRequest("POST", "/anything", b"{}", {"Accept": "*/*"})
    assert assert_rejected(api, bad) == "0x02401000"
    signed = sign("POST", "/anything", b"{}", app_key=api.app_key, app_secret=api.app_secret)
    assert api.send(signed).json()["code"] == "8"


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_random_tampering_is_always_rejected(shared_api: Artemis, data: st.DataObject) -> None:
    request = shared_api.build(ORG_LIST, {"pageNo": 1, "pageSize": 3, "orgName": "R"})
    part = data.draw(st.sampled_from(["body", "path", *SIGNED_HEADERS]))
    if part == "body":
        index = data.draw(st.integers(0, len(request.body) - 1))
        flip = data.draw(st.integers(1, 255))
        body = (
            request.body[:index] + bytes([request.body[index] ^ flip]) + request.body[index + 1 :]
        )
        request = SignedRequest(request.method, request.path, body, request.headers)
    elif part == "path":
        index = data.draw(st.integers(1, len(request.path) - 1))
        char = data.draw(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789-_.~"))
        if char == request.path[index]:
            char = "Z"
        path = request.path[:index] + char + request.path[index + 1 :]
        request = SignedRequest(request.method, path, request.body, request.headers)
    else:
        value = request.headers[part]
        index = data.draw(st.integers(0, len(value) - 1))
        char = data.draw(st.characters(min_codepoint=0x21, max_codepoint=0x7E))
        if char == value[index]:
            char = "~" if char != "~" else "!"
        request = request.with_header(part, value[:index] + char + value[index + 1 :])
    assert_rejected(shared_api, request)


def test_auth_failures_can_answer_http_401() -> None:
    with running_simulator(auth_failure_status=401, timestamp_window=2) as sim:
        api = Artemis(sim.base_url, sim.app_key, sim.app_secret)
        try:
            response = api.raw(VERSION, {}, timestamp_ms=int((time.time() - 5) * 1000))
            assert response.status_code == 401
            assert response.json()["code"] == "0x02401003"
            assert api.call(VERSION, {})["code"] == "0"
        finally:
            api.close()
