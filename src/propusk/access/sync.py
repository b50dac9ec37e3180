"""The full sync: what HCP holds for our persons against the desired state and our records
(docs/access-engine.md, "Full sync").

The reconciler repairs a person only when its work comes due and trusts ``HcpPerson`` for
memberships; HCP changed by hand, or restored from an old backup, or wiped, goes unnoticed by
it. The sync reads everything - our organisation's persons with our personCode prefix, the
members of every access level our policies use - compares each person with its desired state
and record, and queues the persons that differ (``request_reconcile``, priority ``SYNC``;
``REVOKE`` when HCP gives access it must not). It changes nothing in HCP itself: the reconciler
repairs the queued persons as it does any change, reading each one again first. Before
queueing a person it records what it saw (``reconciler.note_observed_person``): memberships
the engine never recorded are then removed, missing ones added again.

Never touched: persons outside our organisation or without our prefix, even in our access
levels (reported). A sync that could not read everything (a page failed, the circuit breaker
open) says so and queues nothing that would take access away.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings

from hikcentral import HCPNotFound, HikCentralClient, HikCentralError, PersonInfo
from propusk.access.desired import Desired, DesiredPerson, desired_state
from propusk.access.models import (
    AccessLevelPolicy,
    AccessWork,
    HcpPerson,
    WorkPriority,
    WorkState,
)
from propusk.access.reconciler import (
    OUR_PERSON_CODE_PREFIX,
    WorkFailed,
    note_observed_person,
    our_org_index_code,
    process_client,
    reconcile_due_work,
)
from propusk.access.work import request_reconcile, wake_reconciler
from propusk.core.time import now as current_time
from propusk.visitors.models import Visitor
from propusk.visits.models import ACTIVE_STATUSES

logger = logging.getLogger(__name__)

# What differs, per person of ours.
MISSING = "missing"  # wanted, and HCP has no person with its code
GONE = "gone"  # recorded as in HCP, no longer there, not wanted: the record is cleared
REPLACED = "replaced"  # HCP holds the code under another personId than recorded
UNRECORDED = "unrecorded"  # HCP holds it and we never recorded it (a backup restored...)
UNEXPLAINED = "unexplained"  # no visitor, no work and no revocation of ours explains it
OUTSIDE_OUR_ORG = "outside_our_org"  # the code is held in another organisation: not ours
VALIDITY = "validity"  # beginTime/endTime not as desired (or not ended for a revoked one)
DETAILS = "details"  # names, phone or e-mail not as desired
FACE_MISSING = "face_missing"  # a face is wanted and HCP has none
LEVEL_MISSING = "level_missing"  # a wanted access level HCP does not hold
LEVEL_EXTRA = "level_extra"  # an access level of our policies HCP holds and must not
RETENTION_OVER = "retention_over"  # revoked longer than the retention: to be deleted
# Persons never touched, reported.
NO_PREFIX_IN_OUR_ORG = "in_our_org_without_our_prefix"
MEMBER_OUTSIDE_OUR_ORG = "member_outside_our_org"
MEMBER_WITHOUT_PREFIX = "member_without_our_prefix"
MEMBER_UNKNOWN = "member_not_listed"  # a member HCP's person list did not show

# Kinds that take access away: never acted on after an incomplete read.
REMOVING = frozenset({GONE, UNEXPLAINED, LEVEL_EXTRA, RETENTION_OVER})

QUEUED = "queued"
QUEUED_REVOKE = "queued as a revocation"
WOULD_QUEUE = "would be queued"
BEING_RECONCILED = "being reconciled now"
NOT_ACTED_ON = "not acted on: the sync could not read everything"
REPORTED = "reported, left untouched"
FAILED_WORK = "not queued: its work failed"


@dataclass(frozen=True)
class PersonDrift:
    """One person and what differs (no name, phone or face: codes and HCP's ids only)."""

    # Ours only: the code of a person not ours is not ours to print (a site may use national
    # ID numbers as person codes); such persons are named by HCP's personId alone.
    person_code: str
    person_id: str  # HCP's personId, "" when HCP holds none with this code
    kinds: tuple[str, ...]
    action: str
    access_level_ids: tuple[str, ...] = ()  # for persons left untouched: the levels concerned

    def describe(self) -> str:
        who = self.person_code or "not ours"
        held = f"HCP person {self.person_id}" if self.person_id else "not in HCP"
        levels = (
            f" (access levels {', '.join(self.access_level_ids)})" if self.access_level_ids else ""
        )
        return f"{who} [{held}]: {', '.join(self.kinds)}{levels} -> {self.action}"


@dataclass
class SyncReport:
    """What a full sync read, found and queued."""

    dry_run: bool
    now: datetime
    complete: bool = True
    errors: list[str] = field(default_factory=list)
    checked: int = 0  # persons of ours compared
    drift: list[PersonDrift] = field(default_factory=list)
    untouched: list[PersonDrift] = field(default_factory=list)
    queued: list[str] = field(default_factory=list)

    @property
    def in_sync(self) -> bool:
        return self.complete and not self.drift

    def summary(self) -> dict[str, object]:
        return {
            "complete": self.complete,
            "dry_run": self.dry_run,
            "checked": self.checked,
            "drift": len(self.drift),
            "queued": len(self.queued),
            "untouched": len(self.untouched),
            "errors": list(self.errors),
        }


@dataclass
class HcpView:
    """What the sync read from HCP."""

    org_index_code: str
    ours: dict[str, PersonInfo]  # by person code: our organisation, our prefix
    elsewhere: dict[str, PersonInfo]  # by person code: our prefix, another organisation
    levels_of: dict[str, set[str]]  # personId -> the levels (of our policies) it is a member of
    read_levels: set[str]  # the levels whose members were read
    by_id: dict[str, PersonInfo]  # every person listed, and members the list did not show


def full_sync(
    *,
    client: HikCentralClient | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> SyncReport:
    """Compare HCP with the desired state and queue the repairs (``dry_run``: only report).

    Safe to run at any time and beside the workers: it queues work, and the reconciler, one
    person at a time, decides from what HCP holds then.
    """
    moment = now or current_time()
    report = SyncReport(dry_run=dry_run, now=moment)
    hcp = (client or process_client()).with_priority("sync")
    policy_levels = _policy_levels()
    view = _read(hcp, policy_levels, report)
    if view is None:
        _log(report)
        return report
    records = {row.person_code: row for row in HcpPerson.objects.all()}
    works = {row.person_code: row for row in AccessWork.objects.all()}
    codes = set(view.ours) | set(_codes_with_open_visits())
    codes |= {code for code, row in records.items() if row.person_id}
    for code in sorted(c for c in codes if c.startswith(OUR_PERSON_CODE_PREFIX)):
        report.checked += 1
        drift = _compare(
            code,
            desired=desired_state(code, now=moment),
            info=view.ours.get(code),
            elsewhere=view.elsewhere.get(code),
            record=records.get(code),
            work=works.get(code),
            view=view,
            report=report,
        )
        if drift is not None:
            report.drift.append(drift)
    _report_strangers(view, report)
    if report.queued:
        wake_reconciler()
    _log(report)
    return report


def _policy_levels() -> set[str]:
    levels: set[str] = set()
    for ids in AccessLevelPolicy.objects.values_list("hcp_access_level_ids", flat=True):
        levels.update(str(level) for level in ids or ())
    return levels


def _codes_with_open_visits() -> Iterable[str]:
    return (
        Visitor.objects.filter(visits__status__in=ACTIVE_STATUSES)
        .values_list("person_code", flat=True)
        .distinct()
    )


def _read(hcp: HikCentralClient, policy_levels: set[str], report: SyncReport) -> HcpView | None:
    """Everything the comparison needs. None: the persons could not be read (nothing can be
    compared); members of a level that could not be read leave the report incomplete."""
    try:
        org = our_org_index_code(hcp, refresh=True)
        persons = hcp.list_persons()
    except WorkFailed as exc:
        _incomplete(report, f"{exc.code}: {exc.message}")
        return None
    except HikCentralError as exc:
        _incomplete(report, f"could not read HCP's persons: {exc}")
        return None
    by_id = {person.person_id: person for person in persons}
    view = HcpView(
        org_index_code=org, ours={}, elsewhere={}, levels_of={}, read_levels=set(), by_id=by_id
    )
    for person in persons:
        code = person.person_code or ""
        prefixed = code.startswith(OUR_PERSON_CODE_PREFIX)
        if person.org_index_code == org and prefixed:
            view.ours[code] = person
        elif person.org_index_code == org:
            report.untouched.append(
                PersonDrift("", person.person_id, (NO_PREFIX_IN_OUR_ORG,), REPORTED)
            )
        elif prefixed:
            view.elsewhere[code] = person
    for level in sorted(policy_levels):
        try:
            members = hcp.list_access_level_members(level)
        except HCPNotFound:
            # A policy naming a level HCP does not have: nobody can be a member of it (the
            # reconciler fails the work of the persons who need it).
            logger.warning("access sync: HCP has no access level %s (used by a policy)", level)
            view.read_levels.add(level)
            continue
        except HikCentralError as exc:
            report.complete = False
            report.errors.append(f"could not read the members of access level {level}: {exc}")
            continue
        view.read_levels.add(level)
        for member in members:
            view.levels_of.setdefault(member.person_id, set()).add(level)
            if member.person_id not in by_id:
                by_id[member.person_id] = _unlisted(member.person_id, member.person_code)
    return view


def _unlisted(person_id: str, person_code: str | None) -> PersonInfo:
    return PersonInfo(
        person_id=person_id,
        person_code=person_code,
        org_index_code=None,
        begin_time=None,
        end_time=None,
        pic_uri=None,
    )


def _incomplete(report: SyncReport, error: str) -> None:
    report.complete = False
    report.errors.append(error)


def _compare(
    code: str,
    *,
    desired: Desired,
    info: PersonInfo | None,
    elsewhere: PersonInfo | None,
    record: HcpPerson | None,
    work: AccessWork | None,
    view: HcpView,
    report: SyncReport,
) -> PersonDrift | None:
    wanted = desired.person
    kinds: list[str] = []
    observed: set[str] = set()
    if info is None:
        known = record is not None and bool(record.person_id)
        if elsewhere is not None and (wanted is not None or known):
            kinds.append(OUTSIDE_OUR_ORG)
        elif wanted is not None:
            kinds.append(MISSING)
        elif known:
            kinds.append(GONE)
    else:
        observed = view.levels_of.get(info.person_id, set())
        recorded = record is not None and record.person_id == info.person_id
        if not recorded:
            kinds.append(REPLACED if record is not None and record.person_id else UNRECORDED)
        revoked_by_us = recorded and record is not None and record.revoked_at is not None
        if desired.visitor_id is None and work is None and not revoked_by_us:
            kinds.append(UNEXPLAINED)
        if wanted is not None:
            kinds += _wanted_differences(wanted, info, record if recorded else None)
            kinds += _level_differences(wanted.grant.access_level_ids, observed, view)
        else:
            if info.end_time is None or info.end_time > report.now:
                kinds.append(VALIDITY)
            kinds += _level_differences(frozenset(), observed, view)
            if (
                not kinds
                and revoked_by_us
                and record is not None
                and _retention_over(record, report)
            ):
                kinds.append(RETENTION_OVER)
    if not kinds:
        return None
    person_id = info.person_id if info is not None else ""
    action = _act(
        code,
        kinds,
        desired=desired,
        info=info,
        observed=observed,
        record=record,
        work=work,
        view=view,
        report=report,
    )
    return PersonDrift(code, person_id, tuple(kinds), action)


def _wanted_differences(
    wanted: DesiredPerson, info: PersonInfo, record: HcpPerson | None
) -> list[str]:
    kinds = []
    grant = wanted.grant
    if _second(info.begin_time) != _second(grant.begin) or _second(info.end_time) != _second(
        grant.end
    ):
        kinds.append(VALIDITY)
    if (
        (info.family_name or "") != wanted.family_name
        or (info.given_name or "") != wanted.given_name
        or (info.phone_no or "") != wanted.phone
        or (info.email or "") != wanted.email
    ):
        kinds.append(DETAILS)
    refused = (
        record is not None
        and record.face_version == wanted.face_version
        and bool(record.face_rejected_reason)
    )
    if wanted.face_version and not info.has_face and not refused:
        kinds.append(FACE_MISSING)
    return kinds


def _level_differences(wanted: frozenset[str], observed: set[str], view: HcpView) -> list[str]:
    kinds = []
    if (wanted & view.read_levels) - observed:
        kinds.append(LEVEL_MISSING)
    if observed - wanted:
        kinds.append(LEVEL_EXTRA)
    return kinds


def _retention_over(record: HcpPerson, report: SyncReport) -> bool:
    retention = timedelta(hours=settings.PROPUSK_ACCESS_RETENTION_HOURS)
    return record.revoked_at is not None and record.revoked_at <= report.now - retention


def _act(
    code: str,
    kinds: list[str],
    *,
    desired: Desired,
    info: PersonInfo | None,
    observed: set[str],
    record: HcpPerson | None,
    work: AccessWork | None,
    view: HcpView,
    report: SyncReport,
) -> str:
    """Queue the person's reconcile (after recording what was seen), or say why not."""
    if work is not None and work.state == WorkState.FAILED:
        again = " (retried by itself)" if work.retries_by_itself else ""
        return f"{FAILED_WORK} ({work.last_error_code}){again}"
    if work is not None and work.leased_until is not None and work.leased_until > report.now:
        return BEING_RECONCILED
    takes_away = bool(REMOVING.intersection(kinds)) or (desired.person is None and info is not None)
    if not report.complete and takes_away:
        return NOT_ACTED_ON
    revoke = info is not None and (
        LEVEL_EXTRA in kinds or (desired.person is None and VALIDITY in kinds)
    )
    if report.dry_run:
        return WOULD_QUEUE
    if info is not None:
        wanted = desired.person.grant.access_level_ids if desired.person else frozenset()
        note_observed_person(
            person_code=code,
            visitor_id=desired.visitor_id,
            person_id=info.person_id,
            access_level_ids=observed,
            lacks_wanted_level=bool((wanted & view.read_levels) - observed),
        )
    request_reconcile(
        person_code=code,
        visitor_id=desired.visitor_id or (record.visitor_id if record is not None else None),
        reason=f"full sync: {', '.join(kinds)}",
        priority=WorkPriority.REVOKE if revoke else WorkPriority.SYNC,
        now=report.now,
        wake=False,
    )
    report.queued.append(code)
    return QUEUED_REVOKE if revoke else QUEUED


def _report_strangers(view: HcpView, report: SyncReport) -> None:
    """Members of our access levels that are not persons of ours: reported, never touched."""
    ours = {info.person_id for info in view.ours.values()}
    by_id = view.by_id
    levels_of: dict[str, set[str]] = defaultdict(set)
    for person_id, levels in view.levels_of.items():
        if person_id not in ours:
            levels_of[person_id] |= levels
    for person_id in sorted(levels_of):
        person = by_id.get(person_id)
        if person is None or person.org_index_code is None:
            kind = MEMBER_UNKNOWN
        elif person.org_index_code != view.org_index_code:
            kind = MEMBER_OUTSIDE_OUR_ORG
        else:
            kind = MEMBER_WITHOUT_PREFIX
        report.untouched.append(
            PersonDrift(
                "",
                person_id,
                (kind,),
                REPORTED,
                access_level_ids=tuple(sorted(levels_of[person_id])),
            )
        )


def _second(value: datetime | None) -> datetime | None:
    return value.replace(microsecond=0) if value is not None else None


def _log(report: SyncReport) -> None:
    for drift in report.drift:
        logger.info("access sync: %s", drift.describe())
    for person in report.untouched:
        logger.info("access sync, not ours: %s", person.describe())
    if not report.complete:
        logger.warning("access sync incomplete, nothing taken away: %s", "; ".join(report.errors))
    logger.info("access sync: %s", report.summary())


# --- repairing at once (hcp_sync) ---------------------------------------------------------


@dataclass
class RepairOutcome:
    """The persons a sync queued, after draining the queue in this process."""

    repaired: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (person code, error)
    in_progress: list[str] = field(default_factory=list)  # held by a worker, or not yet due


def repair_now(
    report: SyncReport, *, client: HikCentralClient | None = None, now: datetime | None = None
) -> RepairOutcome:
    """Drain the work queue in this process (``hcp_sync`` need not wait for a worker) and say,
    person by person, whether what the sync queued converged."""
    outcome = RepairOutcome()
    if not report.queued:
        return outcome
    rounds = 1 + len(report.queued) // max(1, settings.PROPUSK_ACCESS_MAX_PER_RUN)
    for _ in range(rounds):
        result = reconcile_due_work(client=client, now=now)
        if not (result.reconciled or result.failed or result.retried):
            break
    moment = now or current_time()
    rows = {
        row.person_code: row for row in AccessWork.objects.filter(person_code__in=report.queued)
    }
    for code in report.queued:
        row = rows.get(code)
        if row is None or (
            row.state == WorkState.PENDING
            and not row.last_error_code
            and row.due_at > moment
            and not row.lease_token
        ):
            outcome.repaired.append(code)
        elif row.state == WorkState.FAILED or row.last_error_code:
            outcome.failed.append((code, f"{row.last_error_code}: {row.last_error_message}"))
        else:
            outcome.in_progress.append(code)
    return outcome
