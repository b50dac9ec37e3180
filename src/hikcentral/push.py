"""HCP's event push: the body of an ``OnEventNotify`` request, parsed into :class:`DoorEvent`.

HCP POSTs each subscribed event to the subscription's ``eventDest`` (docs/hikcentral.md,
"Event push")::

    {"method": "OnEventNotify",
     "params": {"ability": "event_acs", "sendTime": "...",
                "events": [{"eventId": "...", "eventType": 196893, "happenTime": "...",
                            "srcIndex": "<door>", "srcName": "<door name>", "srcType": "door",
                            "data": {<the door/events row's field names>}}]}}

Parsing is strict about what an event cannot be acted on without - its ``eventId``,
``eventType`` and ``happenTime`` - and lenient about everything else: unknown event types and
unknown fields pass, an optional field of an unexpected shape becomes None (the envelope is
confirmed only for the sister product iSecureCenter; ``data`` carries the door/events names
per a production receiver). One bad event refuses the whole body, so that a receiver never
stores half of a push.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Final

from hikcentral.models import DoorEvent
from hikcentral.timefmt import parse_hcp_time

__all__ = [
    "ACCESS_EVENT_TYPES",
    "CARD_EXPIRED",
    "DENIAL_EVENT_TYPES",
    "DENIED_BY_FACE",
    "FACE_RECOGNITION_FAILED",
    "GRANTED_BY_FACE",
    "INVALID_TIME_PERIOD",
    "NO_ACCESS_LEVEL",
    "PushFormatError",
    "PushedEvents",
    "parse_event_notify",
]

# Access-control event types (a production receiver's code table; docs/hikcentral.md, "What
# the sources do not settle"). Only GRANTED_BY_FACE means the door opened.
GRANTED_BY_FACE: Final = 196893
DENIED_BY_FACE: Final = 197151  # the door is not in the person's access levels
FACE_RECOGNITION_FAILED: Final = 197160  # a face the device does not hold
INVALID_TIME_PERIOD: Final = 197384  # before the person's beginTime
CARD_EXPIRED: Final = 197633  # after the person's endTime
NO_ACCESS_LEVEL: Final = 197635
DENIAL_EVENT_TYPES: Final = frozenset(
    {DENIED_BY_FACE, FACE_RECOGNITION_FAILED, INVALID_TIME_PERIOD, CARD_EXPIRED, NO_ACCESS_LEVEL}
)
ACCESS_EVENT_TYPES: Final = frozenset({GRANTED_BY_FACE, *DENIAL_EVENT_TYPES})

METHOD: Final = "OnEventNotify"


class PushFormatError(ValueError):
    """The body is not an OnEventNotify push we can act on. The message names the field and
    the event's position, never a value (values may be personal data)."""


@dataclass(frozen=True)
class PushedEvents:
    """One push: its ``ability`` (e.g. ``event_acs``), when HCP sent it and its events in the
    order given."""

    ability: str | None
    send_time: datetime | None
    events: tuple[DoorEvent, ...]


def parse_event_notify(body: bytes | str | Mapping[str, Any], *, site_tz: tzinfo) -> PushedEvents:
    """The events of an OnEventNotify body (raw bytes, text or already decoded JSON).

    A time without an offset is taken in ``site_tz`` (HCP's site offset, HCP_UTC_OFFSET).
    Raises :class:`PushFormatError` when the body is not JSON, not an OnEventNotify, or an
    event lacks its eventId, eventType or happenTime.
    """
    raw = _decode(body)
    method = raw.get("method")
    if method != METHOD:
        raise PushFormatError(f"'method' is not {METHOD}")
    params = raw.get("params")
    if not isinstance(params, Mapping):
        raise PushFormatError("'params' is not an object")
    items = params.get("events")
    if not isinstance(items, list):
        raise PushFormatError("'params.events' is not a list")
    events = tuple(_event(item, index, site_tz) for index, item in enumerate(items))
    ability = params.get("ability")
    return PushedEvents(
        ability=ability if isinstance(ability, str) and ability else None,
        send_time=_lenient_time(params.get("sendTime"), site_tz),
        events=events,
    )


def _decode(body: bytes | str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(body, Mapping):
        return body
    try:
        decoded = json.loads(body)
    except RecursionError:  # a few thousand "[": Python's parser recurses per level
        raise PushFormatError("the body is nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise PushFormatError("the body is not JSON") from exc
    if not isinstance(decoded, Mapping):
        raise PushFormatError("the body is not a JSON object")
    return decoded


def _event(item: object, index: int, site_tz: tzinfo) -> DoorEvent:
    where = f"params.events[{index}]"
    if not isinstance(item, Mapping):
        raise PushFormatError(f"{where} is not an object")
    event_id = _text(item.get("eventId"))
    if event_id is None:
        raise PushFormatError(f"{where} lacks 'eventId'")
    event_type = _number(item.get("eventType"))
    if event_type is None:
        raise PushFormatError(f"{where} lacks a numeric 'eventType'")
    happen = item.get("happenTime")
    if not isinstance(happen, str) or not happen:
        raise PushFormatError(f"{where} lacks 'happenTime'")
    try:
        happened_at = parse_hcp_time(happen, default_tz=site_tz)
    except ValueError as exc:
        raise PushFormatError(f"{where}.happenTime is not a time") from exc
    data = item.get("data")
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise PushFormatError(f"{where}.data is not an object")
    return DoorEvent(
        event_id=event_id,
        event_type=event_type,
        event_time=happened_at,
        # The event's source is the door for access-control events; data may name it too.
        door_index_code=_text(data.get("doorIndexCode")) or _text(item.get("srcIndex")),
        person_id=_text(data.get("personId")),
        person_code=_text(data.get("personCode")),
        direction=_number(data.get("checkInAndOutType")) or 0,
        pic_uri=_text(data.get("picUri")),
        device_time=_lenient_time(data.get("deviceTime"), site_tz),
        door_name=_text(data.get("doorName")) or _text(item.get("srcName")),
        person_type=_number(data.get("personType")),
        reader_index_code=_text(data.get("readerIndexCode")),
        reader_name=_text(data.get("readerName")),
        temperature_data=_text(data.get("temperatureData")),
        temperature_status=_number(data.get("temperatureStatus")),
        wear_mask_status=_number(data.get("wearMaskStatus")),
        person_name=_text(data.get("personName")),
        card_no=_text(data.get("cardNo")),
    )


def _text(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip() not in ("", "null"):
        return value
    return None


def _number(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _lenient_time(value: object, site_tz: tzinfo) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_hcp_time(value, default_tz=site_tz)
    except ValueError:
        return None
