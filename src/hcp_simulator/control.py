"""The control API under /simulator/v1: a test harness, unsigned, plain JSON.

Disabled with --no-control-api (its paths then fall through to the gateway and fail the
signature check like any unknown call). Errors answer HTTP 400/404 with `{"error": "..."}`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hcp_simulator import devices
from hcp_simulator.clock import format_hcp_time, parse_iso
from hcp_simulator.events import DIRECTIONS, door_event_record, record_passage
from hcp_simulator.simulator import Simulator
from hcp_simulator.state import AccessLevel, DeviceRecord, Door, Org

CONTROL_PREFIX = "/simulator/"
PREFIX = "/simulator/v1"

log = logging.getLogger("hcp_simulator.control")


class ControlError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _sim(request: Request) -> Simulator:
    sim: Simulator = request.app.state.sim
    sim.catch_up()
    return sim


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ControlError("the body is not valid JSON") from exc


def _items(body: Any) -> list[dict[str, Any]]:
    """Seeding endpoints take one object or a list of objects."""
    items = body if isinstance(body, list) else [body]
    if not all(isinstance(item, dict) for item in items):
        raise ControlError("expected a JSON object or a list of objects")
    return items


def _text(item: dict[str, Any], name: str, default: str | None = None) -> str:
    value = item.get(name, default)
    if not isinstance(value, str) or not value:
        raise ControlError(f"{name} is required (a non-empty string)")
    return value


Handler = Callable[[Request], Awaitable[Any]]


def _route(path: str, handler: Handler, methods: list[str]) -> Route:
    async def endpoint(request: Request) -> Response:
        try:
            result = await handler(request)
        except ControlError as error:
            return JSONResponse({"error": str(error)}, status_code=error.status)
        return JSONResponse(result)

    return Route(PREFIX + path, endpoint, methods=methods)


def control_routes() -> list[Route]:
    return [
        _route("/health", health, ["GET"]),
        _route("/orgs", add_orgs, ["POST"]),
        _route("/doors", add_doors, ["POST"]),
        _route("/access-levels", add_access_levels, ["POST"]),
        _route("/passages", passage, ["POST"]),
        _route("/persons/{person_code}/face", remove_face, ["DELETE"]),
        _route("/state", read_state, ["GET"]),
        _route("/faults", list_faults, ["GET"]),
        _route("/faults", add_faults, ["POST"]),
        _route("/faults", clear_faults, ["DELETE"]),
        _route("/clock", read_clock, ["GET"]),
        _route("/clock", move_clock, ["POST"]),
        _route("/reset", reset, ["POST"]),
        _route("/push/retry", retry_push, ["POST"]),
        _route("/quirks", read_quirks, ["GET"]),
        _route("/quirks", set_quirks, ["PUT", "POST"]),
    ]


async def health(request: Request) -> Any:
    sim = _sim(request)
    return {"status": "ok", "now": format_hcp_time(sim.now(), sim.config.utc_offset)}


async def add_orgs(request: Request) -> Any:
    sim = _sim(request)
    created = []
    for item in _items(await _body(request)):
        code = _text(item, "orgIndexCode")
        parent = _text(item, "parentOrgIndexCode", "1")
        if parent not in sim.state.orgs and parent != code:
            raise ControlError(f"unknown parentOrgIndexCode {parent!r}")
        sim.state.orgs[code] = Org(code, _text(item, "orgName"), parent)
        created.append(code)
    sim.mark_dirty()
    return {"orgIndexCodes": created}


async def add_doors(request: Request) -> Any:
    sim = _sim(request)
    created = []
    for item in _items(await _body(request)):
        code = _text(item, "doorIndexCode")
        door = Door(
            door_index_code=code,
            door_name=_text(item, "doorName"),
            acs_dev_index_code=_text(item, "acsDevIndexCode", code),
            region_index_code=_text(item, "regionIndexCode", "1"),
        )
        sim.state.upsert_door(door)
        created.append(code)
    sim.mark_dirty()
    return {"doorIndexCodes": created}


async def add_access_levels(request: Request) -> Any:
    """Create or replace levels; members are kept when a level is replaced."""
    sim = _sim(request)
    created = []
    for item in _items(await _body(request)):
        level_id = _text(item, "privilegeGroupId")
        doors = item.get("doorIndexCodes", [])
        if not isinstance(doors, list) or not all(isinstance(d, str) for d in doors):
            raise ControlError("doorIndexCodes must be a list of door codes")
        unknown = [d for d in doors if d not in sim.state.doors]
        if unknown:
            raise ControlError(f"unknown doors: {', '.join(unknown)}")
        level_type = item.get("type", 1)
        if level_type not in (1, 2):
            raise ControlError("type must be 1 (access control) or 2 (visitor)")
        description = item.get("description", "")
        if not isinstance(description, str):
            raise ControlError("description must be a string")
        previous = sim.state.levels.get(level_id)
        sim.state.levels[level_id] = AccessLevel(
            level_id=level_id,
            name=_text(item, "privilegeGroupName"),
            type=level_type,
            description=description,
            door_codes=list(doors),
            members=previous.members if previous else {},
        )
        created.append(level_id)
    sim.mark_dirty()
    return {"privilegeGroupIds": created}


async def remove_face(request: Request) -> Any:
    """Someone removes a person's face by hand in HCP's client (HCP's OpenAPI has no such
    call). The devices keep the old face until the change is applied."""
    sim = _sim(request)
    code = request.path_params["person_code"]
    person = sim.state.person_by_code(code)
    if person is None:
        raise ControlError(f"no person with personCode {code!r}", status=404)
    person.face = None
    sim.mark_dirty()
    return {"personCode": code, "hasFace": False}


async def passage(request: Request) -> Any:
    """Someone presents a face at a door: {personCode | personId | faceData | unknownFace,
    doorIndexCode, direction, time?}. Decided on the door's applied state at simulator time,
    or at `time` (ISO 8601 with offset) to back-date an event without moving the clock."""
    sim = _sim(request)
    body = await _body(request)
    if not isinstance(body, dict):
        raise ControlError("expected a JSON object")
    door = sim.state.doors.get(_text(body, "doorIndexCode"))
    if door is None:
        raise ControlError("unknown doorIndexCode", 404)
    direction = body.get("direction", "in")
    if direction not in DIRECTIONS:
        raise ControlError('direction must be "in" or "out"')
    person_id: str | None = None
    face_digest: str | None = None
    if body.get("unknownFace"):
        face_digest = "unknown face"
    elif isinstance(body.get("faceData"), str):
        try:
            face_digest = hashlib.sha256(base64.b64decode(body["faceData"])).hexdigest()
        except (binascii.Error, ValueError) as exc:
            raise ControlError("faceData must be base64") from exc
    elif isinstance(body.get("personId"), str):
        person_id = body["personId"]
    elif isinstance(body.get("personCode"), str):
        person_id = devices.find_person_on_devices(sim.state, body["personCode"])
    else:
        raise ControlError("give personCode, personId, faceData or unknownFace: true")
    now = sim.now()
    if body.get("time") is not None:
        try:
            now = parse_iso(str(body["time"]))
        except ValueError as exc:
            raise ControlError(f"time: {exc}") from exc
    decision = devices.decide_passage(
        sim.state, door=door.door_index_code, person_id=person_id, face_digest=face_digest, now=now
    )
    event = record_passage(
        sim.state,
        door=door,
        decision=decision,
        direction=direction,
        now=now,
        one_denial_code=sim.quirks.denial_event_type,
        max_events=sim.config.max_events,
    )
    sim.push.publish(event)
    sim.mark_dirty()
    log.info("passage at door %s: %s", door.door_index_code, decision.reason)
    return {
        "granted": decision.granted,
        "reason": decision.reason,
        "eventId": event.event_id,
        "eventType": event.event_type,
        "personId": event.person_id,
        "picUri": event.pic_uri,
        "eventTime": format_hcp_time(now, sim.config.utc_offset),
    }


def _record_json(sim: Simulator, record: DeviceRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    tz = sim.config.utc_offset
    return {
        "personCode": record.person_code,
        "personName": record.person_name,
        "hasFace": record.has_face,
        "beginTime": format_hcp_time(record.begin_time, tz),
        "endTime": format_hcp_time(record.end_time, tz),
        "accessLevels": list(record.level_ids),
    }


async def read_state(request: Request) -> Any:
    sim = _sim(request)
    state = sim.state
    tz = sim.config.utc_offset
    sim.push.expire()
    statuses = devices.pair_statuses(state)
    offline = sim.faults.offline_doors()
    per_person: dict[str, dict[str, Any]] = {}
    for (person_id, door), status in statuses.items():
        per_person.setdefault(person_id, {})[door] = {
            "status": status.status,
            "desired": _record_json(sim, status.desired),
            "applied": _record_json(sim, status.applied),
        }
    persons = []
    for person in state.persons.values():
        persons.append(
            {
                "personId": person.person_id,
                "personCode": person.person_code,
                "personName": person.person_name,
                "orgIndexCode": person.org_index_code,
                "hasFace": person.face is not None,
                "beginTime": format_hcp_time(person.begin_time, tz),
                "endTime": format_hcp_time(person.end_time, tz),
                "accessLevels": [level.level_id for level in state.levels_of(person.person_id)],
                "doors": per_person.pop(person.person_id, {}),
                "deleted": False,
            }
        )
    for person_id, doors in per_person.items():  # deleted, still on some devices
        persons.append({"personId": person_id, "deleted": True, "doors": doors})
    return {
        "now": format_hcp_time(sim.now(), tz),
        "clockOffsetSeconds": sim.clock.offset_seconds,
        "orgs": [
            {
                "orgIndexCode": org.org_index_code,
                "orgName": org.org_name,
                "parentOrgIndexCode": org.parent_org_index_code,
            }
            for org in state.orgs.values()
        ],
        "doors": [
            {
                "doorIndexCode": door.door_index_code,
                "doorName": door.door_name,
                "acsDevIndexCode": door.acs_dev_index_code,
                "offline": door.door_index_code in offline,
            }
            for door in state.doors.values()
        ],
        "accessLevels": [
            {
                "privilegeGroupId": level.level_id,
                "privilegeGroupName": level.name,
                "type": level.type,
                "doorIndexCodes": level.door_codes,
                "personIds": list(level.members),
            }
            for level in state.levels.values()
        ],
        "persons": persons,
        "pendingApplications": [
            {
                "due": format_hcp_time(job.due, tz),
                "personIds": job.person_ids,
                "doorIndexCodes": job.door_codes,
            }
            for job in state.pending
        ],
        "applicationFailures": [
            {"personId": pid, "doorIndexCode": door, "reason": failure.reason}
            for (pid, door), failure in devices.failed_pairs(state)
        ],
        "events": [
            {**door_event_record(e, tz), "granted": e.granted, "reason": e.reason}
            for e in state.events
        ],
        "subscriptions": [
            {"eventDest": s.event_dest, "eventTypes": s.event_types, "passBack": s.pass_back}
            for s in state.subscriptions.values()
        ],
        "push": sim.push.status(),
        "faults": sim.faults.to_json(),
        "quirks": sim.quirks.to_json(),
    }


async def list_faults(request: Request) -> Any:
    return _sim(request).faults.to_json()


async def add_faults(request: Request) -> Any:
    sim = _sim(request)
    body = await _body(request)
    specs = body.get("rules") if isinstance(body, dict) and "rules" in body else body
    added = []
    for spec in _items(specs):
        try:
            added.append(sim.faults.add(spec).to_json())
        except ValueError as exc:
            raise ControlError(str(exc)) from exc
    log.info("faults added: %s", ", ".join(f"{a['kind']} on {a['path']}" for a in added))
    return {"added": added, **sim.faults.to_json()}


async def clear_faults(request: Request) -> Any:
    sim = _sim(request)
    sim.faults.clear()
    log.info("faults cleared")
    return sim.faults.to_json()


async def read_clock(request: Request) -> Any:
    sim = _sim(request)
    return {
        "now": format_hcp_time(sim.now(), sim.config.utc_offset),
        "offsetSeconds": sim.clock.offset_seconds,
    }


async def move_clock(request: Request) -> Any:
    """{advanceSeconds: n} or {set: "2025-01-01T09:00:00+05:00"}."""
    sim = _sim(request)
    body = await _body(request)
    if not isinstance(body, dict):
        raise ControlError("expected a JSON object")
    if "advanceSeconds" in body:
        seconds = body["advanceSeconds"]
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise ControlError("advanceSeconds must be a number")
        sim.clock.advance(float(seconds))
    elif "set" in body:
        try:
            sim.clock.set(parse_iso(str(body["set"])))
        except ValueError as exc:
            raise ControlError(f"set: {exc}") from exc
    else:
        raise ControlError("give advanceSeconds or set")
    sim.catch_up()
    sim.push.expire()
    sim.mark_dirty()
    log.info("clock moved to %s", format_hcp_time(sim.now(), sim.config.utc_offset))
    return await read_clock(request)


async def reset(request: Request) -> Any:
    """Back to a fresh site (root org; demo doors and levels if seedDemo, which defaults to
    the --seed-demo option). Clears events, subscriptions, push queues, faults and clock."""
    sim: Simulator = request.app.state.sim
    body = await _body(request)
    seed_demo = body.get("seedDemo") if isinstance(body, dict) else None
    if seed_demo is not None and not isinstance(seed_demo, bool):
        raise ControlError("seedDemo must be a boolean")
    sim.reset(seed_demo=seed_demo)
    log.info("site reset")
    return {"status": "reset", "seedDemo": seed_demo}


async def retry_push(request: Request) -> Any:
    sim = _sim(request)
    return {"buffered": sim.push.retry_now()}


async def read_quirks(request: Request) -> Any:
    return _sim(request).quirks.to_json()


async def set_quirks(request: Request) -> Any:
    """Change switchable behaviours (quirks.py): any of the keys `GET /quirks` answers, and
    `preset` ("default", "off" or "on") applied first. Omitted keys are unchanged; `reset`
    restores the command-line values. A bad key or value changes nothing."""
    sim = _sim(request)
    body = await _body(request)
    if not isinstance(body, dict):
        raise ControlError("expected a JSON object")
    try:
        sim.quirks = sim.quirks.updated(body)
    except ValueError as exc:
        raise ControlError(str(exc)) from exc
    log.info("quirks changed: %s", ", ".join(sorted(body)))
    return sim.quirks.to_json()
