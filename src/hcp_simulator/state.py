"""The simulated site: organisations, doors, access levels, persons, what each door's device
holds (the applied state), application bookkeeping, events and subscriptions.

Pure data plus snapshot (de)serialisation; behaviour lives in devices.py, events.py and
handlers.py. Everything runs on the server's event loop, so there is no locking.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

ROOT_ORG = "1"
ROOT_PARENT = "0"


def new_id() -> str:
    """A GUID without dashes (event ids; person ids unless they are numeric, see quirks)."""
    return uuid.uuid4().hex


def new_pic_uri() -> str:
    """Opaque picture URIs, so clients cannot build them from ids."""
    return "/pic?" + secrets.token_hex(12)


@dataclass
class Org:
    org_index_code: str
    org_name: str
    parent_org_index_code: str


@dataclass
class Door:
    door_index_code: str
    door_name: str
    acs_dev_index_code: str
    region_index_code: str = "1"
    door_state: int = 1


@dataclass
class AccessLevel:
    level_id: str
    name: str
    type: int
    description: str = ""
    door_codes: list[str] = field(default_factory=list)
    # Insertion-ordered set of personIds.
    members: dict[str, None] = field(default_factory=dict)


@dataclass(frozen=True)
class Face:
    jpeg: bytes
    pic_uri: str

    @cached_property
    def digest(self) -> str:
        """Stands in for the face template a device matches against (worked out once: every
        application compares the records of every person it touches)."""
        return hashlib.sha256(self.jpeg).hexdigest()


@dataclass
class Person:
    person_id: str
    person_code: str
    family_name: str
    given_name: str
    gender: int
    org_index_code: str
    phone_no: str
    email: str
    remark: str
    cards: list[str]
    begin_time: datetime
    end_time: datetime
    face: Face | None = None

    @property
    def person_name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip()


@dataclass(frozen=True)
class DeviceRecord:
    """What a door's device holds about one person: the unit of application."""

    person_code: str
    person_name: str
    face_digest: str | None
    begin_time: datetime
    end_time: datetime
    level_ids: tuple[str, ...]

    @property
    def has_face(self) -> bool:
        return self.face_digest is not None


@dataclass
class PendingApplication:
    """A reapplication call waiting for its delay; None selects everything."""

    due: datetime
    person_ids: tuple[str, ...] | None
    door_codes: tuple[str, ...] | None
    skip_failed: bool


@dataclass
class ApplicationFailure:
    time: datetime
    reason: str


@dataclass
class Event:
    seq: int
    event_id: str
    event_type: int
    time: datetime
    door_code: str
    door_name: str
    check_in_and_out_type: int  # 1 in, 2 out, 0 unknown
    person_id: str
    person_code: str
    person_name: str
    pic_uri: str
    granted: bool
    reason: str


@dataclass
class Subscription:
    event_dest: str
    token: str
    pass_back: int
    event_types: list[int]


