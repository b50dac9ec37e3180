"""person/single/add answering success in a shape other than the documented plain personId.

The simulator answers like HCP's guide and a live server (a plain string); the odd shapes are
given to the answer's parser directly. Everything else about person add is in the contract
suite.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hikcentral import HCPProtocolError
from hikcentral.client import added_person_id


@pytest.mark.parametrize("data", ["", "null", None, " ", {"personId": "p1"}, ["p1"], True, 1.5])
def test_success_without_a_plain_person_id_may_have_applied(data: Any) -> None:
    """HCP said success, so the person exists: the error must send the caller to look it up
    by personCode (may_have_applied), whatever the shape of the answer."""
    with pytest.raises(HCPProtocolError) as info:
        added_person_id(data)
    assert info.value.may_have_applied
    assert "personCode" in str(info.value)


@given(
    st.one_of(
        st.integers(min_value=1).map(str),  # "1", as a live server answered
        st.uuids().map(lambda u: u.hex),  # a GUID, as older notes describe
    )
)
def test_a_plain_id_is_taken_as_it_is(person_id: str) -> None:
    assert added_person_id(person_id) == person_id


def test_a_numeric_id_is_taken_as_its_digits() -> None:
    assert added_person_id(17) == "17"
