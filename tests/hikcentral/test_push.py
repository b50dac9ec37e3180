"""The OnEventNotify parser (hikcentral.push): strict about eventId, eventType and the time,
lenient about everything else."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from hikcentral import (
    ACCESS_EVENT_TYPES,
    GRANTED_BY_FACE,
    PushFormatError,
    parse_event_notify,
)

SITE = timezone(timedelta(hours=5))


def _event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventId": "b6a1c0de-0001",
        "eventType": 196893,
        "happenTime": "2026-03-02T09:15:04+05:00",
        "srcIndex": "1",
        "srcName": "Main entrance turnstile 1",
        "srcType": "door",
        "status": 0,
        "timeout": 0,
        "data": {
            "deviceTime": "2026-03-02T09:15:04+05:00",
            "personId": "17",
            "personCode": "PV7Q2K9D",
            "personName": "Айгерим Нурланова",
            "personType": "1",
            "cardNo": "0012345678",
            "picUri": "/pic?id=abc",
            "checkInAndOutType": 1,
            "temperatureData": "",
            "temperatureStatus": 0,
            "wearMaskStatus": 0,
            "readerIndexCode": "1-entry",
            "readerName": "Entry reader",
        },
    }
    event.update(overrides)
    return event


def _body(*events: dict[str, Any], **params: Any) -> dict[str, Any]:
    return {
        "method": "OnEventNotify",
        "params": {
            "ability": "event_acs",
            "sendTime": "2026-03-02T09:15:05+05:00",
            "events": list(events),
            **params,
        },
    }


def test_a_simulator_shaped_push_becomes_door_events() -> None:
    pushed = parse_event_notify(json.dumps(_body(_event())).encode(), site_tz=SITE)

    assert pushed.ability == "event_acs"
    assert pushed.send_time == datetime(2026, 3, 2, 4, 15, 5, tzinfo=UTC)
    (event,) = pushed.events
    assert event.event_id == "b6a1c0de-0001"
    assert event.event_type == GRANTED_BY_FACE
    assert event.event_time == datetime(2026, 3, 2, 4, 15, 4, tzinfo=UTC)
    assert event.door_index_code == "1"
    assert event.door_name == "Main entrance turnstile 1"
    assert (event.person_id, event.person_code) == ("17", "PV7Q2K9D")
    assert event.direction == 1
    assert event.pic_uri == "/pic?id=abc"
    assert event.reader_index_code == "1-entry"
    assert event.person_type == 1
    # Personal data is parsed (the caller decides to drop it) but never shown by repr.
    assert event.person_name == "Айгерим Нурланова"
    assert "Айгерим" not in repr(event)
    assert "0012345678" not in repr(event)


def test_several_events_keep_their_order_and_text_bodies_parse() -> None:
    body = _body(
        _event(eventId="e1"),
        _event(eventId="e2", eventType="197160", data={"checkInAndOutType": "2"}),
    )
    pushed = parse_event_notify(json.dumps(body), site_tz=SITE)

    assert [e.event_id for e in pushed.events] == ["e1", "e2"]
    assert pushed.events[1].event_type == 197160
    assert pushed.events[1].direction == 2
    assert pushed.events[1].person_code is None


def test_unknown_types_and_fields_pass() -> None:
    body = _body(
        _event(eventType=131329, srcType="alarmInput", somethingNew={"nested": [1, 2]}),
        extraParam="x",
    )
    body["version"] = "2.0"
    (event,) = parse_event_notify(body, site_tz=SITE).events

    assert event.event_type == 131329
    assert event.event_type not in ACCESS_EVENT_TYPES


def test_a_time_without_offset_is_in_the_site_offset() -> None:
    (event,) = parse_event_notify(
        _body(_event(happenTime="2026-03-02T09:15:04")), site_tz=SITE
    ).events
    assert event.event_time == datetime(2026, 3, 2, 4, 15, 4, tzinfo=UTC)


def test_odd_optional_fields_become_none() -> None:
    data = {"checkInAndOutType": "sideways", "personId": None, "personCode": "", "deviceTime": "?"}
    (event,) = parse_event_notify(_body(_event(data=data, srcName=None)), site_tz=SITE).events

    assert event.direction == 0
    assert event.person_id is None
    assert event.person_code is None
    assert event.device_time is None
    assert event.door_name is None


def test_data_may_name_the_door_itself() -> None:
    (event,) = parse_event_notify(
        _body(_event(data={"doorIndexCode": "7", "doorName": "Gate 7"})), site_tz=SITE
    ).events
    assert (event.door_index_code, event.door_name) == ("7", "Gate 7")


def test_an_empty_event_list_is_a_valid_push() -> None:
    assert parse_event_notify(_body(), site_tz=SITE).events == ()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (json.dumps({"method": "OnSomethingElse", "params": {"events": []}}), "method"),
        (json.dumps({"params": {"events": []}}), "method"),
        (json.dumps({"method": "OnEventNotify", "params": []}), "'params'"),
        (json.dumps({"method": "OnEventNotify", "params": {}}), "params.events"),
        (json.dumps(_body("not an event")), "params.events[0] is not an object"),
    ],
)
def test_malformed_bodies_are_refused(body: bytes | str, message: str) -> None:
    with pytest.raises(PushFormatError, match=re.escape(message)):
        parse_event_notify(body, site_tz=SITE)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"eventId": None}, "eventId"),
        ({"eventId": ""}, "eventId"),
        ({"eventType": None}, "eventType"),
        ({"eventType": "granted"}, "eventType"),
        ({"eventType": True}, "eventType"),
        ({"happenTime": None}, "happenTime"),
        ({"happenTime": "yesterday"}, "happenTime"),
        ({"data": "personName=Ерлан Сейткали"}, "data"),
    ],
)
def test_one_event_missing_what_matters_refuses_the_whole_push(
    overrides: dict[str, Any], field: str
) -> None:
    body = _body(_event(eventId="fine"), _event(**overrides))
    with pytest.raises(PushFormatError, match=rf"params\.events\[1\].*{field}") as caught:
        parse_event_notify(body, site_tz=SITE)
    # The message names the field, never a value (values may be personal data).
    assert "Сейткали" not in str(caught.value)
    assert "yesterday" not in str(caught.value)


def test_a_missing_key_is_refused_like_an_empty_one() -> None:
    event = _event()
    del event["happenTime"]
    with pytest.raises(PushFormatError, match="happenTime"):
        parse_event_notify(_body(event), site_tz=SITE)