@dataclass
class SiteState:
    orgs: dict[str, Org] = field(default_factory=dict)
    doors: dict[str, Door] = field(default_factory=dict)
    levels: dict[str, AccessLevel] = field(default_factory=dict)
    persons: dict[str, Person] = field(default_factory=dict)
    person_codes: dict[str, str] = field(default_factory=dict)
    # door code -> personId -> record: the only thing a turnstile decides on.
    applied: dict[str, dict[str, DeviceRecord]] = field(default_factory=dict)
    failures: dict[tuple[str, str], ApplicationFailure] = field(default_factory=dict)
    pending: list[PendingApplication] = field(default_factory=list)
    # (personId, door) pairs whose removal a device applied (elementDownloadDetail lists them
    # as applied); forgotten when the pair is applied again.
    dropped: set[tuple[str, str]] = field(default_factory=set)
    events: list[Event] = field(default_factory=list)
    event_seq: int = 0
    # Last short numeric personId handed out (never reused, like a database sequence).
    person_seq: int = 0
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    clock_offset: float = 0.0
    # Derived index, rebuilt on load.
    events_by_pic: dict[str, Event] = field(default_factory=dict, repr=False)

    @classmethod
    def fresh(cls, *, seed_demo: bool) -> SiteState:
        state = cls()
        state.orgs[ROOT_ORG] = Org(ROOT_ORG, "Root", ROOT_PARENT)
        if seed_demo:
            seed_demo_site(state)
        return state

    # Look-ups used by several modules.
    def person_by_code(self, person_code: str) -> Person | None:
        person_id = self.person_codes.get(person_code)
        return self.persons.get(person_id) if person_id else None

    def levels_of(self, person_id: str) -> list[AccessLevel]:
        return [level for level in self.levels.values() if person_id in level.members]

    def new_person_id(self, *, numeric: bool) -> str:
        """A personId: the next short number ("1", "2", ...) or a GUID."""
        if not numeric:
            return new_id()
        self.person_seq += 1
        while str(self.person_seq) in self.persons:
            self.person_seq += 1
        return str(self.person_seq)

    def add_person(self, person: Person) -> None:
        self.persons[person.person_id] = person
        self.person_codes[person.person_code] = person.person_id

    def remove_person(self, person: Person) -> None:
        del self.persons[person.person_id]
        self.person_codes.pop(person.person_code, None)
        for level in self.levels.values():
            level.members.pop(person.person_id, None)

    def add_event(self, event: Event, *, max_events: int) -> None:
        self.events.append(event)
        self.events_by_pic[event.pic_uri] = event
        if len(self.events) > max_events:
            dropped = self.events[: len(self.events) - max_events]
            del self.events[: len(dropped)]
            for old in dropped:
                self.events_by_pic.pop(old.pic_uri, None)

    def ensure_orgs(self, names: tuple[str, ...]) -> None:
        """Add an organisation under the root for each name no organisation has yet."""
        for name in names:
            if any(org.org_name == name for org in self.orgs.values()):
                continue
            codes = [int(code) for code in self.orgs if code.isdigit()]
            code = str(max(codes, default=0) + 1)
            self.orgs[code] = Org(code, name, ROOT_ORG)

    def upsert_door(self, door: Door) -> None:
        self.doors[door.door_index_code] = door
        self.applied.setdefault(door.door_index_code, {})

    # Snapshot (the --state-file format). Times are ISO 8601 with offsets.
    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "clockOffset": self.clock_offset,
            "orgs": [vars(org) for org in self.orgs.values()],
            "doors": [vars(door) for door in self.doors.values()],
            "levels": [
                {**vars(level), "members": list(level.members)} for level in self.levels.values()
            ],
            "persons": [_person_to_json(person) for person in self.persons.values()],
            "applied": {
                door: {pid: _record_to_json(rec) for pid, rec in records.items()}
                for door, records in self.applied.items()
            },
            "failures": [
                {"personId": pid, "door": door, "time": f.time.isoformat(), "reason": f.reason}
                for (pid, door), f in self.failures.items()
            ],
            "pending": [
                {
                    "due": p.due.isoformat(),
                    "personIds": p.person_ids,
                    "doorCodes": p.door_codes,
                    "skipFailed": p.skip_failed,
                }
                for p in self.pending
            ],
            "dropped": [list(pair) for pair in sorted(self.dropped)],
            "events": [{**vars(e), "time": e.time.isoformat()} for e in self.events],
            "eventSeq": self.event_seq,
            "personSeq": self.person_seq,
            "subscriptions": [vars(sub) for sub in self.subscriptions.values()],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SiteState:
        if data.get("version") != 1:
            raise ValueError("unsupported state file version")
        state = cls(clock_offset=float(data.get("clockOffset", 0.0)))
        for item in data["orgs"]:
            state.orgs[item["org_index_code"]] = Org(**item)
        for item in data["doors"]:
            state.upsert_door(Door(**item))
        for item in data["levels"]:
            members = dict.fromkeys(item.pop("members"))
            state.levels[item["level_id"]] = AccessLevel(**item, members=members)
        for item in data["persons"]:
            state.add_person(_person_from_json(item))
        for door, records in data["applied"].items():
            state.applied.setdefault(door, {}).update(
                {pid: _record_from_json(rec) for pid, rec in records.items()}
            )
        for item in data["failures"]:
            state.failures[(item["personId"], item["door"])] = ApplicationFailure(
                datetime.fromisoformat(item["time"]), item["reason"]
            )
        state.dropped = {(pid, door) for pid, door in data.get("dropped", [])}
        for item in data["pending"]:
            state.pending.append(
                PendingApplication(
                    due=datetime.fromisoformat(item["due"]),
                    person_ids=_tuple_or_none(item["personIds"]),
                    door_codes=_tuple_or_none(item["doorCodes"]),
                    skip_failed=item["skipFailed"],
                )
            )
        for item in data["events"]:
            event = Event(**{**item, "time": datetime.fromisoformat(item["time"])})
            state.events.append(event)
            state.events_by_pic[event.pic_uri] = event
        state.event_seq = int(data.get("eventSeq", len(state.events)))
        state.person_seq = int(data.get("personSeq", 0))
        for item in data["subscriptions"]:
            state.subscriptions[item["event_dest"]] = Subscription(**item)
        return state


def seed_demo_site(state: SiteState) -> None:
    """The demo site `make run` uses; the Django demo data maps guest/VIP/student to 1/2/3."""
    for code, name in (
        ("1", "Main entrance turnstile 1"),
        ("2", "Main entrance turnstile 2"),
        ("3", "Library gate"),
        ("4", "Administration floor"),
    ):
        state.upsert_door(Door(code, name, acs_dev_index_code=code))
    for level_id, name, doors in (
        ("1", "Guests", ["1", "2"]),
        ("2", "VIP guests", ["1", "2", "3", "4"]),
        ("3", "Students", ["1", "2", "3"]),
    ):
        state.levels[level_id] = AccessLevel(level_id, name, type=1, door_codes=doors)


def _tuple_or_none(value: list[str] | None) -> tuple[str, ...] | None:
    return tuple(value) if value is not None else None


def _person_to_json(person: Person) -> dict[str, Any]:
    data = {
        **vars(person),
        "begin_time": person.begin_time.isoformat(),
        "end_time": person.end_time.isoformat(),
        "face": None,
    }
    if person.face is not None:
        data["face"] = {
            "jpeg": base64.b64encode(person.face.jpeg).decode(),
            "pic_uri": person.face.pic_uri,
        }
    return data


def _person_from_json(data: dict[str, Any]) -> Person:
    face = data.pop("face")
    return Person(
        **{
            **data,
            "begin_time": datetime.fromisoformat(data["begin_time"]),
            "end_time": datetime.fromisoformat(data["end_time"]),
        },
        face=Face(base64.b64decode(face["jpeg"]), face["pic_uri"]) if face else None,
    )


def _record_to_json(record: DeviceRecord) -> dict[str, Any]:
    return {
        **vars(record),
        "begin_time": record.begin_time.isoformat(),
        "end_time": record.end_time.isoformat(),
        "level_ids": list(record.level_ids),
    }


def _record_from_json(data: dict[str, Any]) -> DeviceRecord:
    return DeviceRecord(
        **{
            **data,
            "begin_time": datetime.fromisoformat(data["begin_time"]),
            "end_time": datetime.fromisoformat(data["end_time"]),
            "level_ids": tuple(data["level_ids"]),
        }
    )
