"""The OpenAPI endpoints (paths after /artemis), one function each.

A handler receives the simulator, the validated-on-access body and the caller; it returns the
envelope's `data` (or `NO_DATA`, or a `Binary` picture) and raises `HcpError` for business
errors. The gateway (app.py) does signatures, quota, faults and serialisation.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hcp_simulator import devices, events, push
from hcp_simulator.clock import MAX_WALL_TIME, format_hcp_time
from hcp_simulator.envelope import BAD_PARAMETER, NO_DATA, USER_LOCKED, HcpError, page
from hcp_simulator.params import Params
from hcp_simulator.pictures import MIN_FACE_SIDE, jpeg_dimensions
from hcp_simulator.quirks import MAX_EVENT_TYPE, MIN_EVENT_TYPE
from hcp_simulator.simulator import Simulator
from hcp_simulator.state import Face, Person, new_pic_uri

PERSON_CODE_RE = re.compile(r"[A-Za-z0-9]{1,16}")
CARD_NO_RE = re.compile(r"[A-Za-z0-9]{1,32}")
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+")
EVENT_TYPES_RE = re.compile(r"\d+(,\d+)*")
MAX_DOORS_PER_EVENT_SEARCH = 10
MAX_EVENT_SEARCH_SPAN = timedelta(days=31)
MAX_SUBSCRIBED_TYPES = 256
ADMIN_LOCK_DURATION = timedelta(minutes=30)


@dataclass(frozen=True)
class Caller:
    client_ip: str
    user_id: str | None


@dataclass(frozen=True)
class Binary:
    """A picture answered as raw bytes instead of the envelope."""

    content: bytes
    media_type: str = "image/jpeg"


Handler = Callable[[Simulator, Params, Caller], Any]


@dataclass(frozen=True)
class Endpoint:
    handler: Handler
    mutates: bool = False
    numeric_code: bool = False


ENDPOINTS: dict[str, Endpoint] = {}
# Paths with an id in them ("/api/.../person/{id}/..."): the pattern, and the handler that
# takes the id as a fourth argument.
PathHandler = Callable[[Simulator, Params, Caller, str], Any]
PATH_ENDPOINTS: list[tuple[re.Pattern[str], PathHandler]] = []


def path_endpoint(template: str) -> Callable[[PathHandler], PathHandler]:
    """Register a handler for a path with one ``{id}`` segment."""
    before, after = template.split("{id}")
    pattern = re.compile(re.escape(before) + r"([^/]+)" + re.escape(after))

    def register(handler: PathHandler) -> PathHandler:
        PATH_ENDPOINTS.append((pattern, handler))
        return handler

    return register


def find_endpoint(api_path: str) -> Endpoint | None:
    """The endpoint of a path: a fixed one, or one with an id in the path."""
    endpoint = ENDPOINTS.get(api_path)
    if endpoint is not None:
        return endpoint
    for pattern, handler in PATH_ENDPOINTS:
        match = pattern.fullmatch(api_path)
        if match:
            return Endpoint(functools.partial(_with_id, handler, match.group(1)))
    return None


def _with_id(
    handler: PathHandler, ident: str, sim: Simulator, params: Params, caller: Caller
) -> Any:
    return handler(sim, params, caller, ident)


def endpoint(
    path: str, *, mutates: bool = False, numeric_code: bool = False
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ENDPOINTS[path] = Endpoint(handler, mutates=mutates, numeric_code=numeric_code)
        return handler

    return register


def _page(sim: Simulator, path: str, items: list[Any], page_no: int, size: int) -> dict[str, Any]:
    quirks = sim.quirks
    return page(
        items,
        page_no,
        size,
        total_key=quirks.total_key(path),
        empty_without_list=quirks.empty_page_without_list,
    )


def _time(sim: Simulator, moment: datetime) -> str:
    return format_hcp_time(moment, sim.config.utc_offset)


# --- Server -------------------------------------------------------------------------------


@endpoint("/api/common/v1/version")
def version(sim: Simulator, params: Params, caller: Caller) -> Any:
    return {"produceName": "HikCentral Professional", "softVersion": sim.config.soft_version}


# --- Organisations ---------------------------------------------------------------------


ORG_LIST = "/api/resource/v1/org/advance/orgList"


@endpoint(ORG_LIST)
def org_list(sim: Simulator, params: Params, caller: Caller) -> Any:
    page_no, size = params.paging()
    name = params.string("orgName", max_len=64)
    orgs = sim.state.orgs
    if name:
        # A traversing search: matches plus all their ancestors.
        selected: set[str] = set()
        for org in orgs.values():
            if name.lower() in org.org_name.lower():
                code = org.org_index_code
                while code in orgs and code not in selected:
                    selected.add(code)
                    code = orgs[code].parent_org_index_code
        rows = [org for org in orgs.values() if org.org_index_code in selected]
    else:
        rows = list(orgs.values())
    items = [
        {
            "orgIndexCode": org.org_index_code,
            "orgName": org.org_name,
            "parentOrgIndexCode": org.parent_org_index_code,
        }
        for org in rows
    ]
    return _page(sim, ORG_LIST, items, page_no, size)


# --- Persons -----------------------------------------------------------------------------


def person_info(sim: Simulator, person: Person) -> dict[str, Any]:
    info: dict[str, Any] = {
        "personId": person.person_id,
        "personCode": person.person_code,
        "personName": person.person_name,
        "personFamilyName": person.family_name,
        "personGivenName": person.given_name,
        "gender": person.gender,
        "orgIndexCode": person.org_index_code,
        "phoneNo": person.phone_no,
        "email": person.email,
        "remark": person.remark,
        "beginTime": _time(sim, person.begin_time),
        "endTime": _time(sim, person.end_time),
        "customFieldList": [],
    }
    if person.cards or not sim.quirks.omit_empty_cards:
        info["cards"] = [{"cardNo": card} for card in person.cards]
    if person.face is not None:
        info["personPhoto"] = {"picUri": person.face.pic_uri}
    elif sim.quirks.empty_pic_uri_without_face:
        info["personPhoto"] = {"picUri": ""}
    return info


def decode_face(sim: Simulator, value: Any, field: str = "faceData") -> Face:
    """A face as HCP takes it: base64 JPEG, no `data:` prefix, within the size limit."""
    if not isinstance(value, str) or not value or value.startswith("data:"):
        raise HcpError.bad_parameter(field)
    try:
        jpeg = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise HcpError.bad_parameter(field) from exc
    if len(jpeg) > sim.config.max_face_bytes:
        raise HcpError.bad_parameter(field)
    size = jpeg_dimensions(jpeg)
    if size is None or min(size) < MIN_FACE_SIDE:
        raise HcpError.bad_parameter(field)
    return Face(jpeg=jpeg, pic_uri=new_pic_uri())


def _cards(params: Params) -> list[str]:
    cards = []
    for item in params.list_of("cards", max_len=5):
        card = item.get("cardNo") if isinstance(item, dict) else None
        if not isinstance(card, str) or not CARD_NO_RE.fullmatch(card):
            raise HcpError.bad_parameter("cardNo")
        cards.append(card)
    return cards


def _validity(sim: Simulator, params: Params) -> tuple[datetime, datetime]:
    """beginTime/endTime; omitted ones take HCP's defaults (now, and the 2037 maximum)."""
    begin = params.time("beginTime") or sim.now().replace(microsecond=0)
    end = params.time("endTime") or MAX_WALL_TIME.replace(tzinfo=sim.config.utc_offset)
    if end < begin:
        raise HcpError.bad_parameter("endTime")
    return begin, end


