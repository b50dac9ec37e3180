"""Typed values sent to and read from HCP.

Parsing is strict where the project depends on a field (ids, codes, times) and lenient
elsewhere: a missing optional field becomes None, an unexpected shape of a required one is an
:class:`~hikcentral.errors.HCPProtocolError`. Personal data (names, phone, e-mail, card numbers)
is kept out of ``repr`` so an object logged by mistake does not leak it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from enum import IntEnum, StrEnum
from typing import Any

from hikcentral.errors import HCPProtocolError
from hikcentral.timefmt import parse_hcp_time

__all__ = [
    "AccessLevel",
    "AccessLevelMember",
    "AccessLevelType",
    "ApplicationFailure",
    "ApplicationOutcome",
    "ApplicationProgress",
    "ApplicationStats",
    "CustomField",
    "Direction",
    "Door",
    "DoorEvent",
    "FaceCheckResult",
    "Gender",
    "Org",
    "PersonInfo",
    "PersonInput",
    "Subscription",
    "Version",
    "judge_application",
]

PERSON_CODE_RE = re.compile(r"^[A-Za-z0-9]{1,16}$")


class Gender(IntEnum):
    UNKNOWN = 0
    MALE = 1
    FEMALE = 2


class AccessLevelType(IntEnum):
    """``type`` of access levels (privilege groups)."""

    ACCESS_CONTROL = 1
    VISITOR = 2


class Direction(IntEnum):
    """``checkInAndOutType`` of a door event."""

    UNKNOWN = 0
    IN = 1
    OUT = 2


# --- parsing helpers -----------------------------------------------------------------------


def _req_str(raw: Mapping[str, Any], key: str, path: str) -> str:
    value = raw.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value:
        raise HCPProtocolError(f"response item lacks {key!r}", path=path)
    return value


def _opt_str(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value not in ("", "null"):
        return value
    return None


def _opt_int(raw: Mapping[str, Any], key: str, path: str) -> int | None:
    value = raw.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise HCPProtocolError(f"response field {key!r} is not a number: {value!r}", path=path)


def _opt_time(raw: Mapping[str, Any], key: str, site_tz: tzinfo, path: str) -> datetime | None:
    value = raw.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise HCPProtocolError(f"response field {key!r} is not a time string", path=path)
    try:
        return parse_hcp_time(value, default_tz=site_tz)
    except ValueError as exc:
        raise HCPProtocolError(f"response field {key!r}: {exc}", path=path) from exc


def _req_time(raw: Mapping[str, Any], key: str, site_tz: tzinfo, path: str) -> datetime:
    value = _opt_time(raw, key, site_tz, path)
    if value is None:
        raise HCPProtocolError(f"response item lacks {key!r}", path=path)
    return value


def _mappings(value: object) -> list[Mapping[str, Any]]:
    if isinstance(value, list):
        return [item for item in value if isinstance(item, Mapping)]
    return []


# --- face check ----------------------------------------------------------------------------

# Keys a faceCheck answer might use to say yes or no. No public source shows the answer: these
# are only read when present, and only an explicit "no" counts (docs/hikcentral.md).
_FACE_CHECK_VERDICT_KEYS = ("checkResult", "faceCheckResult", "usable", "result")
_FALSE_WORDS = frozenset({"false", "fail", "failed", "unusable"})


@dataclass(frozen=True)
class FaceCheckResult:
    """HCP's faceCheck verdict on a picture.

    ``usable`` is True when HCP answered success and nothing in the answer says otherwise,
    False when HCP refused the picture (a parameter error naming the face, or an explicit "no"
    in the answer), None when this server has no faceCheck: not known, neither yes nor no.
    ``detail`` is HCP's message for a refusal (no personal data: it is about the picture).
    """

    usable: bool | None
    detail: str | None = None

    @classmethod
    def from_api(cls, data: object) -> FaceCheckResult:
        """The verdict of a successful answer's ``data``, whatever its shape."""
        if isinstance(data, Mapping):
            for key in _FACE_CHECK_VERDICT_KEYS:
                value = data.get(key)
                if value is False or (
                    isinstance(value, str) and value.strip().lower() in _FALSE_WORDS
                ):
                    detail = _opt_str(data, "msg") or _opt_str(data, "reason")
                    return cls(usable=False, detail=detail or f"{key}: {value}")
        return cls(usable=True)


