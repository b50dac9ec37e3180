"""Describing an answer's shape without its values (what hcp_check --deep prints)."""

from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import strategies as st

from hikcentral.shapes import describe

MARK = "QZXW"  # in every string value; keys never contain capitals
keys = st.text(alphabet="abcdefghij_", min_size=1, max_size=12)
secret_strings = st.text(max_size=20).map(lambda text: MARK + text)
json_with_secrets = st.recursive(
    st.none() | st.booleans() | st.integers() | secret_strings,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=20,
)


@given(json_with_secrets)
def test_no_string_value_is_ever_printed(value):
    assert MARK not in describe(value)


@given(st.recursive(st.text(), lambda c: st.lists(c) | st.dictionaries(st.text(), c)))
def test_anything_is_described(value):
    assert isinstance(describe(value), str)


def test_a_person_as_a_live_server_answered_it():
    person = {
        "personId": "1",
        "personCode": "V000123",
        "personFamilyName": "Абенова",
        "phoneNo": "+77011234567",
        "beginTime": "2025-03-01T09:00:00+05:00",
        "personPhoto": {"picUri": ""},
    }
    text = describe(person)
    assert text == (
        "{personId: string(digits, 1), personCode: string(7), personFamilyName: string(7), "
        'phoneNo: string(12), beginTime: string(time), personPhoto: {picUri: ""}}'
    )
    for value in ("V000123", "Абенова", "+77011234567"):
        assert value not in text


def test_ids_pages_numbers_and_pictures():
    assert describe("3f2b8c1e9d7a4b6c8e0f1a2b3c4d5e6f") == "string(hex, 32)"
    assert describe({"remainLockNumber": 5}) == "{remainLockNumber: number 5}"
    assert describe("null") == '"null"'
    page = {"total": 2, "list": [{"id": "1", "personCode": "A"}, {"id": "2", "personCode": "B"}]}
    assert (
        describe(page)
        == "{total: number 2, list: list of 2: {id: string(digits, 1), personCode: string(1)}}"
    )
    assert describe([]) == "[]"
    jpeg = b"\xff\xd8\xff\xe0" + bytes(100)
    assert describe(jpeg) == "104 bytes (jpeg image)"
    face = base64.b64encode(jpeg).decode()
    assert face not in describe({"faceData": face})


def test_keys_that_are_not_field_names_are_hidden():
    assert describe({"Иванова Анна": 1, "ok": 2}) == "{<key>: number 1, ok: number 2}"


def test_depth_is_bounded():
    deep: object = "x"
    for _ in range(20):
        deep = {"a": deep}
    assert describe(deep).count("{") <= 6