def _org(sim: Simulator, params: Params, *, required: bool) -> str | None:
    org = params.string("orgIndexCode", required=required, max_len=64, allow_empty=False)
    if org is not None and org not in sim.state.orgs:
        raise HcpError.not_found("orgIndexCode")
    return org


def _contact_fields(params: Params) -> tuple[int, str, str, str]:
    gender = params.integer("gender", choices=(0, 1, 2)) or 0
    phone = params.string("phoneNo", max_len=64) or ""
    email = params.string("email", max_len=64) or ""
    if email and not EMAIL_RE.fullmatch(email):
        raise HcpError.bad_parameter("email")
    remark = params.string("remark", max_len=128) or ""
    return gender, phone, email, remark


@endpoint("/api/resource/v1/person/single/add", mutates=True)
def person_add(sim: Simulator, params: Params, caller: Caller) -> Any:
    state = sim.state
    code = params.string("personCode", pattern=PERSON_CODE_RE)
    if not code:
        code = _generated_person_code(sim)
    family = params.required_string("personFamilyName", max_len=256)
    given = params.required_string("personGivenName", max_len=256)
    org = _org(sim, params, required=True)
    assert org is not None  # noqa: S101 - required
    gender, phone, email, remark = _contact_fields(params)
    faces = params.list_of("faces", max_len=1)
    face = None
    if faces:
        face_item = faces[0] if isinstance(faces[0], dict) else {}
        face = decode_face(sim, face_item.get("faceData"))
    cards = _cards(params)
    begin, end = _validity(sim, params)
    if code in state.person_codes:
        raise HcpError.already_exists("personCode")
    person = Person(
        person_id=state.new_person_id(numeric=sim.quirks.numeric_person_ids),
        person_code=code,
        family_name=family,
        given_name=given,
        gender=gender,
        org_index_code=org,
        phone_no=phone,
        email=email,
        remark=remark,
        cards=cards,
        begin_time=begin,
        end_time=end,
        face=face,
    )
    state.add_person(person)
    return person.person_id


