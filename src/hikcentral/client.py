"""The HCP OpenAPI client: one typed method per call the project uses.

Every method either returns what HCP answered or raises a
:class:`~hikcentral.errors.HikCentralError` (transient or permanent). Nothing is swallowed and
nothing is invented: an "added" person without an id in the answer is an error, not a fake id.

List methods return *all* pages. Paging asks for ``config.page_size`` items per page (500 by
default) and halves it, up to twice, when HCP answers ``0x00072004`` (response too long).
It ends when the items received reach ``total`` (or ``totalNum``), or, without a total, on a
page shorter than asked (an empty one, often without ``list``, included). A short or empty page
while the total says more, and a page repeating the previous one (a server ignoring
``pageNo``), are :class:`~hikcentral.errors.HCPProtocolError`: never a silently truncated list,
never an endless loop. Items seen twice while paging (the list changed between pages) are
returned once.
"""

from __future__ import annotations

import base64
import copy
import heapq
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from types import TracebackType
from typing import Any, Final, TypeVar
from urllib.parse import quote

import httpx

from hikcentral.calls import OTHER_ENDPOINT, CallObserver
from hikcentral.config import HikCentralConfig
from hikcentral.envelope import data_object, data_page, data_string, is_empty_data
from hikcentral.errors import (
    HCPNotFound,
    HCPParameterError,
    HCPPermissionDenied,
    HCPProtocolError,
    HCPResponseTooLong,
    HCPUnsupported,
)
from hikcentral.limits import DEFAULT_PRIORITY, CircuitBreaker, RateLimiter
from hikcentral.models import (
    PERSON_CODE_RE,
    AccessLevel,
    AccessLevelMember,
    AccessLevelType,
    ApplicationFailure,
    ApplicationProgress,
    ApplicationStats,
    Door,
    DoorEvent,
    FaceCheckResult,
    Org,
    PersonApplication,
    PersonInfo,
    PersonInput,
    Subscription,
    Version,
    judge_application,
)
from hikcentral.timefmt import format_hcp_time
from hikcentral.transport import ResponseObserver, Transport, new_nonce, now_ms

__all__ = [
    "HikCentralClient",
    "Paths",
    "added_person_id",
    "endpoint_of",
    "filter_event_types",
]

T = TypeVar("T")

# Limits of /api/acs/v1/door/events. The documented window limit is 31 days; windows of 30
# days stay clear of servers that count the days inclusively.
EVENT_WINDOW: Final = timedelta(days=30)
EVENT_DOORS_PER_CALL: Final = 10
MAX_SUBSCRIPTION_EVENT_TYPES: Final = 256
# Event type codes HCP takes in subscriptions (the gateway catalogue).
MIN_EVENT_TYPE: Final = 100_000
MAX_EVENT_TYPE: Final = 2_147_483_647
MAX_PAGE_HALVINGS: Final = 2


class Paths:
    """Every OpenAPI path the client calls (after ``/artemis``)."""

    VERSION = "/api/common/v1/version"
    ORG_LIST = "/api/resource/v1/org/advance/orgList"
    PERSON_ADD = "/api/resource/v1/person/single/add"
    PERSON_UPDATE = "/api/resource/v1/person/single/update"
    PERSON_DELETE = "/api/resource/v1/person/single/delete"
    PERSON_BY_ID = "/api/resource/v1/person/personId/personInfo"
    PERSON_BY_CODE = "/api/resource/v1/person/personCode/personInfo"
    PERSON_LIST = "/api/resource/v1/person/personList"
    FACE_UPDATE = "/api/resource/v1/person/face/update"
    PICTURE_DATA = "/api/resource/v1/person/picture_data"
    ACCESS_LEVELS = "/api/acs/v1/privilege/group"
    ACCESS_LEVEL_ADD = "/api/acs/v1/privilege/group/single/addPersons"
    ACCESS_LEVEL_DELETE = "/api/acs/v1/privilege/group/single/deletePersons"
    ACCESS_LEVEL_MEMBERS = "/api/acs/v1/privilege/group/single/personList"
    REAPPLICATION = "/api/visitor/v1/auth/reapplication"
    APPLICATION_RESULT = "/api/acs/v1/auth/applicationResult"
    # The visitor module's per-person, per-device status; {id} is the personId.
    ELEMENT_DOWNLOAD_DETAIL = "/api/visitor/v1/person/{id}/elementDownloadDetail"
    DOOR_LIST = "/api/resource/v1/acsDoor/acsDoorList"
    DOOR_EVENTS = "/api/acs/v1/door/events"
    EVENT_PICTURE = "/api/acs/v1/event/pictures"
    FACE_CHECK = "/api/acs/v1/faceCheck"
    SUBSCRIBE = "/api/eventService/v1/eventSubscriptionByEventTypes"
    SUBSCRIPTION_VIEW = "/api/eventService/v1/eventSubscriptionView"
    UNSUBSCRIBE = "/api/eventService/v1/eventUnSubscriptionByEventTypes"

    @classmethod
    def all(cls) -> tuple[str, ...]:
        """Every path (templates with their ``{placeholder}``)."""
        return tuple(
            value for name, value in vars(cls).items() if name.isupper() and isinstance(value, str)
        )


