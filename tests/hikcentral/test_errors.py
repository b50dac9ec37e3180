"""Classification of HCP codes and of transport failures into transient and permanent."""

from __future__ import annotations

import pytest

from hikcentral.errors import (
    HCPAlreadyExists,
    HCPBusy,
    HCPLimitReached,
    HCPNotFound,
    HCPOperationFailed,
    HCPParameterError,
    HCPPermissionDenied,
    HCPProtocolError,
    HCPRateLimited,
    HCPResponseTooLong,
    HCPServerError,
    HCPSignatureRejected,
    HCPTimeout,
    HCPUnsupported,
    PermanentError,
    TransientError,
    error_for_code,
    is_transient,
    normalize_code,
    parameter_field,
)

TRANSIENT = {
    "4": HCPTimeout,
    "5": HCPServerError,
    "6": HCPBusy,
    "0x00052101": HCPBusy,
    "0x00052102": HCPServerError,
    "0x00052103": HCPTimeout,
    "0x00052104": HCPServerError,
    "0x02401009": HCPRateLimited,
    "129": HCPServerError,
    "194": HCPServerError,
}
PERMANENT = {
    "2": HCPParameterError,
    "0x00072001": HCPParameterError,
    "0x00072002": HCPParameterError,
    "0x00072003": HCPParameterError,
    "0x00072004": HCPResponseTooLong,
    "8": HCPUnsupported,
    "17": HCPPermissionDenied,
    "0x02401007": HCPPermissionDenied,
    "128": HCPNotFound,
    "131": HCPAlreadyExists,
    "132": HCPLimitReached,
    "0x02401000": HCPSignatureRejected,
    "0x02401001": HCPSignatureRejected,
    "0x02401003": HCPSignatureRejected,
    "192": HCPOperationFailed,
    "99999": HCPOperationFailed,
}


@pytest.mark.parametrize(("code", "cls"), TRANSIENT.items())
def test_transient_codes(code, cls):
    error = error_for_code(code, "msg", path="/api/x")
    assert type(error) is cls
    assert isinstance(error, TransientError)
    assert error.retryable
    assert error.is_transient
    assert is_transient(error)
    assert (error.code, error.msg, error.path) == (code, "msg", "/api/x")


@pytest.mark.parametrize(("code", "cls"), PERMANENT.items())
def test_permanent_codes(code, cls):
    error = error_for_code(code, "msg", path="/api/x")
    assert type(error) is cls
    assert isinstance(error, PermanentError)
    assert not error.retryable
    assert not is_transient(error)
    assert not error.may_have_applied


def test_hex_codes_in_upper_case_and_numbers():
    assert type(error_for_code("0X02401003", None, path="/api/x")) is HCPSignatureRejected
    assert normalize_code(131) == 131
    assert normalize_code("0x00052101") == 0x00052101
    assert normalize_code("abc") is None
    assert normalize_code(True) is None
    assert type(error_for_code("abc", None, path="/api/x")) is HCPProtocolError


def test_service_errors_may_have_applied():
    assert error_for_code("0x00052103", None, path="/api/x").may_have_applied
    assert not error_for_code("6", None, path="/api/x").may_have_applied


@pytest.mark.parametrize(
    ("msg", "field"),
    [
        ("Incorrect request parameter. [doorIndexCode parameter error]", "doorIndexCode"),
        ("[personCode parameter error]", "personCode"),
        ("Incorrect request parameter. [ faces[0].faceData parameter error ]", "faces[0].faceData"),
        ("Incorrect request parameter.", None),
        (None, None),
    ],
)
def test_parameter_field(msg, field):
    assert parameter_field(msg) == field
    error = error_for_code("2", msg, path="/api/x")
    assert isinstance(error, HCPParameterError)
    assert error.field == field


def test_remain_lock_number_is_carried():
    error = error_for_code("17", "wrong password", path="/api/x", data={"remainLockNumber": 3})
    assert isinstance(error, HCPPermissionDenied)
    assert error.remain_lock_number == 3
    error = error_for_code(
        "2", "[adminPassword parameter error]", path="/api/x", data={"remainLockNumber": "2"}
    )
    assert isinstance(error, HCPParameterError)
    assert error.field == "adminPassword"
    assert error.remain_lock_number == 2
    assert type(error_for_code("65", "locked", path="/api/x")) is HCPPermissionDenied


def test_str_names_path_and_code():
    text = str(error_for_code("131", "exists", path="/api/x"))
    assert "path=/api/x" in text
    assert "code=131" in text
    assert "exists" in text