def _generated_person_code(sim: Simulator) -> str:
    number = len(sim.state.persons) + 1
    while str(number) in sim.state.person_codes:
        number += 1
    return str(number)


@endpoint("/api/resource/v1/person/single/update", mutates=True)
def person_update(sim: Simulator, params: Params, caller: Caller) -> Any:
    """Replaces the person: omitted optional fields are cleared (names and organisation are
    kept), omitted beginTime/endTime fall back to the defaults. Faces are ignored here."""
    person = _person_by_id(sim, params)
    code = params.string("personCode")
    if code is not None and code != person.person_code:
        raise HcpError.bad_parameter("personCode")
    family = params.string("personFamilyName", max_len=256)
    given = params.string("personGivenName", max_len=256)
    org = _org(sim, params, required=False)
    gender, phone, email, remark = _contact_fields(params)
    cards = _cards(params)
    begin, end = _validity(sim, params)
    person.family_name = family if family else person.family_name
    person.given_name = given if given else person.given_name
    person.org_index_code = org or person.org_index_code
    person.gender, person.phone_no, person.email, person.remark = gender, phone, email, remark
    person.cards = cards
    person.begin_time, person.end_time = begin, end
    return sim.quirks.null_answer


def _person_by_id(sim: Simulator, params: Params) -> Person:
    person_id = params.required_string("personId", max_len=64)
    person = sim.state.persons.get(person_id)
    if person is None:
        raise HcpError.not_found("personId")
    return person


def _person_by_id_or_code(sim: Simulator, params: Params) -> Person:
    if params.has("personId"):
        return _person_by_id(sim, params)
    code = params.string("personCode")
    if not code:
        raise HcpError.bad_parameter("personId")
    person = sim.state.person_by_code(code)
    if person is None:
        raise HcpError.not_found("personCode")
    return person


def _check_admin_password(sim: Simulator, params: Params, caller: Caller) -> None:
    expected = sim.config.admin_password
    if expected is None:
        return
    now = sim.now()
    failures, locked_until = sim.admin_failures.get(caller.client_ip, (0, None))
    if locked_until is not None and now < locked_until:
        raise HcpError(USER_LOCKED, "The user is locked.", {"remainLockNumber": 0})
    password = params.string("adminPassword")
    if password is None:
        raise HcpError.bad_parameter("adminPassword")
    if password == expected:
        sim.admin_failures.pop(caller.client_ip, None)
        return
    failures += 1
    remain = max(0, sim.config.admin_lock_attempts - failures)
    if remain == 0:
        sim.admin_failures[caller.client_ip] = (0, now + ADMIN_LOCK_DURATION)
        raise HcpError(USER_LOCKED, "The user is locked.", {"remainLockNumber": 0})
    sim.admin_failures[caller.client_ip] = (failures, None)
    raise HcpError.bad_parameter("adminPassword", {"remainLockNumber": remain})


