"""Envelope parsing: string or numeric code, missing list, plain-string data, totalNum."""

from __future__ import annotations

import json

import pytest

from hikcentral.envelope import data_object, data_page, data_string, parse_envelope
from hikcentral.errors import HCPAlreadyExists, HCPParameterError, HCPProtocolError

PATH = "/api/x"


def body(payload: object) -> bytes:
    return json.dumps(payload).encode()


@pytest.mark.parametrize("code", ["0", 0, "0x00000000"])
def test_success_codes(code):
    assert parse_envelope(body({"code": code, "msg": "Success", "data": {"a": 1}}), path=PATH) == {
        "a": 1
    }


def test_numeric_error_code_is_classified_like_a_string_one():
    with pytest.raises(HCPAlreadyExists) as info:
        parse_envelope(body({"code": 131, "msg": "exists"}), path=PATH)
    assert info.value.code == "131"
    assert info.value.path == PATH


def test_error_without_data():
    with pytest.raises(HCPParameterError) as info:
        parse_envelope(
            body({"code": "2", "msg": "Incorrect request parameter. [personCode parameter error]"}),
            path=PATH,
        )
    assert info.value.field == "personCode"


@pytest.mark.parametrize("raw", [b"<html>oops</html>", b"", b"\xff\xfe", b"[1,2]", b'{"msg":"x"}'])
def test_not_an_envelope(raw):
    with pytest.raises(HCPProtocolError):
        parse_envelope(raw, path=PATH)


def test_missing_data_on_success_is_none():
    assert parse_envelope(body({"code": "0", "msg": "Success"}), path=PATH) is None


@pytest.mark.parametrize("data", [None, "", "null"])
def test_plain_string_data_empty_forms(data):
    assert data_string(data, path=PATH) is None


def test_plain_string_data():
    assert data_string("a1b2", path=PATH) == "a1b2"
    assert data_string(42, path=PATH) == "42"
    with pytest.raises(HCPProtocolError):
        data_string({"personId": "x"}, path=PATH)


def test_page_without_list_is_empty():
    page = data_page({"total": 0, "pageNo": 0, "pageSize": 0}, path=PATH)
    assert page.items == []
    assert page.total == 0


def test_page_with_null_list_is_empty():
    assert data_page({"total": 0, "list": None}, path=PATH).items == []


def test_page_total_num_and_string_numbers():
    page = data_page({"totalNum": "3", "pageNo": "1", "pageSize": 2, "list": [{}, {}]}, path=PATH)
    assert (page.total, page.page_no, page.page_size, len(page.items)) == (3, 1, 2, 2)


def test_page_without_total():
    assert data_page({"list": [{"a": 1}]}, path=PATH).total is None


@pytest.mark.parametrize("data", ["", "null", None])
def test_no_data_is_an_empty_page_without_a_total(data):
    page = data_page(data, path=PATH)
    assert (page.items, page.total) == ([], None)


@pytest.mark.parametrize(
    "data", ["[]", 0, [1], {"list": "x"}, {"list": [1]}, {"total": "many", "list": []}]
)
def test_bad_pages(data):
    with pytest.raises(HCPProtocolError):
        data_page(data, path=PATH)


def test_data_object_refuses_strings():
    with pytest.raises(HCPProtocolError):
        data_object("null", path=PATH)
