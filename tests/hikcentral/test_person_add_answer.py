"""person/single/add answering success in a shape other than the documented plain personId.

The simulator answers like HCP's guide (a plain string), so the odd shapes are given by an
httpx.MockTransport here; everything else about person add is in the contract suite.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from hikcentral import HCPProtocolError, HikCentralClient, HikCentralConfig, PersonInput

PERSON = PersonInput(
    person_code="V000123",
    org_index_code="1",
    family_name="Ivanova",
    given_name="Anna",
    begin_time=datetime(2025, 3, 1, 9, 0, tzinfo=UTC),
    end_time=datetime(2025, 3, 1, 18, 0, tzinfo=UTC),
)


def client_answering(data: Any) -> HikCentralClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"code": "0", "msg": "Success", "data": data})

    config = HikCentralConfig(
        base_url="https://hcp.example:8443",
        app_key="key",
        app_secret="secret",
        utc_offset=timedelta(hours=5),
    )
    return HikCentralClient(config, http_transport=httpx.MockTransport(handler))


@pytest.mark.parametrize("data", ["", "null", None, {"personId": "p1"}, ["p1"]])
def test_success_without_a_plain_person_id_may_have_applied(data: Any) -> None:
    """HCP said success, so the person exists: the error must send the caller to look it up
    by personCode (may_have_applied), whatever the shape of the answer."""
    with client_answering(data) as client, pytest.raises(HCPProtocolError) as info:
        client.add_person(PERSON)
    assert info.value.may_have_applied
    assert "personCode" in str(info.value)