@endpoint("/api/resource/v1/person/single/delete", mutates=True)
def person_delete(sim: Simulator, params: Params, caller: Caller) -> Any:
    _check_admin_password(sim, params, caller)
    person = _person_by_id_or_code(sim, params)
    # Devices keep the person until the deletion is applied (reapplication).
    sim.state.remove_person(person)
    if sim.quirks.delete_answers_remain_lock_number:
        return {"remainLockNumber": sim.config.admin_lock_attempts}
    return ""


@endpoint("/api/resource/v1/person/personId/personInfo")
def person_info_by_id(sim: Simulator, params: Params, caller: Caller) -> Any:
    return person_info(sim, _person_by_id(sim, params))


@endpoint("/api/resource/v1/person/personCode/personInfo")
def person_info_by_code(sim: Simulator, params: Params, caller: Caller) -> Any:
    code = params.required_string("personCode", max_len=16)
    person = sim.state.person_by_code(code)
    if person is None:
        raise HcpError.not_found("personCode")
    return person_info(sim, person)


PERSON_LIST = "/api/resource/v1/person/personList"
PERSON_SEARCH = "/api/resource/v1/person/advance/personList"


@endpoint(PERSON_LIST)
def person_list(sim: Simulator, params: Params, caller: Caller) -> Any:
    page_no, size = params.paging()
    items = [person_info(sim, person) for person in sim.state.persons.values()]
    return _page(sim, PERSON_LIST, items, page_no, size)


@endpoint(PERSON_SEARCH)
def person_search(sim: Simulator, params: Params, caller: Caller) -> Any:
    page_no, size = params.paging()
    name = (params.string("personName", max_len=64) or "").lower()
    items = [
        person_info(sim, person)
        for person in sim.state.persons.values()
        if name in person.person_name.lower()
    ]
    return _page(sim, PERSON_SEARCH, items, page_no, size)


@endpoint("/api/resource/v1/person/face/update", mutates=True)
def face_update(sim: Simulator, params: Params, caller: Caller) -> Any:
    person = _person_by_id_or_code(sim, params)
    person.face = decode_face(sim, params.body.get("faceData"))
    return ""


FACE_CHECK = "/api/acs/v1/faceCheck"
# The smallest picture faceCheck calls usable (the simulator's own rule: no public source
# gives HCP's; person add and face update take anything from MIN_FACE_SIDE).
FACE_CHECK_MIN_SIDE = 80


@endpoint(FACE_CHECK)
def face_check(sim: Simulator, params: Params, caller: Caller) -> Any:
    """Whether a picture is usable on a device. No public source shows the answer's `data`:
    the simulator answers `{checkResult: true}` for a usable picture and code 2 naming
    faceData for one it refuses: not base64 of a decodable JPEG, over the face size limit,
    or under FACE_CHECK_MIN_SIDE pixels a side. An unknown device is code 128."""
    face = decode_face(sim, params.body.get("faceData"))
    size = jpeg_dimensions(face.jpeg)
    if size is None or min(size) < FACE_CHECK_MIN_SIDE:
        raise HcpError(
            BAD_PARAMETER,
            "Incorrect request parameter. [faceData parameter error] "
            f"The face picture is too small (at least {FACE_CHECK_MIN_SIDE} pixels a side).",
        )
    device = params.required_string("acsDevIndexCode", max_len=64)
    if device not in {door.acs_dev_index_code for door in sim.state.doors.values()}:
        raise HcpError.not_found("acsDevIndexCode")
    return {"checkResult": True}


