"""Door events: recording simulated passages, searching them, and their wire formats
(door/events records and the OnEventNotify push)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from hcp_simulator.clock import format_hcp_time
from hcp_simulator.devices import PassageDecision
from hcp_simulator.pictures import event_picture
from hcp_simulator.quirks import (
    CARD_EXPIRED,
    DENIED_BY_FACE,
    FACE_RECOGNITION_FAILED,
    GRANTED_BY_FACE,
    INVALID_TIME_PERIOD,
    NO_ACCESS_LEVEL,
)
from hcp_simulator.state import Door, Event, SiteState, new_id, new_pic_uri

DIRECTIONS = {"in": 1, "out": 2}

# The event type of each denial reason, from the names in a production receiver's code
# table (docs/hcp-simulator.md, Events). Which code a real device sends in each situation is
# our reading of those names: a device that does not hold the face cannot recognise it.
DENIAL_EVENT_TYPES = {
    "face_not_matched": FACE_RECOGNITION_FAILED,
    "unknown_person": FACE_RECOGNITION_FAILED,
    "not_applied": FACE_RECOGNITION_FAILED,
    "no_face": FACE_RECOGNITION_FAILED,
    "no_access_level": NO_ACCESS_LEVEL,
    "door_not_in_access_level": DENIED_BY_FACE,
    "not_yet_valid": INVALID_TIME_PERIOD,
    "expired": CARD_EXPIRED,
}


def event_type_for(decision: PassageDecision, *, now: datetime, one_denial_code: int | None) -> int:
    """The event type a passage is reported with."""
    if decision.granted:
        return GRANTED_BY_FACE
    if one_denial_code is not None:
        return one_denial_code
    reason = decision.reason
    if reason == "outside_validity" and decision.record is not None:
        reason = "not_yet_valid" if now < decision.record.begin_time else "expired"
    return DENIAL_EVENT_TYPES[reason]


def record_passage(
    state: SiteState,
    *,
    door: Door,
    decision: PassageDecision,
    direction: str,
    now: datetime,
    one_denial_code: int | None,
    max_events: int,
) -> Event:
    record = decision.record
    state.event_seq += 1
    event = Event(
        seq=state.event_seq,
        event_id=new_id(),
        event_type=event_type_for(decision, now=now, one_denial_code=one_denial_code),
        time=now.replace(microsecond=0),  # HCP keeps whole seconds
        door_code=door.door_index_code,
        door_name=door.door_name,
        check_in_and_out_type=DIRECTIONS.get(direction, 0),
        person_id=(decision.person_id or "") if record else "",
        person_code=record.person_code if record else "",
        person_name=record.person_name if record else "",
        pic_uri=new_pic_uri(),
        granted=decision.granted,
        reason=decision.reason,
    )
    state.add_event(event, max_events=max_events)
    return event


@dataclass(frozen=True)
class EventQuery:
    start: datetime
    end: datetime
    door_codes: frozenset[str]
    event_types: frozenset[int]
    person_ids: frozenset[str] | None = None
    person_codes: frozenset[str] | None = None
    person_name: str | None = None
    ascending: bool = False


def search(state: SiteState, query: EventQuery) -> list[Event]:
    name = query.person_name.lower() if query.person_name else None
    found = [
        event
        for event in state.events
        if query.start <= event.time <= query.end
        and (not query.door_codes or event.door_code in query.door_codes)
        and (not query.event_types or event.event_type in query.event_types)
        and (query.person_ids is None or event.person_id in query.person_ids)
        and (query.person_codes is None or event.person_code in query.person_codes)
        and (name is None or name in event.person_name.lower())
    ]
    found.sort(key=lambda event: (event.time, event.seq), reverse=not query.ascending)
    return found


def _reader(event: Event) -> tuple[str, str]:
    if event.check_in_and_out_type == 2:
        return f"{event.door_code}-exit", "Exit reader"
    return f"{event.door_code}-entry", "Entry reader"


def door_event_record(event: Event, tz: timezone) -> dict[str, Any]:
    """One row of acs/v1/door/events."""
    when = format_hcp_time(event.time, tz)
    return {
        "eventId": event.event_id,
        "eventType": event.event_type,
        "eventTime": when,
        "doorIndexCode": event.door_code,
        "doorName": event.door_name,
        **_person_fields(event, tz),
    }


def _person_fields(event: Event, tz: timezone) -> dict[str, Any]:
    """What door/events rows and the push's `data` share (a production receiver reads these
    names in `data`: docs/hcp-simulator.md, Event push). personType is a string, as in live
    rows."""
    reader_code, reader_name = _reader(event)
    return {
        "deviceTime": format_hcp_time(event.time, tz),
        "personId": event.person_id,
        "personCode": event.person_code,
        "personName": event.person_name,
        "personType": "1" if event.person_id else "0",
        "cardNo": "",
        "picUri": event.pic_uri,
        "checkInAndOutType": event.check_in_and_out_type,
        "temperatureData": "",
        "temperatureStatus": 0,
        "wearMaskStatus": 0,
        "readerIndexCode": reader_code,
        "readerName": reader_name,
    }


def notify_payload(event: Event, tz: timezone, send_time: datetime) -> dict[str, Any]:
    """HCP's OnEventNotify body for one event (docs/hcp-simulator.md, "Event push")."""
    return {
        "method": "OnEventNotify",
        "params": {
            "ability": "event_acs",
            "sendTime": format_hcp_time(send_time, tz),
            "events": [
                {
                    "eventId": event.event_id,
                    "eventType": event.event_type,
                    "happenTime": format_hcp_time(event.time, tz),
                    "srcIndex": event.door_code,
                    "srcName": event.door_name,
                    "srcType": "door",
                    "status": 0,
                    "timeout": 0,
                    "data": _person_fields(event, tz),
                }
            ],
        },
    }


def picture_for(event: Event, tz: timezone) -> bytes:
    caption = (
        event.door_name,
        format_hcp_time(event.time, tz),
        ("GRANTED " if event.granted else "DENIED ") + (event.person_name or "unknown face"),
    )
    return event_picture(event.event_id, caption, event.granted)