# --- server and organisations --------------------------------------------------------------


@dataclass(frozen=True)
class Version:
    product_name: str
    soft_version: str

    @classmethod
    def from_api(cls, raw: Mapping[str, Any], *, path: str) -> Version:
        # "produceName" (sic) is what HCP sends; accept the corrected spelling too.
        name = _opt_str(raw, "produceName") or _opt_str(raw, "productName")
        return cls(product_name=name or "", soft_version=_req_str(raw, "softVersion", path))


@dataclass(frozen=True)
class Org:
    org_index_code: str
    org_name: str
    parent_org_index_code: str | None

    @property
    def is_root(self) -> bool:
        return self.parent_org_index_code in (None, "0", "-1")

    @classmethod
    def from_api(cls, raw: Mapping[str, Any], *, path: str) -> Org:
        return cls(
            org_index_code=_req_str(raw, "orgIndexCode", path),
            org_name=_opt_str(raw, "orgName") or "",
            parent_org_index_code=_opt_str(raw, "parentOrgIndexCode"),
        )


# --- persons -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonInput:
    """A whole person as sent to add and update (HCP may clear fields an update omits).

    The face is not part of it: it goes with :meth:`HikCentralClient.add_person` (``face_jpeg``)
    or :meth:`HikCentralClient.update_face`.
    """

    person_code: str
    org_index_code: str
    family_name: str = field(repr=False)
    given_name: str = field(repr=False)
    begin_time: datetime
    end_time: datetime
    gender: Gender = Gender.UNKNOWN
    phone_no: str | None = field(default=None, repr=False)
    email: str | None = field(default=None, repr=False)
    remark: str | None = field(default=None, repr=False)
    card_numbers: tuple[str, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if not PERSON_CODE_RE.match(self.person_code):
            raise ValueError("person_code must be 1-16 ASCII letters and digits")
        for name in ("begin_time", "end_time"):
            value: datetime = getattr(self, name)
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError(f"{name} must be an aware datetime")
        if self.end_time <= self.begin_time:
            raise ValueError("end_time must be after begin_time")
        if not self.family_name and not self.given_name:
            raise ValueError("a person needs a family name or a given name")


@dataclass(frozen=True)
class CustomField:
    id: str | None
    name: str | None
    value: str | None = field(repr=False)


@dataclass(frozen=True)
class PersonInfo:
    person_id: str
    person_code: str | None
    org_index_code: str | None
    begin_time: datetime | None
    end_time: datetime | None
    pic_uri: str | None
    gender: Gender = Gender.UNKNOWN
    person_name: str | None = field(default=None, repr=False)
    family_name: str | None = field(default=None, repr=False)
    given_name: str | None = field(default=None, repr=False)
    phone_no: str | None = field(default=None, repr=False)
    email: str | None = field(default=None, repr=False)
    remark: str | None = field(default=None, repr=False)
    card_numbers: tuple[str, ...] = field(default=(), repr=False)
    custom_fields: tuple[CustomField, ...] = field(default=(), repr=False)

    @property
    def has_face(self) -> bool:
        return bool(self.pic_uri)

    @classmethod
    def from_api(cls, raw: Mapping[str, Any], *, site_tz: tzinfo, path: str) -> PersonInfo:
        photo = raw.get("personPhoto")
        pic_uri = _opt_str(photo, "picUri") if isinstance(photo, Mapping) else None
        gender = _opt_int(raw, "gender", path)
        return cls(
            person_id=_req_str(raw, "personId", path),
            person_code=_opt_str(raw, "personCode"),
            org_index_code=_opt_str(raw, "orgIndexCode"),
            begin_time=_opt_time(raw, "beginTime", site_tz, path),
            end_time=_opt_time(raw, "endTime", site_tz, path),
            pic_uri=pic_uri,
            gender=Gender(gender) if gender in (0, 1, 2) else Gender.UNKNOWN,
            person_name=_opt_str(raw, "personName"),
            family_name=_opt_str(raw, "personFamilyName"),
            given_name=_opt_str(raw, "personGivenName"),
            phone_no=_opt_str(raw, "phoneNo"),
            email=_opt_str(raw, "email"),
            remark=_opt_str(raw, "remark"),
            card_numbers=tuple(
                card_no
                for card in _mappings(raw.get("cards"))
                if (card_no := _opt_str(card, "cardNo"))
            ),
            custom_fields=tuple(
                CustomField(
                    id=_opt_str(item, "id"),
                    # HCP spells the key "customFiledName".
                    name=_opt_str(item, "customFiledName") or _opt_str(item, "customFieldName"),
                    value=_opt_str(item, "customFieldValue"),
                )
                for item in _mappings(raw.get("customFieldList"))
            ),
        )


# --- access levels -------------------------------------------------------------------------


@dataclass(frozen=True)
class AccessLevel:
    access_level_id: str
    name: str
    description: str | None
    time_schedule_id: str | None
    time_schedule_name: str | None

    @classmethod
    def from_api(cls, raw: Mapping[str, Any], *, path: str) -> AccessLevel:
        schedule = raw.get("timeSchedule")
        schedule_map: Mapping[str, Any] = schedule if isinstance(schedule, Mapping) else {}
        return cls(
            access_level_id=_req_str(raw, "privilegeGroupId", path),
            name=_opt_str(raw, "privilegeGroupName") or "",
            description=_opt_str(raw, "description"),
            time_schedule_id=_opt_str(schedule_map, "indexCode"),
            time_schedule_name=_opt_str(schedule_map, "name"),
        )


@dataclass(frozen=True)
class AccessLevelMember:
    person_id: str
    person_code: str | None

    @classmethod
    def from_api(cls, raw: Mapping[str, Any], *, path: str) -> AccessLevelMember:
        return cls(
            person_id=_req_str(raw, "id", path) if "id" in raw else _req_str(raw, "personId", path),
            person_code=_opt_str(raw, "personCode"),
        )


def _count(value: object) -> int | None:
    """A non-negative count as HCP might write it (number or digit string), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


# Element statuses of the visitor module's documented elementDownloadDetail answer.
_ELEMENT_APPLIED, _ELEMENT_PENDING, _ELEMENT_FAILED = 0, 1, 2


@dataclass(frozen=True)
class ApplicationStats:
    """``applicationResult`` type 1, read from whatever HCP answers, never failing on it.

    No public source shows this answer. Two shapes are recognised: counts of persons
    (``toBeAppliedNum``, ``applyingNum``, ``failedNum``, the names the project assumed) and a
    list of per-device statuses in the style of the visitor module's documented
    ``elementDownloadDetail`` (``ElementDetailList.ElementDetail[].ElementStatus[0]
    .elementStatus``: 0 applied, 1 pending, 2 failed), which also says *which* persons wait or
    failed. Anything else is "not known": every figure None, ``known`` False - never an error,
    never a made-up "nothing waiting". ``shape`` says which reading applied.
    """

    waiting: int | None
    applying: int | None
    failed: int | None
    shape: str = "unknown"  # "counts", "element-status" or "unknown"
    pending_person_ids: frozenset[str] | None = None
    failed_person_ids: frozenset[str] | None = None

    @property
    def known(self) -> bool:
        return self.waiting is not None

    @property
    def settled(self) -> bool | None:
        """Nothing is waiting or being applied; None when the answer does not say."""
        if self.waiting is None:
            return None
        return self.waiting == 0 and not self.applying

    @classmethod
    def unknown(cls) -> ApplicationStats:
        return cls(waiting=None, applying=None, failed=None)

    @classmethod
    def from_api(cls, data: object) -> ApplicationStats:
        """Read any decoded ``data`` (object, string, list, None...); see the class doc."""
        if not isinstance(data, Mapping):
            return cls.unknown()
        waiting = _count(data.get("toBeAppliedNum"))
        if waiting is not None:
            return cls(
                waiting=waiting,
                applying=_count(data.get("applyingNum")),
                failed=_count(data.get("failedNum")),
                shape="counts",
            )
        details = data.get("ElementDetailList")
        if isinstance(details, Mapping):
            return cls._from_element_details(details.get("ElementDetail"))
        return cls.unknown()

    @classmethod
    def _from_element_details(cls, items: object) -> ApplicationStats:
        if not isinstance(items, list):
            return cls.unknown()
        pending: set[str] = set()
        failed: set[str] = set()
        ids_complete = True
        for index, item in enumerate(items):
            if not isinstance(item, Mapping):
                return cls.unknown()
            statuses = item.get("ElementStatus")
            first = statuses[0] if isinstance(statuses, list) and statuses else None
            status = _count(first.get("elementStatus")) if isinstance(first, Mapping) else None
            if status not in (_ELEMENT_APPLIED, _ELEMENT_PENDING, _ELEMENT_FAILED):
                return cls.unknown()  # a status we cannot read: the whole answer is unknown
            person = _opt_str(item, "personId")
            if person is None:
                ids_complete = False
                person = _opt_str(item, "personCode") or f"#{index}"
            if status == _ELEMENT_PENDING:
                pending.add(person)
            elif status == _ELEMENT_FAILED:
                failed.add(person)
        return cls(
            waiting=len(pending),
            applying=None,
            failed=len(failed),
            shape="element-status",
            pending_person_ids=frozenset(pending) if ids_complete else None,
            failed_person_ids=frozenset(failed) if ids_complete else None,
        )


@dataclass(frozen=True)
class PersonApplication:
    """``visitor/v1/person/{id}/elementDownloadDetail``: one person's per-device statuses.

    Documented for the visitor module's persons (visitor-module integrations):
    ``ElementDetailList.ElementDetail[]`` with ``ElementStatus[0].elementStatus`` 0 applied,
    1 pending, 2 failed, and ``CertificateStatusList.CertificateStatus[]`` ``{type (2 =
    face), status (2 = rejected), errorMsg}``. Read leniently: an element whose status cannot
    be read makes the whole answer "not known"; an answer listing no element says nothing
    (``outcome`` UNKNOWN), never "applied".
    """

    person_id: str
    applied: int
    pending: int
    failed: int
    known: bool = True
    failed_doors: tuple[str, ...] = ()  # doorIndexCode (or acsDevIndexCode) of each failure
    face_error: str | None = None  # the face certificate's rejection message, if any

    @property
    def outcome(self) -> ApplicationOutcome:
        if not self.known:
            return ApplicationOutcome.UNKNOWN
        if self.failed:
            return ApplicationOutcome.FAILED
        if self.pending:
            return ApplicationOutcome.PENDING
        return ApplicationOutcome.APPLIED if self.applied else ApplicationOutcome.UNKNOWN

    @classmethod
    def from_api(cls, person_id: str, data: object) -> PersonApplication:
        unknown = cls(person_id, 0, 0, 0, known=False)
        if not isinstance(data, Mapping):
            return unknown
        details = data.get("ElementDetailList")
        items = details.get("ElementDetail") if isinstance(details, Mapping) else None
        if not isinstance(items, list):
            return unknown
        counts = {_ELEMENT_APPLIED: 0, _ELEMENT_PENDING: 0, _ELEMENT_FAILED: 0}
        failed_doors: list[str] = []
        face_error: str | None = None
        for item in items:
            if not isinstance(item, Mapping):
                return unknown
            statuses = item.get("ElementStatus")
            first = statuses[0] if isinstance(statuses, list) and statuses else None
            status = _count(first.get("elementStatus")) if isinstance(first, Mapping) else None
            if status not in counts:
                return unknown
            assert status is not None  # noqa: S101 - checked just above
            counts[status] += 1
            if status == _ELEMENT_FAILED:
                door = _opt_str(item, "doorIndexCode") or _opt_str(item, "acsDevIndexCode")
                failed_doors.append(door or "?")
            face_error = face_error or _face_rejection(item)
        return cls(
            person_id,
            applied=counts[_ELEMENT_APPLIED],
            pending=counts[_ELEMENT_PENDING],
            failed=counts[_ELEMENT_FAILED],
            failed_doors=tuple(failed_doors),
            face_error=face_error,
        )


_CERTIFICATE_FACE, _CERTIFICATE_REJECTED = 2, 2


def _face_rejection(item: Mapping[str, Any]) -> str | None:
    """The face certificate's rejection message of one element, if it lists one."""
    listing = item.get("CertificateStatusList")
    certificates = listing.get("CertificateStatus") if isinstance(listing, Mapping) else None
    if not isinstance(certificates, list):
        return None
    for certificate in certificates:
        if (
            isinstance(certificate, Mapping)
            and _count(certificate.get("type")) == _CERTIFICATE_FACE
            and _count(certificate.get("status")) == _CERTIFICATE_REJECTED
        ):
            return _opt_str(certificate, "errorMsg") or "face rejected"
    return None


@dataclass(frozen=True)
class ApplicationFailure:
    """``applicationResult`` type 2: a person's settings that failed to reach a door.

    Every field is optional and read leniently (a time that does not parse is None): the
    answer's item names are the project's assumption, not a documented shape.
    """

    person_id: str | None
    person_code: str | None
    door_index_code: str | None
    acs_dev_index_code: str | None
    fail_time: datetime | None
    error_code: str | None
    error_msg: str | None
    door_name: str | None = None
    person_name: str | None = field(default=None, repr=False)

    @classmethod
    def from_api(cls, raw: Mapping[str, Any], *, site_tz: tzinfo, path: str) -> ApplicationFailure:
        try:
            fail_time = _opt_time(raw, "failTime", site_tz, path)
        except HCPProtocolError:
            fail_time = None
        return cls(
            person_id=_opt_str(raw, "personId"),
            person_code=_opt_str(raw, "personCode"),
            door_index_code=_opt_str(raw, "doorIndexCode"),
            acs_dev_index_code=_opt_str(raw, "acsDevIndexCode"),
            fail_time=fail_time,
            error_code=_opt_str(raw, "errorCode"),
            error_msg=_opt_str(raw, "errorMsg"),
            door_name=_opt_str(raw, "doorName"),
            person_name=_opt_str(raw, "personName"),
        )


class ApplicationOutcome(StrEnum):
    """Whether some persons' changes reached the devices, as far as HCP's answers tell."""

    APPLIED = "applied"  # nothing of theirs waits and no failure of theirs is listed
    PENDING = "pending"  # HCP reports changes still waiting or being applied
    FAILED = "failed"  # a failure of theirs is listed (retry: reapply with include_failed)
    UNKNOWN = "unknown"  # the answers do not say: confirm by a granted door event, or by time


@dataclass(frozen=True)
class ApplicationProgress:
    outcome: ApplicationOutcome
    stats: ApplicationStats
    failures: tuple[ApplicationFailure, ...]  # the asked persons' listed failures
    unattributed_failures: int  # listed failures that name no person


def judge_application(
    *,
    stats: ApplicationStats,
    failures: Iterable[ApplicationFailure],
    person_ids: Collection[str],
    door_index_codes: Collection[str] | None = None,
) -> ApplicationProgress:
    """The outcome for ``person_ids`` (at ``door_index_codes``, None: any door).

    The failure list decides first (it names persons whatever the statistics' shape); then the
    statistics, per person when they say who waits, else for the whole site (anything still
    waiting anywhere counts as pending: HCP's counts do not say whose it is).
    """
    ids = set(person_ids)
    doors = set(door_index_codes) if door_index_codes is not None else None
    ours: list[ApplicationFailure] = []
    unattributed = 0
    for failure in failures:
        if failure.person_id is None:
            unattributed += 1
        elif failure.person_id in ids and (
            doors is None or failure.door_index_code is None or failure.door_index_code in doors
        ):
            ours.append(failure)

    def progress(outcome: ApplicationOutcome) -> ApplicationProgress:
        return ApplicationProgress(outcome, stats, tuple(ours), unattributed)

    if ours or (stats.failed_person_ids is not None and ids & stats.failed_person_ids):
        return progress(ApplicationOutcome.FAILED)
    if unattributed:
        return progress(ApplicationOutcome.UNKNOWN)
    if stats.pending_person_ids is not None:
        pending = bool(ids & stats.pending_person_ids)
        return progress(ApplicationOutcome.PENDING if pending else ApplicationOutcome.APPLIED)
    if stats.settled is None:
        return progress(ApplicationOutcome.UNKNOWN)
    return progress(ApplicationOutcome.APPLIED if stats.settled else ApplicationOutcome.PENDING)


# --- doors and events ----------------------------------------------------------------------


@dataclass(frozen=True)
class Door:
    door_index_code: str
    door_name: str
    door_state: int | None
    acs_dev_index_code: str | None
    region_index_code: str | None

    @classmethod
    def from_api(cls, raw: Mapping[str, Any], *, path: str) -> Door:
        return cls(
            door_index_code=_req_str(raw, "doorIndexCode", path),
            door_name=_opt_str(raw, "doorName") or "",
            door_state=_opt_int(raw, "doorState", path),
            acs_dev_index_code=_opt_str(raw, "acsDevIndexCode"),
            region_index_code=_opt_str(raw, "regionIndexCode"),
        )


@dataclass(frozen=True)
class DoorEvent:
    event_id: str
    event_type: int
    event_time: datetime
    door_index_code: str | None
    person_id: str | None
    person_code: str | None
    direction: int
    pic_uri: str | None
    device_time: datetime | None = None
    door_name: str | None = None
    person_type: int | None = None
    reader_index_code: str | None = None
    reader_name: str | None = None
    temperature_data: str | None = None
    temperature_status: int | None = None
    wear_mask_status: int | None = None
    person_name: str | None = field(default=None, repr=False)
    card_no: str | None = field(default=None, repr=False)

    @classmethod
    def from_api(cls, raw: Mapping[str, Any], *, site_tz: tzinfo, path: str) -> DoorEvent:
        event_type = _opt_int(raw, "eventType", path)
        if event_type is None:
            raise HCPProtocolError("door event lacks 'eventType'", path=path)
        return cls(
            event_id=_req_str(raw, "eventId", path),
            event_type=event_type,
            event_time=_req_time(raw, "eventTime", site_tz, path),
            door_index_code=_opt_str(raw, "doorIndexCode"),
            person_id=_opt_str(raw, "personId"),
            person_code=_opt_str(raw, "personCode"),
            direction=_opt_int(raw, "checkInAndOutType", path) or 0,
            pic_uri=_opt_str(raw, "picUri"),
            device_time=_opt_time(raw, "deviceTime", site_tz, path),
            door_name=_opt_str(raw, "doorName"),
            person_type=_opt_int(raw, "personType", path),
            reader_index_code=_opt_str(raw, "readerIndexCode"),
            reader_name=_opt_str(raw, "readerName"),
            temperature_data=_opt_str(raw, "temperatureData"),
            temperature_status=_opt_int(raw, "temperatureStatus", path),
            wear_mask_status=_opt_int(raw, "wearMaskStatus", path),
            person_name=_opt_str(raw, "personName"),
            card_no=_opt_str(raw, "cardNo"),
        )


# --- event push ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Subscription:
    """One entry of ``eventSubscriptionView``: event types pushed to one destination."""

    event_types: tuple[int, ...]
    event_dest: str

    @classmethod
    def from_api(cls, raw: Mapping[str, Any], *, path: str) -> Subscription:
        types = raw.get("eventTypes")
        if not isinstance(types, list):
            raise HCPProtocolError("subscription lacks 'eventTypes'", path=path)
        parsed: list[int] = []
        for item in types:
            if isinstance(item, bool) or not isinstance(item, int | str):
                raise HCPProtocolError(f"bad event type {item!r}", path=path)
            try:
                parsed.append(int(item))
            except ValueError as exc:
                raise HCPProtocolError(f"bad event type {item!r}", path=path) from exc
        return cls(event_types=tuple(parsed), event_dest=_opt_str(raw, "eventDest") or "")