def picture(sim: Simulator, jpeg: bytes) -> Binary:
    if sim.quirks.picture_format == "base64":
        text = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
        return Binary(text.encode(), "text/plain;charset=UTF-8")
    return Binary(jpeg)


@endpoint("/api/resource/v1/person/picture_data")
def person_picture(sim: Simulator, params: Params, caller: Caller) -> Any:
    pic_uri = params.required_string("picUri", max_len=256)
    if params.has("personId") or params.has("personCode"):
        candidates = [_person_by_id_or_code(sim, params)]
    else:
        candidates = list(sim.state.persons.values())
    for person in candidates:
        if person.face is not None and person.face.pic_uri == pic_uri:
            return picture(sim, person.face.jpeg)
    raise HcpError.not_found("picUri")


# --- Access levels ------------------------------------------------------------------------

LEVEL_LIST = "/api/acs/v1/privilege/group"
LEVEL_MEMBERS = "/api/acs/v1/privilege/group/single/personList"


@endpoint(LEVEL_LIST)
def level_list(sim: Simulator, params: Params, caller: Caller) -> Any:
    page_no, size = params.paging()
    level_type = params.required_int("type", choices=(1, 2))
    items = [
        {
            "privilegeGroupId": level.level_id,
            "privilegeGroupName": level.name,
            "description": level.description,
            "timeSchedule": {"indexCode": "1", "name": "All-day Template"},
        }
        for level in sim.state.levels.values()
        if level.type == level_type
    ]
    return _page(sim, LEVEL_LIST, items, page_no, size)


def _level(sim: Simulator, params: Params) -> Any:
    level_id = params.required_string("privilegeGroupId", max_len=64)
    level_type = params.required_int("type", choices=(1, 2))
    level = sim.state.levels.get(level_id)
    if level is None or level.type != level_type:
        raise HcpError.not_found("privilegeGroupId")
    return level


def _member_ids(sim: Simulator, params: Params) -> list[str]:
    """`list: [{id} or {personCode}, ...]`, at most `maxPersonsPerLevelCall` (the catalogue:
    "Up to 20 person IDs are allowed"); any unknown person: 128 and nothing changes."""
    limit = sim.quirks.max_persons_per_level_call or None
    ids = []
    for item in params.list_of("list", required=True, max_len=limit):
        if not isinstance(item, dict):
            raise HcpError.bad_parameter("list")
        person_id, code = item.get("id"), item.get("personCode")
        if person_id is not None:
            if not isinstance(person_id, str) or not person_id:
                raise HcpError.bad_parameter("id")
            if person_id not in sim.state.persons:
                raise HcpError.not_found("id")
        elif isinstance(code, str) and code:
            person = sim.state.person_by_code(code)
            if person is None:
                raise HcpError.not_found("personCode")
            person_id = person.person_id
        else:
            raise HcpError.bad_parameter("id")
        ids.append(person_id)
    return ids


@endpoint("/api/acs/v1/privilege/group/single/addPersons", mutates=True)
def level_add_persons(sim: Simulator, params: Params, caller: Caller) -> Any:
    level = _level(sim, params)
    for person_id in _member_ids(sim, params):
        level.members[person_id] = None
    return ""


@endpoint("/api/acs/v1/privilege/group/single/deletePersons", mutates=True)
def level_delete_persons(sim: Simulator, params: Params, caller: Caller) -> Any:
    level = _level(sim, params)
    for person_id in _member_ids(sim, params):
        level.members.pop(person_id, None)
    return ""


@endpoint(LEVEL_MEMBERS)
def level_members(sim: Simulator, params: Params, caller: Caller) -> Any:
    level = _level(sim, params)
    page_no, size = params.paging()
    persons = sim.state.persons
    items = [
        {"id": person_id, "personCode": persons[person_id].person_code}
        for person_id in level.members
        if person_id in persons
    ]
    return _page(sim, LEVEL_MEMBERS, items, page_no, size)


# --- Applying to devices ------------------------------------------------------------------


