"""Fixtures for the event intake: the webhook's settings, pushes shaped as HCP sends them,
and the real HCP simulator (one process per module, reset before each test)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from hcp_simulator.testing import SimulatorHandle, running_simulator
from hikcentral import GRANTED_BY_FACE

TOKEN = "tok3n-for-the-event-tests-0123456789abcdef"
WEBHOOK = f"/hcp/events/{TOKEN}/"


@pytest.fixture
def events_settings(settings: Any) -> Any:
    settings.PROPUSK_HCP_EVENTS_TOKEN = TOKEN
    settings.PROPUSK_HCP_EVENTS_ALLOWED_IPS = []
    settings.PROPUSK_HCP_EVENTS_MAX_BODY_BYTES = 1024 * 1024
    settings.HCP_UTC_OFFSET = "+05:00"
    return settings


def hcp_event(
    *,
    event_id: str | None = None,
    event_type: int = GRANTED_BY_FACE,
    at: str = "2026-03-02T09:15:04+05:00",
    door: str = "1",
    person_code: str = "PV7Q2K9D",
    person_id: str = "17",
    person_name: str = "Айгерим Нурланова",
    direction: int = 1,
    **data: Any,
) -> dict[str, Any]:
    """One event of an OnEventNotify push, as the simulator (and a production receiver's
    HCP) sends it, with the person's name and a card number in it."""
    return {
        "eventId": event_id or uuid.uuid4().hex,
        "eventType": event_type,
        "happenTime": at,
        "srcIndex": door,
        "srcName": f"Turnstile {door}",
        "srcType": "door",
        "status": 0,
        "timeout": 0,
        "data": {
            "deviceTime": at,
            "personId": person_id,
            "personCode": person_code,
            "personName": person_name,
            "personType": "1",
            "cardNo": "0098765432",
            "picUri": "/pic?id=0001",
            "checkInAndOutType": direction,
            "readerIndexCode": f"{door}-entry",
            "readerName": "Entry reader",
            **data,
        },
    }


def push_body(*events: dict[str, Any], send_time: datetime | None = None) -> bytes:
    params: dict[str, Any] = {"ability": "event_acs", "events": list(events)}
    if send_time is not None:
        params["sendTime"] = send_time.isoformat()
    return json.dumps({"method": "OnEventNotify", "params": params}).encode()


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorHandle]:
    with running_simulator(seed_demo=True) as sim:
        yield sim


@pytest.fixture
def site(simulator: SimulatorHandle) -> SimulatorHandle:
    simulator.control.reset()
    return simulator


@pytest.fixture
def hcp_settings(events_settings: Any, site: SimulatorHandle) -> Any:
    settings = events_settings
    settings.HCP_BASE_URL = site.base_url
    settings.HCP_APP_KEY = site.app_key
    settings.HCP_APP_SECRET = site.app_secret
    settings.HCP_CONNECT_TIMEOUT = 2.0
    settings.HCP_READ_TIMEOUT = 5.0
    return settings