_FIXED_ENDPOINTS: Final = frozenset(path for path in Paths.all() if "{" not in path)
_TEMPLATE_ENDPOINTS: Final = tuple(
    (re.compile(re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(path)) + "$"), path)
    for path in Paths.all()
    if "{" in path
)


def endpoint_of(path: str) -> str:
    """The endpoint a request path belongs to: the path itself, its template (an identifier
    replaced by ``{id}``), or ``other`` - never an identifier (``hikcentral.calls``)."""
    if path in _FIXED_ENDPOINTS:
        return path
    for pattern, template in _TEMPLATE_ENDPOINTS:
        if pattern.match(path):
            return template
    return OTHER_ENDPOINT


class HikCentralClient:
    """A synchronous client for one HCP server. Thread-safe; reuse one per process.

    ``rate_limiter`` and ``circuit_breaker`` are consulted before every HTTP request (see
    :mod:`hikcentral.limits`). ``response_observer(path, data)`` sees every successful
    answer's ``data`` (or a picture's bytes) before it is parsed: for diagnostics such as
    ``hcp_check --deep``. ``call_observer(endpoint, outcome, seconds)`` hears of every HTTP
    request, its outcome and duration, for metrics (:mod:`hikcentral.calls`).
    ``http_transport`` replaces httpx's network transport (tests only).
    How many persons go into one access-level or reapplication call is
    ``config.batch_size``.
    """

    def __init__(
        self,
        config: HikCentralConfig,
        *,
        rate_limiter: RateLimiter | None = None,
        circuit_breaker: CircuitBreaker | None = None,
        response_observer: ResponseObserver | None = None,
        call_observer: CallObserver | None = None,
        http_transport: httpx.BaseTransport | None = None,
        clock_ms: Callable[[], int] = now_ms,
        nonce_factory: Callable[[], str] = new_nonce,
    ) -> None:
        self._config = config
        self._batch_size = config.batch_size
        self._priority = DEFAULT_PRIORITY
        self._transport = Transport(
            config,
            rate_limiter=rate_limiter,
            circuit_breaker=circuit_breaker,
            response_observer=response_observer,
            call_observer=_by_endpoint(call_observer) if call_observer is not None else None,
            http_transport=http_transport,
            clock_ms=clock_ms,
            nonce_factory=nonce_factory,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> HikCentralClient:
        """A client configured from ``HCP_*`` environment variables."""
        return cls(HikCentralConfig.from_env(environ), **kwargs)

    def __repr__(self) -> str:
        return f"<HikCentralClient {self._config.base_url} priority={self._priority}>"

    @property
    def config(self) -> HikCentralConfig:
        return self._config

    @property
    def site_tz(self) -> tzinfo:
        return self._config.utc_offset

    def with_priority(self, priority: str) -> HikCentralClient:
        """The same client (same connections) whose requests ask the limiter for ``priority``."""
        clone = copy.copy(self)
        clone._priority = priority
        return clone

    def close(self) -> None:
        """Close the connection pool (shared with clients made by :meth:`with_priority`)."""
        self._transport.close()

    def __enter__(self) -> HikCentralClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- server and organisations --------------------------------------------------------

    def version(self) -> Version:
        data = self._read(Paths.VERSION, {})
        return Version.from_api(data_object(data, path=Paths.VERSION), path=Paths.VERSION)

    def list_orgs(self, *, org_name: str | None = None) -> list[Org]:
        body: dict[str, Any] = {"orgName": org_name} if org_name else {}
        return list(
            self._iter_pages(
                Paths.ORG_LIST,
                body,
                parse=lambda raw: Org.from_api(raw, path=Paths.ORG_LIST),
                key=lambda org: org.org_index_code,
            )
        )

    # --- persons -------------------------------------------------------------------------

    def add_person(self, person: PersonInput, *, face_jpeg: bytes | None = None) -> str:
        """Create a person; return the new personId.

        On a transient error with ``may_have_applied`` (timeout, dropped connection, 5xx) the
        person may exist: look it up with :meth:`get_person_by_code` before adding again.
        A duplicate personCode raises :class:`~hikcentral.errors.HCPAlreadyExists`.
        """
        body = self._person_body(person)
        if face_jpeg is not None:
            body["faces"] = [{"faceData": _face_base64(face_jpeg)}]
        ctx = {"person_code": person.person_code}
        return added_person_id(self._write(Paths.PERSON_ADD, body, ctx))

    def update_person(self, person_id: str, person: PersonInput) -> None:
        """Replace a person's fields (not the face: see :meth:`update_face`).

        HCP may clear fields an update omits, so this always sends the whole person.
        """
        body = {"personId": _require_id("person_id", person_id), **self._person_body(person)}
        self._write(Paths.PERSON_UPDATE, body, {"person_id": person_id})

    def delete_person(
        self, *, person_id: str | None = None, person_code: str | None = None
    ) -> None:
        """Delete by personId or personCode (exactly one). Unknown -> HCPNotFound.

        Sends ``adminPassword`` when the configuration has one (``HCP_ADMIN_PASSWORD``; the
        V3 catalogue marks it required). Wrong passwords count down to an IP lock-out: the
        error's ``remain_lock_number`` says how many tries are left. The success answer's
        ``data`` (``""`` or ``{"remainLockNumber": 5}``) is not relied on.
        """
        body, ctx = _person_ref(person_id, person_code)
        if self._config.admin_password is not None:
            body["adminPassword"] = self._config.admin_password
        self._write(Paths.PERSON_DELETE, body, ctx)

    def get_person_by_id(self, person_id: str) -> PersonInfo:
        body = {"personId": _require_id("person_id", person_id)}
        return self._person_info(Paths.PERSON_BY_ID, body, {"person_id": person_id})

    def get_person_by_code(self, person_code: str) -> PersonInfo:
        """The person with this personCode; :class:`HCPNotFound` if there is none."""
        body = {"personCode": _require_code(person_code)}
        return self._person_info(Paths.PERSON_BY_CODE, body, {"person_code": person_code})

    def iter_persons(self) -> Iterator[PersonInfo]:
        """Every person in HCP, page by page."""
        return self._iter_pages(
            Paths.PERSON_LIST,
            {},
            parse=lambda raw: PersonInfo.from_api(
                raw, site_tz=self.site_tz, path=Paths.PERSON_LIST
            ),
            key=lambda person: person.person_id,
        )

    def list_persons(self) -> list[PersonInfo]:
        return list(self.iter_persons())

    def update_face(
        self, jpeg: bytes, *, person_id: str | None = None, person_code: str | None = None
    ) -> None:
        """Replace the person's face picture (a JPEG; sent as base64 without a data: prefix)."""
        body, ctx = _person_ref(person_id, person_code)
        body["faceData"] = _face_base64(jpeg)
        self._write(Paths.FACE_UPDATE, body, ctx)

    def download_picture(
        self, pic_uri: str, *, person_id: str | None = None, person_code: str | None = None
    ) -> bytes:
        """The person's photo (``PersonInfo.pic_uri``) as image bytes."""
        body, ctx = _person_ref(person_id, person_code)
        body["picUri"] = _require_id("pic_uri", pic_uri)
        return self._transport.post_binary(
            Paths.PICTURE_DATA, body, priority=self._priority, log_context=ctx
        )

    def face_check(self, face_jpeg: bytes, *, acs_dev_index_code: str) -> FaceCheckResult:
        """Ask HCP whether this face picture is usable on a device (``acsDevIndexCode``).

        - usable True: success, and nothing in the answer says otherwise (its ``data`` shape is
          not published: a verdict field is read only if present, never required);
        - usable False: HCP refused the picture - a parameter error naming the face (or with a
          message about the face or picture), or an explicit "no" in the answer;
        - usable None: this server has no faceCheck (HTTP 404, "not supported" codes 8, 12,
          195): not known.

        Other errors raise as usual: transient ones (HCP down, busy, a timeout, the breaker
        open), a parameter error about the device, an unknown device (HCPNotFound). One
        attempt, no retry: someone is waiting at the desk.
        """
        body = {
            "faceData": _face_base64(face_jpeg),
            "acsDevIndexCode": _require_id("acs_dev_index_code", acs_dev_index_code),
        }
        try:
            data = self._transport.post_json(
                Paths.FACE_CHECK, body, priority=self._priority, idempotent=False
            )
        except HCPUnsupported as exc:
            return FaceCheckResult(usable=None, detail=exc.msg)
        except HCPParameterError as exc:
            if not _names_the_face(exc):
                raise
            return FaceCheckResult(usable=False, detail=exc.msg)
        return FaceCheckResult.from_api(data)

    # --- access levels -------------------------------------------------------------------

    def list_access_levels(
        self, level_type: AccessLevelType = AccessLevelType.ACCESS_CONTROL
    ) -> list[AccessLevel]:
        return list(
            self._iter_pages(
                Paths.ACCESS_LEVELS,
                {"type": int(level_type)},
                parse=lambda raw: AccessLevel.from_api(raw, path=Paths.ACCESS_LEVELS),
                key=lambda level: level.access_level_id,
            )
        )

    def add_persons_to_access_level(
        self,
        access_level_id: str,
        person_ids: Iterable[str],
        *,
        level_type: AccessLevelType = AccessLevelType.ACCESS_CONTROL,
    ) -> None:
        """Add persons to a level, ``batch_size`` per call. Devices change only on reapply.

        A failure part-way leaves earlier batches applied; the error says which path failed,
        and re-running is safe (membership is a set).
        """
        self._change_members(Paths.ACCESS_LEVEL_ADD, access_level_id, person_ids, level_type)

    def delete_persons_from_access_level(
        self,
        access_level_id: str,
        person_ids: Iterable[str],
        *,
        level_type: AccessLevelType = AccessLevelType.ACCESS_CONTROL,
    ) -> None:
        """Remove persons from a level, ``batch_size`` per call. Devices change on reapply."""
        self._change_members(Paths.ACCESS_LEVEL_DELETE, access_level_id, person_ids, level_type)

    def list_access_level_members(
        self,
        access_level_id: str,
        *,
        level_type: AccessLevelType = AccessLevelType.ACCESS_CONTROL,
    ) -> list[AccessLevelMember]:
        body = {
            "privilegeGroupId": _require_id("access_level_id", access_level_id),
            "type": int(level_type),
        }
        return list(
            self._iter_pages(
                Paths.ACCESS_LEVEL_MEMBERS,
                body,
                parse=lambda raw: AccessLevelMember.from_api(raw, path=Paths.ACCESS_LEVEL_MEMBERS),
                key=lambda member: member.person_id,
                ctx={"access_level_id": access_level_id},
            )
        )

    # --- applying to devices -------------------------------------------------------------

    def reapply(
        self,
        *,
        person_ids: Iterable[str],
        door_index_codes: Iterable[str],
        include_failed: bool = True,
        send_order_id: bool = True,
    ) -> None:
        """Ask HCP to push these persons' current settings to these doors' devices now.

        Asynchronous: poll :meth:`application_progress`. Persons go ``batch_size`` per call;
        ids travel as comma-separated strings. ``include_failed`` also retries items whose
        earlier application failed (HCP's ``ImmediateDownload`` 0; 1 skips them).
        ``send_order_id`` sends ``orderId: ""`` as working integrations do; the catalogue's
        example leaves it out (``hcp_check --deep`` tries both).
        """
        ids = _unique_ids("person_ids", person_ids)
        doors = _unique_ids("door_index_codes", door_index_codes)
        if not ids or not doors:
            raise ValueError("reapply needs at least one person and one door")
        for batch in _chunks(ids, self._batch_size):
            body: dict[str, Any] = {"orderId": ""} if send_order_id else {}
            body.update(
                {
                    "ImmediateDownload": 0 if include_failed else 1,
                    "personIds": ",".join(batch),
                    "doorIndexCodes": ",".join(doors),
                }
            )
            self._write(Paths.REAPPLICATION, body, {"persons": len(batch), "doors": len(doors)})

    def application_stats(
        self, level_type: AccessLevelType = AccessLevelType.ACCESS_CONTROL
    ) -> ApplicationStats:
        """What is still waiting to be applied to devices, and what failed - as far as HCP's
        answer says: no public source shows its shape, so an answer the client cannot read
        is "not known" (``known`` False, ``settled`` None), never an error."""
        body = {"applicationResultType": 1, "type": int(level_type)}
        return ApplicationStats.from_api(self._read(Paths.APPLICATION_RESULT, body))

    def application_failures(
        self, level_type: AccessLevelType = AccessLevelType.ACCESS_CONTROL
    ) -> list[ApplicationFailure]:
        """Every listed failure to reach a device (all pages; every item field optional)."""
        return list(
            self._iter_pages(
                Paths.APPLICATION_RESULT,
                {"applicationResultType": 2, "type": int(level_type)},
                parse=lambda raw: ApplicationFailure.from_api(
                    raw, site_tz=self.site_tz, path=Paths.APPLICATION_RESULT
                ),
                key=None,
            )
        )

    def person_application(self, person_id: str) -> PersonApplication | None:
        """One person's status on each device (``elementDownloadDetail``, documented for the
        visitor module's persons). None: HCP refuses it - for this person or on this server
        (not found, not supported, a parameter or permission error): ask
        ``applicationResult`` instead. An answer it cannot read is "not known"
        (``known`` False), never an error. Transient errors raise as usual."""
        ident = _require_id("person_id", person_id)
        path = Paths.ELEMENT_DOWNLOAD_DETAIL.replace("{id}", quote(ident, safe=""))
        try:
            data = self._read(path, {"id": ident}, {"person_id": ident})
        except (HCPNotFound, HCPUnsupported, HCPParameterError, HCPPermissionDenied):
            return None
        return PersonApplication.from_api(ident, data)

    def application_progress(
        self,
        person_ids: Iterable[str],
        *,
        door_index_codes: Iterable[str] | None = None,
        level_type: AccessLevelType = AccessLevelType.ACCESS_CONTROL,
    ) -> ApplicationProgress:
        """Whether these persons' changes reached the devices (see :func:`judge_application`).

        Reads the failure list (type 2) and the statistics (type 1). Whatever the statistics'
        shape, a failure listed for one of the persons is FAILED; when neither answer says,
        the outcome is UNKNOWN: confirm with a granted door event of the person
        (:meth:`search_door_events`) or by time.
        """
        ids = _unique_ids("person_ids", person_ids)
        if not ids:
            raise ValueError("person_ids is empty")
        doors = None
        if door_index_codes is not None:
            doors = _unique_ids("door_index_codes", door_index_codes)
        return judge_application(
            stats=self.application_stats(level_type),
            failures=self.application_failures(level_type),
            person_ids=ids,
            door_index_codes=doors,
        )

    # --- doors and events ----------------------------------------------------------------

    def list_doors(self) -> list[Door]:
        return list(
            self._iter_pages(
                Paths.DOOR_LIST,
                {},
                parse=lambda raw: Door.from_api(raw, path=Paths.DOOR_LIST),
                key=lambda door: door.door_index_code,
            )
        )

    def search_door_events(
        self,
        start: datetime,
        end: datetime,
        *,
        door_index_codes: Iterable[str] | None = None,
        event_types: Iterable[int] | None = None,
        person_code: str | None = None,
        person_id: str | None = None,
    ) -> Iterator[DoorEvent]:
        """Every door event in ``[start, end]``, oldest first, each eventId once.

        HCP allows 31 days and 10 doors per call; longer ranges are split into windows of
        ``EVENT_WINDOW`` and door lists into groups of 10, and each part is read page by page
        (ascending, so events arriving meanwhile land on later pages, not shift earlier ones).
        ``door_index_codes=None`` means every door :meth:`list_doors` returns (older HCP
        versions reject a search without doors). ``event_types`` is also applied to what comes
        back, so a server that ignores the filter cannot slip other events in. HCP takes one
        person filter at a time: ``person_code`` or ``person_id``. The iterator is lazy: calls
        happen as it is consumed.
        """
        if person_code is not None and person_id is not None:
            raise ValueError("pass person_code or person_id, not both (HCP refuses both)")
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("start and end must be aware datetimes")
        if end <= start:
            raise ValueError("end must be after start")
        types = sorted(set(event_types)) if event_types is not None else None
        if types is not None and not types:
            raise ValueError("event_types is empty (pass None for every type)")
        doors: list[str] | None = None  # None: every door, listed when iteration starts
        if door_index_codes is not None:
            doors = _unique_ids("door_index_codes", door_index_codes)
            if not doors:
                raise ValueError("door_index_codes is empty (pass None for every door)")
        return self._iter_door_events(
            start, end, doors=doors, types=types, person_code=person_code, person_id=person_id
        )

    def event_picture(self, pic_uri: str) -> bytes:
        """The camera picture of a door event (``DoorEvent.pic_uri``) as image bytes."""
        body = {"picUri": _require_id("pic_uri", pic_uri)}
        return self._transport.post_binary(Paths.EVENT_PICTURE, body, priority=self._priority)

    # --- event push subscriptions --------------------------------------------------------

    def subscribe_events(
        self, event_types: Iterable[int], *, dest: str, token: str, pass_back: bool = False
    ) -> None:
        """Ask HCP to push these event types to ``dest`` with ``token`` in a header.

        More than 256 types are sent in several calls.
        """
        types = _event_types(event_types)
        if not dest.startswith(("https://", "http://")):
            raise ValueError("dest must be an http(s) URL")
        for batch in _chunks(types, MAX_SUBSCRIPTION_EVENT_TYPES):
            body = {
                "eventTypes": batch,
                "eventDest": dest,
                "token": token,
                "passBack": 1 if pass_back else 0,
            }
            self._write(Paths.SUBSCRIBE, body, {"event_types": len(batch)})

    def view_subscriptions(self) -> list[Subscription]:
        data = self._read(Paths.SUBSCRIPTION_VIEW, {})
        if is_empty_data(data):
            return []
        if isinstance(data, Mapping):
            items = data.get("detail")
            if items is None:
                return []
        else:
            items = data
        if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
            raise HCPProtocolError("subscription view is not a list", path=Paths.SUBSCRIPTION_VIEW)
        return [Subscription.from_api(item, path=Paths.SUBSCRIPTION_VIEW) for item in items]

    def unsubscribe_events(self, event_types: Iterable[int]) -> None:
        types = _event_types(event_types)
        for batch in _chunks(types, MAX_SUBSCRIPTION_EVENT_TYPES):
            self._write(Paths.UNSUBSCRIBE, {"eventTypes": batch}, {"event_types": len(batch)})

    # --- internals -----------------------------------------------------------------------

    def _read(
        self, path: str, body: Mapping[str, Any], ctx: Mapping[str, object] | None = None
    ) -> Any:
        return self._transport.post_json(
            path, body, priority=self._priority, idempotent=True, log_context=ctx
        )

    def _write(
        self, path: str, body: Mapping[str, Any], ctx: Mapping[str, object] | None = None
    ) -> Any:
        return self._transport.post_json(
            path, body, priority=self._priority, idempotent=False, log_context=ctx
        )

    def _person_body(self, person: PersonInput) -> dict[str, Any]:
        body: dict[str, Any] = {
            "personCode": person.person_code,
            "personFamilyName": person.family_name,
            "personGivenName": person.given_name,
            "gender": int(person.gender),
            "orgIndexCode": person.org_index_code,
            "beginTime": format_hcp_time(person.begin_time, self.site_tz),
            "endTime": format_hcp_time(person.end_time, self.site_tz),
        }
        for key, value in (
            ("phoneNo", person.phone_no),
            ("email", person.email),
            ("remark", person.remark),
        ):
            if value is not None:
                body[key] = value
        if person.card_numbers:
            body["cards"] = [{"cardNo": card_no} for card_no in person.card_numbers]
        return body

    def _person_info(
        self, path: str, body: Mapping[str, Any], ctx: Mapping[str, object]
    ) -> PersonInfo:
        data = self._read(path, body, ctx)
        if is_empty_data(data):
            # Seen on some versions instead of code 128.
            raise HCPNotFound("HCP answered success without a person", path=path)
        return PersonInfo.from_api(data_object(data, path=path), site_tz=self.site_tz, path=path)

    def _change_members(
        self,
        path: str,
        access_level_id: str,
        person_ids: Iterable[str],
        level_type: AccessLevelType,
    ) -> None:
        level_id = _require_id("access_level_id", access_level_id)
        ids = _unique_ids("person_ids", person_ids)
        for batch in _chunks(ids, self._batch_size):
            body = {
                "privilegeGroupId": level_id,
                "type": int(level_type),
                "list": [{"id": person_id} for person_id in batch],
            }
            self._write(path, body, {"access_level_id": level_id, "persons": len(batch)})

    def _iter_pages(
        self,
        path: str,
        body: Mapping[str, Any],
        *,
        parse: Callable[[Mapping[str, Any]], T],
        key: Callable[[T], str] | None,
        ctx: Mapping[str, object] | None = None,
    ) -> Iterator[T]:
        """Yield the parsed items of every page, each ``key`` once (see :func:`_paginate`)."""

        def read_page(page_no: int, size: int) -> Any:
            return self._read(path, {**body, "pageNo": page_no, "pageSize": size}, ctx)

        seen: set[str] = set()
        for raw in _paginate(read_page, path=path, page_size=self._config.page_size):
            item = parse(raw)
            if key is not None:
                item_key = key(item)
                if item_key in seen:
                    continue
                seen.add(item_key)
            yield item

    def _iter_door_events(
        self,
        start: datetime,
        end: datetime,
        *,
        doors: Sequence[str] | None,
        types: Sequence[int] | None,
        person_code: str | None,
        person_id: str | None,
    ) -> Iterator[DoorEvent]:
        if doors is None:
            doors = [door.door_index_code for door in self.list_doors()]
        if not doors:
            return
        seen: set[str] = set()
        for window_start, window_end in _windows(start, end, EVENT_WINDOW):
            base: dict[str, Any] = {
                "startTime": format_hcp_time(window_start, self.site_tz),
                "endTime": format_hcp_time(window_end, self.site_tz),
                "sortField": "SwipeTime",
                "orderType": 0,
            }
            if types is not None:
                if len(types) == 1:
                    base["eventType"] = types[0]
                else:
                    base["eventTypes"] = ",".join(str(t) for t in types)
            if person_code is not None:
                base["personCode"] = person_code
            if person_id is not None:
                base["personId"] = person_id
            streams = [
                self._iter_pages(
                    Paths.DOOR_EVENTS,
                    {**base, "doorIndexCodes": list(group)},
                    parse=lambda raw: DoorEvent.from_api(
                        raw, site_tz=self.site_tz, path=Paths.DOOR_EVENTS
                    ),
                    key=None,
                    ctx={"doors": len(group)},
                )
                for group in _chunks(list(doors), EVENT_DOORS_PER_CALL)
            ]
            merged = heapq.merge(*streams, key=lambda e: e.event_time)
            for event in filter_event_types(merged, types):
                if event.event_id in seen:
                    continue
                seen.add(event.event_id)
                yield event


# --- helpers -------------------------------------------------------------------------------


def added_person_id(data: object) -> str:
    """The personId from person add's successful ``data``: the plain string HCP's guide and a
    live server show (digits or a GUID; a number is taken as its digits).

    HCP said success, so the person exists whatever the answer's shape: any other shape is an
    :class:`HCPProtocolError` with ``may_have_applied``, sending the caller to look the person
    up by personCode - never a made-up id.
    """
    no_id = HCPProtocolError(
        "person add succeeded without a plain personId in data; look the person up by personCode",
        path=Paths.PERSON_ADD,
        may_have_applied=True,
    )
    try:
        person_id = data_string(data, path=Paths.PERSON_ADD)
    except HCPProtocolError as exc:
        raise no_id from exc
    if not person_id or not person_id.strip():
        raise no_id
    return person_id


def filter_event_types(
    events: Iterable[DoorEvent], event_types: Collection[int] | None
) -> Iterator[DoorEvent]:
    """The events whose type is in ``event_types`` (all of them for None), in order."""
    if event_types is None:
        yield from events
        return
    wanted = frozenset(event_types)
    for event in events:
        if event.event_type in wanted:
            yield event


def _paginate(
    read_page: Callable[[int, int], Any], *, path: str, page_size: int
) -> Iterator[Mapping[str, Any]]:
    """The raw items of every page, in HCP's order; ``read_page(page_no, page_size)`` returns
    the envelope's ``data``. The rules are in the module docstring."""
    size = page_size
    halvings = 0
    offset = 0  # items received so far, counted in HCP's order
    total: int | None = None  # the last total HCP stated (a page without data states none)
    previous: list[Mapping[str, Any]] = []
    while True:
        page_no = offset // size + 1
        skip = offset - (page_no - 1) * size
        try:
            data = read_page(page_no, size)
        except HCPResponseTooLong:
            if halvings >= MAX_PAGE_HALVINGS or size == 1:
                raise
            size = max(1, size // 2)
            halvings += 1
            continue
        page = data_page(data, path=path)
        if page.items and page.items == previous:
            # A server that ignores pageNo would otherwise loop forever (no total) or end
            # early with the first page only (a total reached by counting repeats).
            raise HCPProtocolError(f"page {page_no} repeats the previous page", path=path)
        previous = page.items
        yield from page.items[skip:]
        received = len(page.items)
        offset += max(0, received - skip)
        if page.total is not None:
            total = page.total
        if total is None:
            if received < size:
                return
            continue
        if offset >= total:
            return
        if received < size:
            raise HCPProtocolError(
                f"short page {page_no} ({received} of {size}) while total is {total}",
                path=path,
            )


def _windows(start: datetime, end: datetime, length: timedelta) -> list[tuple[datetime, datetime]]:
    """``[start, end]`` cut into windows of at most ``length``, on whole seconds.

    The start is rounded down and the end up, so no event is lost to HCP's second-precision
    times; windows share their boundary second and the caller drops the duplicates.
    """
    start = start.replace(microsecond=0)
    if end.microsecond:
        end = end.replace(microsecond=0) + timedelta(seconds=1)
    windows = []
    cursor = start
    while cursor < end:
        window_end = min(cursor + length, end)
        windows.append((cursor, window_end))
        cursor = window_end
    return windows


def _chunks(items: Sequence[T], size: int) -> Iterator[list[T]]:
    for index in range(0, len(items), size):
        yield list(items[index : index + size])


def _require_id(name: str, value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string")
    return value


def _require_code(person_code: str) -> str:
    if not isinstance(person_code, str) or not PERSON_CODE_RE.match(person_code):
        raise ValueError("person_code must be 1-16 ASCII letters and digits")
    return person_code


def _unique_ids(name: str, values: Iterable[str]) -> list[str]:
    if isinstance(values, str):
        raise TypeError(f"{name} must be a collection of strings, not one string")
    ids = [_require_id(name, value) for value in values]
    for value in ids:
        if "," in value:
            raise ValueError(f"{name}: an id cannot contain a comma: {value!r}")
    return list(dict.fromkeys(ids))


def _person_ref(
    person_id: str | None, person_code: str | None
) -> tuple[dict[str, Any], dict[str, object]]:
    if person_id is not None and person_code is None:
        return {"personId": _require_id("person_id", person_id)}, {"person_id": person_id}
    if person_code is not None and person_id is None:
        return {"personCode": _require_code(person_code)}, {"person_code": person_code}
    raise ValueError("pass exactly one of person_id and person_code")


def _face_base64(jpeg: bytes) -> str:
    if not jpeg.startswith(b"\xff\xd8\xff"):
        raise ValueError("the face must be a JPEG picture")
    return base64.b64encode(jpeg).decode("ascii")


def _names_the_face(exc: HCPParameterError) -> bool:
    """Whether a faceCheck parameter error is about the picture (not about the device)."""
    if exc.field is not None:
        return exc.field == "faceData"
    text = (exc.msg or "").lower()
    return any(word in text for word in ("face", "picture", "image", "photo"))


def _event_types(event_types: Iterable[int]) -> list[int]:
    types = sorted({int(t) for t in event_types})
    if not types:
        raise ValueError("event_types is empty")
    for event_type in types:
        if not MIN_EVENT_TYPE <= event_type <= MAX_EVENT_TYPE:
            raise ValueError(
                f"event type {event_type} is outside {MIN_EVENT_TYPE}..{MAX_EVENT_TYPE}"
            )
    return types


def _by_endpoint(observer: CallObserver) -> CallObserver:
    """The observer told the endpoint of each request instead of its path."""

    def observe(path: str, outcome: str, seconds: float | None) -> None:
        observer(endpoint_of(path), outcome, seconds)

    return observe