@endpoint("/api/visitor/v1/auth/reapplication", mutates=True)
def reapplication(sim: Simulator, params: Params, caller: Caller) -> Any:
    """`{orderId?, ImmediateDownload?, personIds?, doorIndexCodes?}`; `{}` or no body applies
    every pending change (the catalogue's example has no orderId; integrations send "")."""
    params.string("orderId", max_len=64)
    immediate = params.integer("ImmediateDownload", choices=(0, 1)) or 0
    person_ids = params.comma_list("personIds")
    door_codes = params.comma_list("doorIndexCodes")
    if door_codes is not None and any(code not in sim.state.doors for code in door_codes):
        raise HcpError.not_found("doorIndexCodes")
    devices.schedule_application(
        sim.state,
        now=sim.now(),
        delay_seconds=sim.config.apply_delay,
        person_ids=person_ids,
        door_codes=door_codes,
        skip_failed=immediate == 1,
    )
    sim.catch_up()  # with --apply-delay 0 the change is on the devices before we answer
    return sim.quirks.null_answer


APPLICATION_RESULT = "/api/acs/v1/auth/applicationResult"


# Element statuses of the visitor module's elementDownloadDetail (the one public per-device
# status answer): 0 applied, 1 pending, 2 failed.
ELEMENT_STATUS = {"applied": 0, "waiting": 1, "applying": 1, "failed": 2}


@endpoint(APPLICATION_RESULT)
def application_result(sim: Simulator, params: Params, caller: Caller) -> Any:
    """Type 1: the state of application, in the shape `applicationResultShape` picks (no
    public source shows HCP's). Type 2: a page of failures (person, door, reason).
    Visitors (type 2) have none."""
    result_type = params.required_int("applicationResultType", choices=(1, 2))
    level_type = params.required_int("type", choices=(1, 2))
    state = sim.state
    if result_type == 1:
        statuses = devices.pair_statuses(state) if level_type == 1 else {}
        shape = sim.quirks.application_result_shape
        if shape == "empty":
            return ""
        if shape == "element-status":
            return {"ElementDetailList": {"ElementDetail": _element_details(sim, statuses)}}
        by_status: dict[str, set[str]] = {"waiting": set(), "applying": set(), "failed": set()}
        for (person_id, _door), status in statuses.items():
            if status.status in by_status:
                by_status[status.status].add(person_id)
        return {
            "toBeAppliedNum": len(by_status["waiting"]),
            "applyingNum": len(by_status["applying"]),
            "failedNum": len(by_status["failed"]),
        }
    page_no, size = params.paging(required=False)
    failures = devices.failed_pairs(state) if level_type == 1 else []
    items = []
    for (person_id, door_code), failure in failures:
        record = devices.applied_record(state, (person_id, door_code))
        person = state.persons.get(person_id)
        door = state.doors.get(door_code)
        items.append(
            {
                "personId": person_id,
                "personCode": person.person_code if person else getattr(record, "person_code", ""),
                "personName": person.person_name if person else getattr(record, "person_name", ""),
                "doorIndexCode": door_code,
                "doorName": door.door_name if door else "",
                "acsDevIndexCode": door.acs_dev_index_code if door else "",
                "failTime": _time(sim, failure.time),
                "errorCode": "194",
                "errorMsg": f"Connecting to device failed ({failure.reason}).",
            }
        )
    return _page(sim, APPLICATION_RESULT, items, page_no, size)


def _element_details(
    sim: Simulator, statuses: dict[devices.Pair, devices.PairStatus]
) -> list[dict[str, Any]]:
    details = []
    for (person_id, door_code), status in statuses.items():
        record = status.desired or status.applied
        door = sim.state.doors.get(door_code)
        details.append(
            {
                "personId": person_id,
                "personCode": record.person_code if record else "",
                "doorIndexCode": door_code,
                "acsDevIndexCode": door.acs_dev_index_code if door else "",
                "ElementStatus": [{"elementStatus": ELEMENT_STATUS[status.status]}],
            }
        )
    return details


ELEMENT_DOWNLOAD_DETAIL = "/api/visitor/v1/person/{id}/elementDownloadDetail"


@path_endpoint(ELEMENT_DOWNLOAD_DETAIL)
def element_download_detail(sim: Simulator, params: Params, caller: Caller, ident: str) -> Any:
    """`{id}` (the personId, also in the path): the person's status on each door's device,
    `data.ElementDetailList.ElementDetail[]` as documented for the visitor module. A door the
    person was removed from is listed as applied (0) once its device dropped the person, so a
    revocation's answer says it, rather than listing nothing (our assumption: no public
    source shows a removal there). With the quirk `elementDetailRefused` (HCP only serves
    the visitor module's persons) it answers code 128 for any person."""
    body_id = params.string("id", max_len=64)
    if body_id is not None and body_id != ident:
        raise HcpError.bad_parameter("id")
    if sim.quirks.element_detail_refused:
        raise HcpError.not_found("visitor")
    state = sim.state
    statuses = devices.person_pair_statuses(state, ident)
    if ident not in state.persons and not statuses:
        raise HcpError.not_found("personId")
    person = state.persons.get(ident)
    details = []
    for door_code, status in sorted(statuses.items()):
        door = state.doors.get(door_code)
        element: dict[str, Any] = {
            "doorIndexCode": door_code,
            "acsDevIndexCode": door.acs_dev_index_code if door else "",
            "ElementStatus": [{"elementStatus": ELEMENT_STATUS[status]}],
        }
        if person is not None and person.face is not None:
            element["CertificateStatusList"] = {
                "CertificateStatus": [
                    {"type": 2, "status": 0 if status == "applied" else 1, "errorMsg": ""}
                ]
            }
        details.append(element)
    return {"ElementDetailList": {"ElementDetail": details}}


# --- Doors and events ---------------------------------------------------------------------

DOOR_LIST = "/api/resource/v1/acsDoor/acsDoorList"
DOOR_EVENTS = "/api/acs/v1/door/events"


@endpoint(DOOR_LIST)
def door_list(sim: Simulator, params: Params, caller: Caller) -> Any:
    page_no, size = params.paging()
    items = [
        {
            "doorIndexCode": door.door_index_code,
            "doorName": door.door_name,
            "doorState": door.door_state,
            "acsDevIndexCode": door.acs_dev_index_code,
            "regionIndexCode": door.region_index_code,
        }
        for door in sim.state.doors.values()
    ]
    return _page(sim, DOOR_LIST, items, page_no, size)


# Person filters of door/events: at most one of them (the catalogue).
PERSON_FILTERS = ("personName", "personId", "personCode", "personCodes")


@endpoint(DOOR_EVENTS)
def door_events(sim: Simulator, params: Params, caller: Caller) -> Any:
    """The catalogue's door/events: `eventType` or `eventTypes` (not both); one of
    `personName`, `personId` (comma list), `personCode`, `personCodes` (comma list);
    `doorIndexCodes` <= 10 (empty: all); `personType`, `maskStatus`, temperature and mask
    statuses accepted, not filtered on."""
    start = params.time("startTime", required=True)
    end = params.time("endTime", required=True)
    assert start is not None  # noqa: S101 - required
    assert end is not None  # noqa: S101 - required
    if end < start or end - start > MAX_EVENT_SEARCH_SPAN:
        raise HcpError.bad_parameter("endTime")
    doors = params.list_of("doorIndexCodes", max_len=MAX_DOORS_PER_EVENT_SEARCH)
    if any(not isinstance(code, str) or not code for code in doors):
        raise HcpError.bad_parameter("doorIndexCodes")
    event_type = params.integer("eventType", low=0)
    types_text = params.string("eventTypes", max_len=4096)
    if types_text and not EVENT_TYPES_RE.fullmatch(types_text):
        raise HcpError.bad_parameter("eventTypes")
    if event_type is not None and types_text:
        raise HcpError.bad_parameter("eventTypes")  # mutually exclusive
    event_types = {int(t) for t in types_text.split(",")} if types_text else set()
    if event_type is not None:
        event_types.add(event_type)
    given = [name for name in PERSON_FILTERS if params.body.get(name) not in (None, "")]
    if len(given) > 1:
        raise HcpError.bad_parameter(given[1])  # mutually exclusive
    person_name = params.string("personName", max_len=32)
    person_ids = params.comma_list("personId")
    person_code = params.string("personCode", max_len=16)
    person_codes = params.comma_list("personCodes")
    if sim.quirks.strict_door_events:
        # What older guides document: doors required, and an event type or a person name.
        if not doors:
            raise HcpError.bad_parameter("doorIndexCodes")
        if not event_types and not person_name:
            raise HcpError.bad_parameter("eventType")
    sort_field = params.string("sortField")
    if sort_field is not None and sort_field != "SwipeTime":
        raise HcpError.bad_parameter("sortField")
    order = params.integer("orderType", choices=(0, 1))
    params.integer("personType", low=-1)
    for status in ("temperatureStatus", "wearMaskStatus", "maskStatus"):
        params.integer(status, low=-1, high=2)
    page_no, size = params.paging()
    if sim.quirks.ignore_event_type_filter:
        event_types = set()
    codes = set(person_codes or ()) | ({person_code} if person_code else set())
    query = events.EventQuery(
        start=start,
        end=end,
        door_codes=frozenset(doors),
        event_types=frozenset(event_types),
        person_ids=frozenset(person_ids) if person_ids else None,
        person_codes=frozenset(codes) if codes else None,
        person_name=person_name or None,
        ascending=order == 0,
    )
    tz = sim.config.utc_offset
    items = [events.door_event_record(e, tz) for e in events.search(sim.state, query)]
    return _page(sim, DOOR_EVENTS, items, page_no, size)


@endpoint("/api/acs/v1/event/pictures")
def event_pictures(sim: Simulator, params: Params, caller: Caller) -> Any:
    pic_uri = params.required_string("picUri", max_len=256)
    event = sim.state.events_by_pic.get(pic_uri)
    if event is None:
        raise HcpError.not_found("picUri")
    return picture(sim, events.picture_for(event, sim.config.utc_offset))


# --- Event subscription (numeric codes) -------------------------------------------------


def _event_type_list(params: Params) -> list[int]:
    """At most 256 event type codes, each in 100000..2147483647 (the catalogue)."""
    types = params.list_of("eventTypes", required=True, max_len=MAX_SUBSCRIBED_TYPES)
    if any(
        isinstance(t, bool) or not isinstance(t, int) or not MIN_EVENT_TYPE <= t <= MAX_EVENT_TYPE
        for t in types
    ):
        raise HcpError.bad_parameter("eventTypes")
    return types


@endpoint("/api/eventService/v1/eventSubscriptionByEventTypes", mutates=True, numeric_code=True)
def subscribe(sim: Simulator, params: Params, caller: Caller) -> Any:
    types = _event_type_list(params)
    dest = params.required_string("eventDest", max_len=1024)
    if not dest.startswith(("http://", "https://")):
        raise HcpError.bad_parameter("eventDest")
    token = params.string("token", max_len=256) or ""
    pass_back = params.integer("passBack", choices=(0, 1)) or 0
    push.subscribe(sim.state, types, dest, token, pass_back)
    return NO_DATA


@endpoint("/api/eventService/v1/eventSubscriptionView", numeric_code=True)
def subscription_view(sim: Simulator, params: Params, caller: Caller) -> Any:
    return {
        "detail": [
            {
                "eventTypes": list(sub.event_types),
                "eventDest": sub.event_dest,
                "passBack": sub.pass_back,
            }
            for sub in sim.state.subscriptions.values()
        ]
    }


@endpoint("/api/eventService/v1/eventUnSubscriptionByEventTypes", mutates=True, numeric_code=True)
def unsubscribe(sim: Simulator, params: Params, caller: Caller) -> Any:
    push.unsubscribe(sim.state, _event_type_list(params))
    return NO_DATA
