"""The reconciler: brings each of our HCP persons to its desired state (docs/access-engine.md).

``reconcile_due_work`` drains the durable work (``AccessWork``, written by ``access.work``
with the change that caused it). Each row is claimed with a conditional UPDATE that sets a
lease, so two workers never reconcile one person at once and no database transaction stays
open while HCP is called (SQLite's IMMEDIATE transactions would block every writer). The
claimed persons are reconciled as a batch:

1. per person: read the desired state (``access.desired``) and what HCP holds (look-up by
   personCode, skipped for a person ``HcpPerson`` says was never added), check that the person
   is ours, then add, update, revoke - or, revoked longer than the retention, delete - it with
   the fewest calls (a lost "add" answer is followed by a look-up, never a second add);
2. access-level memberships for the whole batch, one call per level (and per ``batch_size``
   persons);
3. one reapplication for the batch, so the devices learn the change; then the revoked
   persons' validity is ended (after it: the devices drop a person with its memberships);
4. what HCP accepted is recorded in ``HcpPerson`` and the work row is deleted - or kept, due
   when the desired state changes by time alone (a window opening or closing) - unless a new
   change came in meanwhile (its generation moved), which keeps it pending.

Revocations have batches of their own, and a batch of grants gives way between persons to a
revocation that comes due. A transient HCP error puts the person's work back with exponential
backoff and jitter - the circuit breaker's refusals count no attempt, and its closing makes
every such row due at once (``hcp_answers_again``); a permanent one marks it failed with HCP's
code and message (tried again on a slow schedule when it may clear by itself); neither holds
up the other persons of the batch. ``check_application`` - at the start and end of a run, and
between batches and persons while a revocation waits - asks HCP whether the changes reached
the devices and records the time to revoke on the visits whose access ended. Each run first
queues the persons whose retention is over (``queue_retention_cleanup``). The organisation
and the door list are kept between runs (``OurOrganisation``, ``_door_codes``); the full sync
(``access.sync``) records what it saw with ``note_observed_person`` before queueing a person.
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connections, models, transaction
from django.db.models import Exists, Min, OuterRef, Q

from hikcentral import (
    ApplicationFailure,
    ApplicationOutcome,
    ApplicationStats,
    CircuitOpenError,
    HCPAlreadyExists,
    HCPLimitReached,
    HCPNotFound,
    HCPParameterError,
    HCPRateLimited,
    HikCentralClient,
    HikCentralError,
    PermanentError,
    PersonApplication,
    PersonInfo,
    PersonInput,
    TransientError,
    judge_application,
)
from propusk.access.desired import Desired, DesiredPerson, desired_state
from propusk.access.models import AccessWork, ApplyState, HcpPerson, WorkPriority, WorkState
from propusk.access.work import (
    REVOCATION_CHECK_KEY,
    REVOCATION_DUE_KEY,
    lower_hint,
    read_hints,
    request_reconcile,
    set_hint,
    wake_reconciler,
)
from propusk.audit.services import record
from propusk.core.time import now as current_time
from propusk.integrations.hikcentral.breaker import breaker_wait, build_circuit_breaker
from propusk.integrations.hikcentral.factory import build_client, build_config
from propusk.integrations.hikcentral.parallel import Outcome, in_caller, side_by_side
from propusk.visitors.models import Visitor, face_storage
from propusk.visits.models import Visit

logger = logging.getLogger(__name__)

AUDIT_ACTOR = "access-engine"
# Every visitor's personCode starts with it (visitors.models.new_person_code): a person code
# without it was not made by Propusk, and its person is never touched.
OUR_PERSON_CODE_PREFIX = "V"
# The limiter's priority names (hikcentral.limits): revocations ahead of grants ahead of syncs.
PRIORITY_NAMES = {
    WorkPriority.REVOKE: "revoke",
    WorkPriority.GRANT: "grant",
    WorkPriority.SYNC: "sync",
}
JPEG_MAGIC = b"\xff\xd8\xff"
MESSAGE_LENGTH = 500  # AccessWork.last_error_message, HcpPerson.apply_error and the like
RESCHEDULED_REASON = "access window boundary"
VALIDITY_END_DEFERRED_REASON = "validity end, deferred while revocations waited"
VALIDITY_END_AFTER_REMOVAL_REASON = "look-up and validity end, after a revocation from the record"
# A batch of revocations holds at most a quarter of HCP_BATCH_SIZE persons (5 of 20).
REVOKE_BATCH_DIVISOR = 4
# A revocation waiting for the devices is asked about again every quarter of
# PROPUSK_ACCESS_APPLY_CHECK_SECONDS after its first check (0.25 s by default): one call
# (two while HCP lists failures) for every revocation waiting, four a second at most.
REVOKE_RECHECK_DIVISOR = 4
LINGER_MIN_WAIT = 0.05  # seconds
# A lingering run looks at the revocation hint this often while it waits (a cache read).
LINGER_SLICE = 0.02  # seconds


@dataclass
class ReconcileResult:
    """What one run did: persons reconciled, work failed or put back for a retry, and the
    devices' application confirmed, failed or still awaited."""

    reconciled: int = 0
    failed: int = 0
    retried: int = 0
    applied: int = 0
    apply_failed: int = 0
    waiting: int = 0
    # The circuit breaker refused a call: seconds until it lets one through (the run stopped
    # there; the task looks again then). 0: it did not.
    paused_for: float = 0.0
    # Persons wait for the devices: seconds until the first of them may be asked about
    # (the task's follow-up run). 0: none waits.
    next_check_in: float = 0.0
    # A revocation refused over HCP's call quota is due again this soon (the task runs
    # again then, not at the sweep). 0: none was.
    revocation_retry_in: float = 0.0

    def add(self, other: ReconcileResult) -> None:
        """Count in what another thread of the run did (``RevocationLane``); what waits for
        the devices is the run's own last look's to say."""
        self.reconciled += other.reconciled
        self.failed += other.failed
        self.retried += other.retried
        self.applied += other.applied
        self.apply_failed += other.apply_failed
        self.paused_for = max(self.paused_for, other.paused_for)
        sooner = [value for value in (self.revocation_retry_in, other.revocation_retry_in) if value]
        self.revocation_retry_in = min(sooner, default=0.0)


class WorkFailed(Exception):
    """The work cannot succeed as things stand (not our person, no organisation...): it is
    marked failed with this code and message until a new change puts it back."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Claim:
    """A work row leased by this run."""

    pk: int
    person_code: str
    visitor_id: int | None
    generation: int
    priority: int
    attempts: int
    token: str
    # The code the work had failed with, when it was failed work retried by itself.
    failed_code: str = ""
    # How long the lease holds from each renewal (claim_due_work).
    lease_seconds: float = 0.0


@dataclass
class PersonRun:
    """One person's reconcile in a batch: what was read, and what HCP holds after our calls."""

    claim: Claim
    desired: Desired
    confirmed: HcpPerson | None
    person_id: str = ""
    begin_time: datetime | None = None
    end_time: datetime | None = None
    held: frozenset[str] = frozenset()  # the access levels HCP holds (or may hold)
    wanted: frozenset[str] = frozenset()
    face_version: str = ""
    face_rejected_reason: str = ""
    has_face: bool = False
    changed: bool = False  # something changed in HCP: the devices must be told
    revoked: bool = False
    deleted: bool = False  # deleted from HCP with its face after the retention
    # The last reconcile stopped part-way: memberships it recorded may not have been made.
    unfinished: bool = False
    # Former personIds of the code reapplied by this run (_clear_stale_persons): the devices
    # drop them only once HCP applied that, so they are followed up like any change.
    stale_reapplied: tuple[str, ...] = ()
    # A revocation's validity end, sent after the batch's reapplication (_end_validities).
    end_validity: PersonInput | None = None
    # ... or left, while other revocations wait, to a work of its own at SYNC priority.
    end_validity_deferred: bool = False
    # ... and why (the work's reason, shown to operators).
    deferred_reason: str = VALIDITY_END_DEFERRED_REASON

    @property
    def person_code(self) -> str:
        return self.claim.person_code

    @property
    def visitor_id(self) -> int | None:
        return self.desired.visitor_id or self.claim.visitor_id

    @property
    def needs_reapply(self) -> bool:
        if not self.person_id:
            return False
        if self.changed:
            return True
        confirmed = self.confirmed
        return (
            confirmed is not None
            and confirmed.person_id == self.person_id
            and (confirmed.needs_reapply or confirmed.apply_state == ApplyState.FAILED)
        )


# --- the run ------------------------------------------------------------------------------


def reconcile_due_work(
    *,
    client: HikCentralClient | None = None,
    now: datetime | None = None,
    limit: int | None = None,
    linger: float = 0.0,
) -> ReconcileResult:
    """Reconcile the persons whose work is due (at most ``limit``), then check what HCP has
    applied to the devices. Safe to run in many workers at once, and again at any time.

    ``linger`` (seconds; the task passes it, only with the real clock): while a revocation
    waits for the devices, the run does not end when nothing is due - it waits for the
    revocation's next check (a quarter of the check interval at most between looks), asks,
    and takes any work that came due meanwhile, until no revocation waits or ``linger``
    seconds passed without work. A follow-up task would wait behind whatever its worker
    runs; the run that reapplied asks the devices itself."""
    hcp = client or process_client()
    cap = settings.PROPUSK_ACCESS_MAX_PER_RUN if limit is None else limit
    batch_size = hcp.config.batch_size
    token = secrets.token_hex(16)
    result = ReconcileResult()
    org = OurOrganisation()
    taken = 0
    lingering = linger > 0 and now is None
    linger_until = time.monotonic() + linger
    lane, keeper, lease = _threads_beside(hcp, token=token, lingering=lingering)
    queue_retention_cleanup(now=now or current_time(), limit=cap)
    if keeper is not None:
        keeper.start()
    try:
        # The devices first: what was applied while no worker looked (an outage of the
        # workers) is judged before this run's own reapplications keep HCP busy.
        check_application(hcp, now=now, into=result)
        while taken < cap and not result.paused_for:
            moment = now or current_time()
            watched = lane is not None and lane.looking
            if taken and not watched and _revocation_check_due(now=moment):
                check_application(hcp, now=now, into=result)
            claims = claim_due_work(
                now=moment, limit=min(batch_size, cap - taken), token=token, lease_seconds=lease
            )
            if not claims:
                wait = _linger_wait(now=moment) if lingering else None
                if wait is None or time.monotonic() + wait > linger_until:
                    break
                _linger_sleep(wait)
                if not (lane is not None and lane.looking):
                    check_application(hcp, now=None, into=result, revocations_only=True)
                continue
            linger_until = time.monotonic() + linger
            first = WorkPriority(min(claim.priority for claim in claims))
            if lane is not None and first != WorkPriority.REVOKE:
                lane.ensure_started()
            taken += _reconcile_batch(
                hcp.with_priority(PRIORITY_NAMES[first]),
                claims,
                now=moment,
                fixed_now=now,
                org=org,
                into=result,
                lane=lane,
            )
        if lane is not None:
            # Before the last look: the lane's last batch may have reapplied persons.
            lane.stop(into=result)
        if not result.paused_for:
            check_application(hcp, now=now, into=result)
    except BaseException:
        _release_leases(token)
        if lane is not None:
            lane.stop(into=result, raising=False)
        raise
    finally:
        if keeper is not None:
            keeper.stop()
    return result


def _threads_beside(
    hcp: HikCentralClient, *, token: str, lingering: bool
) -> tuple[RevocationLane | None, LeaseKeeper | None, float | None]:
    """The threads beside a run, which only a run on the real clock that lingers (the task's)
    has: its revocation lane (started before its first batch of grants), its lease keeper
    (not started yet), and the lease its claims take (None: the long one)."""
    if not lingering:
        return None, None, None
    renewed = settings.PROPUSK_ACCESS_LEASE_RENEWED_SECONDS or None
    lane = (
        RevocationLane(hcp, lease_seconds=renewed)
        if settings.PROPUSK_ACCESS_REVOCATION_LANE
        else None
    )
    tokens = [token, *([lane.token] if lane is not None else [])]
    keeper = LeaseKeeper(tokens, renewed) if renewed else None
    return lane, keeper, renewed


class LeaseKeeper:
    """Renews a run's leases from a thread of its own, every third of
    ``PROPUSK_ACCESS_LEASE_RENEWED_SECONDS``, so that they can be that short: a worker killed
    in the middle of a batch (its process gone, nothing to give the leases back) holds its
    persons that long, not ``PROPUSK_ACCESS_LEASE_SECONDS`` - another worker takes a
    revocation it was making within seconds. The run's own thread cannot renew them on time:
    one call may wait for HCP's quota or its answer longer than that.

    Only the task's run has one (lingering on the real clock, like the revocation lane); a run
    without it takes the long lease. A renewal the database refuses is logged and tried again
    at the next tick (the leases may lapse meanwhile: another worker then takes a person over,
    which the reconcile's idempotent steps and the generation check make safe). Its database
    connection is closed when it ends."""

    def __init__(self, tokens: Sequence[str], seconds: float) -> None:
        self._tokens = list(tokens)
        self._seconds = seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="access-lease-keeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            while not self._stop.wait(self._seconds / 3):
                try:
                    AccessWork.objects.filter(lease_token__in=self._tokens).update(
                        leased_until=current_time() + timedelta(seconds=self._seconds)
                    )
                except DatabaseError as exc:
                    logger.warning(
                        "access: could not renew the run's leases (%s: %s); trying again in %.0f s",
                        type(exc).__name__,
                        exc,
                        self._seconds / 3,
                    )
        finally:
            connections.close_all()  # this thread's own


class RevocationLane:
    """Two threads beside a run's batches of grants: one takes revocations as soon as they
    are due, the other asks the devices about the revocations waiting for them as soon as a
    look is due.

    Without them, a revocation queued while every worker is inside a batch of grants waits
    for a give-way between two persons - and a person of a burst can spend most of a second
    waiting for the grants' share of HCP's quota - and so does the look that confirms a
    revocation on the devices. Neither waits here, nor for the other: a look is not held up
    by a batch of revocations, nor a batch by a look. Their calls go at the revocations'
    priority, which the rate limiter keeps a reserve for (``HCP_RATE_LIMIT_BURST``).

    Started by the run before its first batch of grants, stopped (after the batch or look
    each is in) when the run ends. Between steps each sleeps ``LINGER_SLICE`` and reads the
    two hints (a cache read); the database is asked only when one says something is due, and
    stays the truth: revocations are claimed like any work (the lane's own lease token), a
    look claims the persons it asks about, so the lane, the run and other workers never do
    the same thing twice. Each thread's database connection is closed when it ends.

    ``PROPUSK_ACCESS_REVOCATION_LANE`` turns it off (the run then gives way and looks between
    persons, as before)."""

    TAKER = "access-revocation-lane"
    LOOKER = "access-revocation-looks"

    def __init__(self, hcp: HikCentralClient, *, lease_seconds: float | None = None) -> None:
        self._hcp = hcp
        self._lease_seconds = lease_seconds
        self.token = secrets.token_hex(16)
        self._stop = threading.Event()
        self._threads: dict[str, threading.Thread] = {}
        self._results = {self.TAKER: ReconcileResult(), self.LOOKER: ReconcileResult()}
        self._errors: list[BaseException] = []
        self._looked_at = 0.0  # monotonic

    @property
    def looking(self) -> bool:
        """Its looks go on: the run's batches leave them to it."""
        looker = self._threads.get(self.LOOKER)
        return looker is not None and looker.is_alive()

    def ensure_started(self) -> None:
        if self._threads:
            return
        for name, step in ((self.TAKER, self._take), (self.LOOKER, self._look)):
            thread = threading.Thread(target=self._run, args=(name, step), name=name, daemon=True)
            self._threads[name] = thread
            thread.start()

    def stop(self, *, into: ReconcileResult, raising: bool = True) -> None:
        """Wait for both threads to end their step, add what they did to ``into``, and raise
        the error that ended one, if any (with ``raising``; otherwise it is logged, the caller
        raising its own)."""
        if not self._threads:
            return
        self._stop.set()
        for thread in self._threads.values():
            thread.join()
        self._threads = {}
        for done in self._results.values():
            into.add(done)
        errors, self._errors = self._errors, []
        for error in errors[1:]:
            logger.error("access: the revocation lane failed", exc_info=error)
        if errors:
            if raising:
                raise errors[0]
            logger.error("access: the revocation lane failed", exc_info=errors[0])

    def _run(self, name: str, step: Callable[[OurOrganisation, ReconcileResult], bool]) -> None:
        org = OurOrganisation()
        result = self._results[name]
        try:
            # The breaker refusing a call ends the thread: nothing reaches HCP until it lets
            # one through, and the run's follow-up comes then.
            while not self._stop.is_set() and not result.paused_for:
                if not step(org, result):
                    self._stop.wait(LINGER_SLICE)
        except BaseException as exc:  # raised in the run's thread by stop()
            self._errors.append(exc)
            if name == self.TAKER:
                _release_leases(self.token)
        finally:
            connections.close_all()  # this thread's own

    def _take(self, org: OurOrganisation, result: ReconcileResult) -> bool:
        """One batch of revocations, when one is due: whether it took one."""
        moment = current_time()
        due_at, _ = read_hints()
        if due_at > moment.timestamp():
            return False
        claims = claim_due_work(
            now=moment,
            limit=self._hcp.config.batch_size,
            token=self.token,
            revocations_only=True,
            lease_seconds=self._lease_seconds,
        )
        if not claims:
            _reset_revocation_hint(now=moment)  # taken by another run meanwhile
            return False
        _reconcile_batch(
            self._hcp.with_priority(PRIORITY_NAMES[WorkPriority.REVOKE]),
            claims,
            now=moment,
            org=org,
            into=result,
            lane=self,
        )
        return True

    def _look(self, org: OurOrganisation, result: ReconcileResult) -> bool:
        """One look at the devices, when one is due: whether it looked."""
        _, check_at = read_hints()
        # Never a busy loop: a look HCP did not answer leaves the revocations due at once.
        if (
            check_at > current_time().timestamp()
            or time.monotonic() - self._looked_at < LINGER_MIN_WAIT
        ):
            return False
        self._looked_at = time.monotonic()
        check_application(self._hcp, now=None, into=result, revocations_only=True)
        return True


RETENTION_REASON = "retention over"


def queue_retention_cleanup(*, now: datetime, limit: int | None = None) -> int:
    """Queue (``SYNC`` priority) the persons of ours revoked at least
    ``PROPUSK_ACCESS_RETENTION_HOURS`` ago - or revoked at all, for a visitor whose personal
    data was erased (visitors.retention) - whose revocation is on the devices: their reconcile
    deletes them from HCP with their faces, unless the visitor came back meanwhile. A person
    with work queued or failed is left to it. How many were queued."""
    cutoff = now - timedelta(hours=settings.PROPUSK_ACCESS_RETENTION_HOURS)
    cap = settings.PROPUSK_ACCESS_MAX_PER_RUN if limit is None else limit
    erased = Visitor.objects.filter(pk=OuterRef("visitor_id"), erased_at__isnull=False)
    due = (
        HcpPerson.objects.exclude(person_id="")
        .filter(Q(revoked_at__lte=cutoff) | Q(revoked_at__isnull=False) & Exists(erased))
        .filter(needs_reapply=False)
        .exclude(apply_state__in=[ApplyState.WAITING, ApplyState.FAILED])
        .exclude(Exists(AccessWork.objects.filter(person_code=OuterRef("person_code"))))
        .order_by("revoked_at")
        .values_list("person_code", "visitor_id")[:cap]
    )
    rows = list(due)
    for person_code, visitor_id in rows:
        # Drained by this very run: no worker need be woken.
        request_reconcile(
            person_code=person_code,
            visitor_id=visitor_id,
            reason=RETENTION_REASON,
            priority=WorkPriority.SYNC,
            now=now,
            wake=False,
        )
    if rows:
        logger.info("access: %d person(s) past the retention queued for deletion", len(rows))
    return len(rows)


def note_observed_person(
    *,
    person_code: str,
    visitor_id: int | None,
    person_id: str,
    access_level_ids: Iterable[str],
    lacks_wanted_level: bool,
) -> None:
    """Record what the full sync saw HCP hold for one of our persons, before it queues the
    person's reconcile, so that the reconcile works from it:

    - the access levels HCP holds join those recorded (the record is what HCP holds *or may
      hold*: never fewer), so a membership added by hand is removed;
    - a wanted level HCP lacks (removed by hand) makes the reconcile add every wanted level
      again and reapply (adding is idempotent);
    - a person HCP holds under another personId than recorded (deleted and made again by
      hand, a backup restored, a record we cleared) replaces the record: what the old one held
      says nothing about it, and its face is sent again if one is wanted.
    """
    levels = set(access_level_ids)
    with transaction.atomic():
        row = HcpPerson.objects.select_for_update().filter(person_code=person_code).first()
        if row is None:
            row = HcpPerson(person_code=person_code, visitor_id=visitor_id)
        if row.person_id == person_id:
            row.access_level_ids = sorted(levels | set(row.access_level_ids))
            row.needs_reapply = row.needs_reapply or lacks_wanted_level
        else:
            if row.person_id:  # the devices may still hold the one recorded
                row.stale_person_ids = sorted({*row.stale_person_ids, row.person_id})
            row.person_id = person_id
            row.access_level_ids = sorted(levels)
            row.needs_reapply = lacks_wanted_level
            row.face_version = row.face_rejected_reason = ""
            row.revoked_at = row.deleted_at = None
            row.apply_state = ApplyState.UNKNOWN
        if visitor_id is not None:
            row.visitor_id = visitor_id
        row.save()


def claim_due_work(
    *,
    now: datetime,
    limit: int,
    token: str,
    revocations_only: bool = False,
    lease_seconds: float | None = None,
) -> list[Claim]:
    """Lease up to ``limit`` due pending rows (and failed ones retried by themselves, due on
    their slow schedule), revocations first, then the longest waiting (``revocations_only``:
    revocations alone, for the revocation lane).

    Each row is taken by a conditional UPDATE (pending, due, lease free or expired): of two
    workers racing for a row, one updates it and the other finds nothing to update.
    """
    lease = lease_seconds or settings.PROPUSK_ACCESS_LEASE_SECONDS
    lease_until = now + timedelta(seconds=lease)
    claimable = _claimable(now)
    if revocations_only:
        claimable &= Q(priority=WorkPriority.REVOKE)
    ordered = list(
        AccessWork.objects.filter(claimable)
        .order_by("priority", "due_at", "pk")
        .values_list("pk", "priority")[: limit * 2]
    )
    # A batch that takes access away holds nothing else: its reapplication, and so the time
    # to revoke, must not wait for twenty adds with faces.
    revoking = bool(ordered) and ordered[0][1] == WorkPriority.REVOKE
    candidates = [pk for pk, priority in ordered if not revoking or priority == WorkPriority.REVOKE]
    if revoking:
        # Smaller, too: the first person's reapplication waits for the batch's last look-up
        # and update, and revocations that keep coming would fill twenty.
        limit = min(limit, max(1, limit // REVOKE_BATCH_DIVISOR))
    taken: list[int] = []
    for pk in candidates:
        if AccessWork.objects.filter(claimable, pk=pk).update(
            leased_until=lease_until, lease_token=token
        ):
            taken.append(pk)
            if len(taken) == limit:
                break
    rows = AccessWork.objects.filter(pk__in=taken, lease_token=token).order_by("priority", "due_at")
    return [
        Claim(
            pk=row.pk,
            person_code=row.person_code,
            visitor_id=row.visitor_id,
            generation=row.generation,
            priority=row.priority,
            attempts=row.attempts,
            token=token,
            failed_code=row.last_error_code if row.state == WorkState.FAILED else "",
            lease_seconds=lease,
        )
        for row in rows
    ]


def _claimable(now: datetime) -> Q:
    """Due pending work, and failed work whose error may clear by itself (due again on the
    slow schedule), whose lease is free or expired."""
    return (
        (Q(state=WorkState.PENDING) | Q(state=WorkState.FAILED, retries_by_itself=True))
        & Q(due_at__lte=now)
        & (Q(leased_until__isnull=True) | Q(leased_until__lte=now))
    )


def _revocation_due(*, now: datetime) -> bool:
    return AccessWork.objects.filter(_claimable(now), priority=WorkPriority.REVOKE).exists()


def _revocation_waiting(*, now: datetime) -> bool:
    """A revocation's work is due and free: one cache read, and a query only when the hint
    says so - a hint the database proves stale (another run took it) is set again."""
    due_at, _ = read_hints()
    if due_at > now.timestamp():
        return False
    if _revocation_due(now=now):
        return True
    _reset_revocation_hint(now=now)
    return False


def _revocation_check_due(*, now: datetime) -> bool:
    """A revocation waits for the devices and it is time to ask HCP again."""
    return _checkable(now).filter(_REVOKING).exists()


def _linger_wait(*, now: datetime) -> float | None:
    """Seconds until a revocation waiting for the devices may be asked about (at most a
    quarter of the check interval: work may come due meanwhile); None: none waits."""
    _, revocation = _next_checks(now)
    if revocation is None:
        return None
    _, fast = _recheck_every()
    # Never a busy loop: a check HCP did not answer leaves the revocation due at once.
    return min(max((revocation - now).total_seconds(), LINGER_MIN_WAIT), fast.total_seconds())


def _linger_sleep(seconds: float) -> None:
    """Wait ``seconds`` while lingering, in slices of ``LINGER_SLICE``: a revocation queued
    meanwhile (``request_reconcile`` lowers the hint) ends the wait, and the run claims it at
    once. Its wake-up task would wait behind this very run when every worker is busy.

    Called when the claim just found no revocation due: a hint saying one is due is stale
    (another run took it) and is set again from the database first, or every slice would
    end the wait."""
    moment = current_time()
    if read_hints()[0] <= moment.timestamp():
        _reset_revocation_hint(now=moment)
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(left, LINGER_SLICE))
        if read_hints()[0] <= current_time().timestamp():
            return


def _reset_revocation_hint(*, now: datetime) -> None:
    """The hint said a revocation may be due, the database says none is (another run took
    it): the hint is set again to the earliest revocation still queued."""
    earliest = (
        AccessWork.objects.filter(priority=WorkPriority.REVOKE)
        .filter(Q(state=WorkState.PENDING) | Q(state=WorkState.FAILED, retries_by_itself=True))
        .filter(Q(leased_until__isnull=True) | Q(leased_until__lte=now))
        .aggregate(at=Min("due_at"))["at"]
    )
    set_hint(REVOCATION_DUE_KEY, earliest)


def _give_back(claims: Sequence[Claim]) -> None:
    """Leases given back untouched (still due, no attempt counted): another run takes them."""
    for claim in claims:
        _release(claim, attempts=claim.attempts)


def _pause(
    claims: Sequence[Claim], exc: CircuitOpenError, *, now: datetime, into: ReconcileResult
) -> None:
    """The circuit breaker refused a call: these persons wait, due when it lets a call
    through, with no attempt counted (``_retry``)."""
    for claim in claims:
        _settle(claim, exc, now=now, into=into)


def _reconcile_batch(
    hcp: HikCentralClient,
    claims: Sequence[Claim],
    *,
    now: datetime,
    fixed_now: datetime | None = None,
    org: OurOrganisation,
    into: ReconcileResult,
    lane: RevocationLane | None = None,
) -> int:
    """Reconcile the claimed persons, then their memberships and reapplication together; how
    many persons were taken on (the others were given back).

    A batch that grants (or syncs) gives way between persons: when a revocation comes due
    meanwhile, the persons not started yet are given back (still due) and the batch is
    finished with those done, so the run claims the revocation next. In any batch, when a
    revocation waits for the devices and its check is due, the devices are asked between two
    persons. The circuit breaker refusing a call stops the batch: nothing more can reach HCP
    until it lets one through. While the run's revocation ``lane`` runs, the looks are its
    own (a look here would only hold this batch up)."""
    runs: list[PersonRun] = []
    granting = min(claim.priority for claim in claims) != WorkPriority.REVOKE

    def look_if_hinted() -> None:
        if lane is None or not lane.looking:
            _look_if_hinted(hcp, now=fixed_now, into=into)

    # A revocation whose record is clean is revoked from it (_revoke_from_record); every
    # other one looks its person up: the batch's look-ups go side by side, so the
    # reapplication does not wait for one round trip per person.
    from_record = set() if granting else _revocable_from_record(claims)
    looked_up = (
        {}
        if granting
        else _look_up_all(hcp, [claim for claim in claims if claim.pk not in from_record])
    )
    started = 0
    for position, claim in enumerate(claims):
        if position and granting:
            # One cache read; the database is asked only when a hint says it is time. (A
            # batch of revocations asks the devices after its reapplication instead: a look
            # here would hold that reapplication up.)
            moment = fixed_now or current_time()
            if _revocation_waiting(now=moment):
                _give_back(claims[position:])
                break
            look_if_hinted()
        started += 1
        try:
            run = _reconcile_person(
                hcp,
                claim,
                now=now,
                org=org,
                looked_up=looked_up,
                from_record=claim.pk in from_record,
            )
        except CircuitOpenError as exc:
            _pause(claims[position:], exc, now=now, into=into)
            break
        except Exception as exc:
            _settle(claim, exc, now=now, into=into)
            continue
        if run is not None:
            runs.append(run)
    runs = _apply_memberships(hcp, runs, now=now, into=into)
    runs = _reapply(hcp, runs, now=now, fixed_now=fixed_now, into=into)
    if not granting:
        look_if_hinted()
        _defer_validity_ends_if_revocations_wait(runs, now=fixed_now or current_time())
    runs = _end_validities(hcp, runs, now=now, into=into)
    for position, run in enumerate(runs):
        if position:  # recording twenty persons takes a while: a revocation may wait meanwhile
            look_if_hinted()
        _finish(run, now=now)
        into.reconciled += 1
    return started


def _defer_validity_ends_if_revocations_wait(runs: Sequence[PersonRun], *, now: datetime) -> None:
    """Other revocations wait (the hint says so, the database agrees): the batch's validity
    ends are left to a work of their own at SYNC priority (``_complete_work``), so this
    worker takes the waiting revocations now and their calls get HCP's quota first. The
    memberships are gone and the devices told already: the validity end is the second line
    (a membership given again by mistake still finds the face refused), and it comes when
    the revocations and grants are done - the later reconcile ends the validity and
    reapplies, the path of a revocation whose memberships are already gone."""
    if not any(run.end_validity is not None for run in runs) or not _revocation_waiting(now=now):
        return
    for run in runs:
        if run.end_validity is not None:
            run.end_validity = None
            run.end_validity_deferred = True


def _look_if_hinted(hcp: HikCentralClient, *, now: datetime | None, into: ReconcileResult) -> None:
    """Ask the devices about the revocations waiting, when the hint says one may be asked
    (``now`` None: the real clock)."""
    _, check_at = read_hints()
    if check_at <= (now or current_time()).timestamp():
        check_application(hcp, now=now, into=into, revocations_only=True)


# --- one person ---------------------------------------------------------------------------


def _reconcile_person(
    hcp: HikCentralClient,
    claim: Claim,
    *,
    now: datetime,
    org: OurOrganisation,
    looked_up: dict[str, Outcome[PersonInfo | None]] | None = None,
    from_record: bool = False,
) -> PersonRun | None:
    if not _renew_lease(claim, now=now):
        logger.warning("access work for %s: lease lost, left to its new holder", claim.person_code)
        return None
    if not _ours_by_code(claim.person_code):
        raise WorkFailed(
            "not_ours",
            f"person code {claim.person_code} lacks our prefix {OUR_PERSON_CODE_PREFIX!r}: "
            "not a Propusk person, left unchanged",
        )
    desired = desired_state(claim.person_code, now=now)
    confirmed = HcpPerson.objects.filter(person_code=claim.person_code).first()
    run = PersonRun(claim=claim, desired=desired, confirmed=confirmed)
    if from_record and desired.person is None and _clean_record(claim, confirmed):
        _revoke_from_record(run)
        return run
    if looked_up is not None and claim.person_code in looked_up:
        info = looked_up.pop(claim.person_code).get()  # looked up with the batch's others
    elif desired.person is not None and _never_added(confirmed):
        # HCP cannot hold it unless someone made it by hand: the add then answers "already
        # exists" and is followed by the look-up. A revocation always looks the person up.
        info = None
    else:
        info = _look_up(hcp, claim.person_code)
    _clear_stale_persons(hcp, run, info)
    if info is None and desired.person is None:
        return run  # nothing in HCP, nothing wanted
    ours = org.index_code(hcp)
    if info is not None:
        ours = _check_ours(hcp, info, org)
        _adopt(run, info)
    if desired.person is None:
        if info is not None:
            if _retention_over(run, now=now):
                _delete(hcp, run, info)
            else:
                _revoke(hcp, run, info, now=now)
        return run
    if info is None:
        found, ours = _add(hcp, run, desired.person, org=org, now=now)
        if found is not None:  # the add's answer was lost, or someone added it meanwhile
            _adopt(run, found)
            _update_if_needed(hcp, run, desired.person, found, ours=ours, now=now)
    else:
        _update_if_needed(hcp, run, desired.person, info, ours=ours, now=now)
    _enrol_face_if_needed(hcp, run, desired.person, now=now)
    run.wanted = desired.person.grant.access_level_ids
    return run


def _revocable_from_record(claims: Sequence[Claim]) -> set[int]:
    """The claims (by pk) of a batch of revocations whose persons may be revoked from the
    record, without a look-up first (``_revoke_from_record``); checked again, with the
    desired state, when each is reconciled. ``PROPUSK_ACCESS_REVOKE_FROM_RECORD`` off: none."""
    if not settings.PROPUSK_ACCESS_REVOKE_FROM_RECORD:
        return set()
    records = {
        row.person_code: row
        for row in HcpPerson.objects.filter(person_code__in=[claim.person_code for claim in claims])
    }
    return {claim.pk for claim in claims if _clean_record(claim, records.get(claim.person_code))}


def _clean_record(claim: Claim, confirmed: HcpPerson | None) -> bool:
    """A first try at a revocation (no retry, no failure), of a person whose record says what
    HCP holds: ours, memberships to remove, nothing left half-done or failed on the devices,
    no former person of the code to drop."""
    return (
        claim.priority == WorkPriority.REVOKE
        and claim.attempts == 0
        and not claim.failed_code
        and confirmed is not None
        and bool(confirmed.person_id)
        and bool(confirmed.access_level_ids)
        and not confirmed.needs_reapply
        and not confirmed.stale_person_ids
        and confirmed.deleted_at is None
        and confirmed.apply_state != ApplyState.FAILED
    )


def _revoke_from_record(run: PersonRun) -> None:
    """Revoke from the record, the look-up after: the memberships recorded go with the batch
    and are reapplied at once - the devices are told a round trip sooner, with two calls
    fewer out of HCP's quota in front of them -, and the validity end is left to a work of
    its own at SYNC priority (``_complete_work``), which looks the person up first and so
    repairs what the record did not know (a person deleted or made again by hand, a
    membership added by hand; a removal HCP answers "not found" means the person is gone).
    The record is what HCP holds *or may hold*, so no membership of ours is missed."""
    confirmed = run.confirmed
    assert confirmed is not None  # noqa: S101 - _clean_record
    run.person_id = confirmed.person_id
    run.begin_time, run.end_time = confirmed.begin_time, confirmed.end_time
    run.held = frozenset(confirmed.access_level_ids)
    run.face_version = confirmed.face_version
    run.face_rejected_reason = confirmed.face_rejected_reason
    run.revoked = True
    run.wanted = frozenset()
    run.end_validity_deferred = True
    run.deferred_reason = VALIDITY_END_AFTER_REMOVAL_REASON


def _look_up_all(
    hcp: HikCentralClient, claims: Sequence[Claim]
) -> dict[str, Outcome[PersonInfo | None]]:
    """The batch's persons looked up side by side (``HCP_PARALLEL_CALLS`` at a time), by
    person code; an error stays with its person, raised when that person is reconciled.
    Codes without our prefix are not asked about (their work fails unread)."""
    codes = [claim.person_code for claim in claims if _ours_by_code(claim.person_code)]
    if len(codes) < 2:
        return {}
    calls = [lambda code=code: _look_up(hcp, code) for code in codes]
    return dict(zip(codes, side_by_side(calls), strict=True))


def _ours_by_code(person_code: str) -> bool:
    return person_code.startswith(OUR_PERSON_CODE_PREFIX)


def _look_up(hcp: HikCentralClient, person_code: str) -> PersonInfo | None:
    try:
        return hcp.get_person_by_code(person_code)
    except HCPNotFound:
        return None


def _clear_stale_persons(hcp: HikCentralClient, run: PersonRun, info: PersonInfo | None) -> None:
    """The person we recorded is gone from HCP, or HCP holds the code under another personId
    (deleted, or made again, by hand), and the sync may have noted more such ids: the devices
    keep those persons, faces included, until a reapplication names them. Done first, so a
    transient error retries the work with the record unchanged. HCP refusing to reapply a
    person it no longer has is audited and logged: the devices may then keep it until HCP
    applies all pending changes."""
    confirmed = run.confirmed
    if confirmed is None:
        return
    stale = list(confirmed.stale_person_ids)
    if confirmed.person_id and (info is None or info.person_id != confirmed.person_id):
        stale.append(confirmed.person_id)
    stale = [person_id for person_id in dict.fromkeys(stale) if person_id]
    if not stale:
        return
    doors = _door_codes(hcp)
    answer: dict[str, object] = {"doors": len(doors)}
    if doors:
        try:
            hcp.reapply(person_ids=stale, door_index_codes=doors)
            run.stale_reapplied = tuple(stale)
        except PermanentError as exc:
            answer["refused"] = _hcp_message(exc)
            logger.warning(
                "access: HCP refused to reapply %s's former person(s) %s: %s; the devices may "
                "keep them until HCP applies all pending changes",
                run.person_code,
                ", ".join(stale),
                exc,
            )
    _audit(
        run,
        "hcp.stale_person_reapplied",
        sent={"person_code": run.person_code, "person_ids": stale},
        answer=answer,
    )


def _never_added(confirmed: HcpPerson | None) -> bool:
    """HcpPerson says we never created the person (or deleted it) and sent no add since whose
    answer may have been lost: HCP holds no such person of ours."""
    return confirmed is None or (not confirmed.person_id and confirmed.add_sent_at is None)


def _check_ours(hcp: HikCentralClient, info: PersonInfo, org: OurOrganisation) -> str:
    """Our organisation's index code, if the person is in it; else WorkFailed ``not_ours``.
    A person in another organisation than the one remembered may mean that ours changed (an
    HCP restored or rebuilt): it is looked up again once before the person is refused."""
    ours = org.index_code(hcp)
    if info.org_index_code != ours:
        ours = org.refresh(hcp) or ours
    if info.org_index_code != ours:
        raise WorkFailed(
            "not_ours",
            f"HCP person {info.person_id} with code {info.person_code} is in organisation "
            f"{info.org_index_code}, not in {settings.HCP_ORG_NAME!r} ({ours}): not ours, "
            "left unchanged",
        )
    return ours


def _adopt(run: PersonRun, info: PersonInfo) -> None:
    """Start from what HCP holds; what we confirmed before counts only for this very person
    (a person deleted and added again by hand lost its memberships and face with the old one)."""
    run.person_id = info.person_id
    run.begin_time, run.end_time = info.begin_time, info.end_time
    run.has_face = info.has_face
    confirmed = run.confirmed
    if confirmed is not None and confirmed.person_id == info.person_id:
        run.held = frozenset(confirmed.access_level_ids)
        run.face_version = confirmed.face_version
        run.face_rejected_reason = confirmed.face_rejected_reason
        run.unfinished = confirmed.needs_reapply
    else:
        run.held = frozenset()
        run.face_version, run.face_rejected_reason = "", ""
        run.unfinished = False


def _add(
    hcp: HikCentralClient,
    run: PersonRun,
    person: DesiredPerson,
    *,
    org: OurOrganisation,
    now: datetime,
) -> tuple[PersonInfo | None, str]:
    """Add the person with its face; also returns our organisation's index code. None: added
    by this call; else the person HCP holds after an answer that was lost
    (``may_have_applied``), an "already exists" (someone made it, or a backup restored it) or
    a simultaneous add."""
    ours = org.index_code(hcp)
    face = _face_jpeg(person.face_version)
    _note_add_sent(run, now=now)
    try:
        try:
            person_id = _add_once(hcp, run, person, face, ours=ours)
        except HCPNotFound:
            # HCP does not know the organisation sent: it may have changed (an HCP restored or
            # rebuilt). Looked up again, once; the same code again means another cause.
            fresh = org.refresh(hcp)
            if fresh is None or fresh == ours:
                raise
            ours = fresh
            person_id = _add_once(hcp, run, person, face, ours=ours)
    except HikCentralError as exc:
        if not (exc.may_have_applied or isinstance(exc, HCPAlreadyExists)):
            _note_add_sent(run, now=None)  # nothing was added: no look-up needed next time
            raise
        found = _look_up(hcp, run.person_code)
        if found is None:
            raise
        ours = _check_ours(hcp, found, org)
        logger.info(
            "access: add of %s answered %s, found it in HCP as person %s",
            run.person_code,
            type(exc).__name__,
            found.person_id,
        )
        if exc.may_have_applied:  # our add went through; only its answer was lost
            run.changed = True
            _audit(
                run,
                "hcp.person_added",
                sent=_added(run, _person_input(person, ours), face=face is not None),
                answer={"person_id": found.person_id, "answer_lost": True},
            )
        return found, ours
    data = _person_input(person, ours)
    run.person_id = person_id
    run.begin_time, run.end_time = data.begin_time, data.end_time
    run.changed = True
    _audit(
        run,
        "hcp.person_added",
        sent=_added(run, data, face=run.has_face),
        answer={"person_id": person_id},
    )
    return None, ours


def _add_once(
    hcp: HikCentralClient, run: PersonRun, person: DesiredPerson, face: bytes | None, *, ours: str
) -> str:
    data = _person_input(person, ours)
    if face is None:
        return hcp.add_person(data)
    return _add_with_face(hcp, run, data, face, person.face_version)


def _note_add_sent(run: PersonRun, *, now: datetime | None) -> None:
    """Record, before the call, that an add was sent (``now``), or that it surely was not
    carried out (None): the next reconcile looks the person up first only in the first case."""
    HcpPerson.objects.update_or_create(
        person_code=run.person_code,
        defaults={"add_sent_at": now},
        create_defaults={"add_sent_at": now, "visitor_id": run.visitor_id},
    )


def _added(run: PersonRun, data: PersonInput, *, face: bool) -> dict[str, object]:
    return {
        "person_code": run.person_code,
        "org_index_code": data.org_index_code,
        "begin_time": data.begin_time,
        "end_time": data.end_time,
        "face": face,
    }


def _add_with_face(
    hcp: HikCentralClient, run: PersonRun, data: PersonInput, face: bytes, version: str
) -> str:
    if not face.startswith(JPEG_MAGIC):
        _face_refused(run, version, "the stored face file is not a JPEG picture")
        return hcp.add_person(data)
    try:
        person_id = hcp.add_person(data, face_jpeg=face)
    except HCPParameterError as exc:
        if not _is_face_refusal(exc):
            raise
        # HCP refused the face and added nothing: the person goes in without it.
        _face_refused(run, version, _hcp_message(exc))
        return hcp.add_person(data)
    run.face_version, run.face_rejected_reason, run.has_face = version, "", True
    return person_id


def _update_if_needed(
    hcp: HikCentralClient,
    run: PersonRun,
    person: DesiredPerson,
    info: PersonInfo,
    *,
    ours: str,
    now: datetime,
) -> None:
    data = _person_input(person, ours, keep_from=info)
    if not _person_differs(info, data):
        return
    _note_changing(run, now=now)
    hcp.update_person(info.person_id, data)
    run.begin_time, run.end_time = data.begin_time, data.end_time
    run.changed = True
    _audit(
        run,
        "hcp.person_updated",
        sent={
            "person_code": run.person_code,
            "begin_time": data.begin_time,
            "end_time": data.end_time,
        },
        answer={"person_id": info.person_id},
    )


def _note_changing(run: PersonRun, *, now: datetime) -> None:
    """Before changing an existing person in HCP: recorded as not yet told to the devices, so
    that a worker dying between the change and the reapplication leaves a record the next
    reconcile acts on (HCP then already holds the change, so nothing else would differ): it
    asks for every wanted level again and reapplies."""
    _save_confirmed(run, now=now, apply_state=None, needs_reapply=True)


def _enrol_face_if_needed(
    hcp: HikCentralClient, run: PersonRun, person: DesiredPerson, *, now: datetime
) -> None:
    """Send the face when it changed since it was last sent, or HCP lost it (unless HCP
    refused this very file: it would refuse it again)."""
    version = person.face_version
    if not version or not run.person_id:
        return
    if run.face_version == version and (run.has_face or run.face_rejected_reason):
        return
    face = _face_jpeg(version)
    if face is None:
        return
    if not face.startswith(JPEG_MAGIC):
        _face_refused(run, version, "the stored face file is not a JPEG picture")
        return
    _note_changing(run, now=now)
    try:
        hcp.update_face(face, person_id=run.person_id)
    except HCPParameterError as exc:
        if not _is_face_refusal(exc):
            raise
        _face_refused(run, version, _hcp_message(exc))
        return
    run.face_version, run.face_rejected_reason, run.has_face = version, "", True
    run.changed = True
    _audit(
        run,
        "hcp.face_updated",
        sent={"person_code": run.person_code, "face": True},
        answer={"person_id": run.person_id},
    )


def _face_refused(run: PersonRun, version: str, reason: str) -> None:
    run.face_version, run.face_rejected_reason = version, reason[:MESSAGE_LENGTH]
    logger.warning("access: HCP refused the face of %s: %s", run.person_code, reason)
    _audit(
        run,
        "hcp.face_rejected",
        sent={"person_code": run.person_code, "face": True},
        answer={"person_id": run.person_id, "message": reason},
    )


def _is_face_refusal(exc: HCPParameterError) -> bool:
    """HCP names the field it refused (``[faceData parameter error]``): a face it cannot use
    (not a JPEG it reads, too small, too large, no face found)."""
    return exc.field is not None and "face" in exc.field.lower()


def _retention_over(run: PersonRun, *, now: datetime) -> bool:
    """The person (no longer wanted) was revoked ``PROPUSK_ACCESS_RETENTION_HOURS`` ago or more
    - at once for a visitor whose personal data was erased - and the devices have that
    revocation (not waiting for it, nor failed): it may go, with its face. A person whose
    revocation is not on the devices yet is revoked (reapplied) first."""
    confirmed = run.confirmed
    if confirmed is None or confirmed.person_id != run.person_id or confirmed.revoked_at is None:
        return False
    retention = timedelta(hours=settings.PROPUSK_ACCESS_RETENTION_HOURS)
    if run.visitor_id is not None and (
        Visitor.objects.filter(pk=run.visitor_id, erased_at__isnull=False).exists()
    ):
        retention = timedelta(0)
    return (
        confirmed.revoked_at <= now - retention
        and not confirmed.needs_reapply
        and confirmed.apply_state not in (ApplyState.WAITING, ApplyState.FAILED)
    )


def _delete(hcp: HikCentralClient, run: PersonRun, info: PersonInfo) -> None:
    """Delete the person and its face from HCP (``adminPassword`` is sent by the client when
    configured). A lost answer is followed by a look-up by personCode: still there, the work
    is retried; gone, it was deleted. The devices already dropped it with the revocation."""
    answer: dict[str, object] = {"person_id": info.person_id}
    try:
        hcp.delete_person(person_id=info.person_id)
    except HCPNotFound:
        answer["already_gone"] = True
    except HikCentralError as exc:
        if not exc.may_have_applied:
            raise
        found = _look_up(hcp, run.person_code)
        if found is not None and found.person_id == info.person_id:
            raise
        answer["answer_lost"] = True
    run.deleted = True
    run.person_id = ""
    run.begin_time = run.end_time = None
    run.held = run.wanted = frozenset()
    run.face_version = run.face_rejected_reason = ""
    run.has_face = False
    run.changed = True
    _audit(
        run,
        "hcp.person_deleted",
        sent={"person_code": run.person_code, "person_id": info.person_id},
        answer=answer,
    )


def _revoke(hcp: HikCentralClient, run: PersonRun, info: PersonInfo, *, now: datetime) -> None:
    """No access any more: every membership goes (below, with the batch) and the validity ends
    now, so the devices refuse the face even before the memberships reach them. The person is
    kept until the retention is over (``_delete``)."""
    run.revoked = True
    run.wanted = frozenset()
    end = now.replace(microsecond=0)
    if info.end_time is not None and info.end_time <= end:
        return
    begin = info.begin_time
    if begin is None or begin >= end:
        begin = end - timedelta(minutes=1)
    data = PersonInput(
        person_code=run.person_code,
        org_index_code=info.org_index_code or "",
        family_name=info.family_name or "",
        given_name=info.given_name or info.person_name or run.person_code,
        begin_time=begin,
        end_time=end,
        gender=info.gender,
        phone_no=info.phone_no,
        email=info.email,
        remark=info.remark,
        card_numbers=info.card_numbers,
    )
    if run.held:
        # Memberships to remove: with them gone and reapplied, no device holds the person
        # any more. The validity is ended after that reapplication (_end_validities), a
        # call less before the devices are told.
        run.end_validity = data
        return
    if _removal_reapplied(run):
        # The validity end left by a revocation whose memberships went and were reapplied:
        # no device holds the person, so it is HCP's record alone. No reapplication, which
        # would also make the devices' confirmation of the revocation wait for it.
        _send_validity_end(hcp, run, data)
        return
    # Nothing recorded to remove (a retry after the memberships went, or none were ever
    # recorded): the validity ends now and is reapplied with the batch.
    _note_changing(run, now=now)
    _send_validity_end(hcp, run, data)
    run.changed = True


def _removal_reapplied(run: PersonRun) -> bool:
    """This very person's memberships were all removed by a revocation and the devices told
    (reapplied after it, applied or waiting, nothing left half-done)."""
    confirmed = run.confirmed
    return (
        confirmed is not None
        and confirmed.person_id == run.person_id
        and not confirmed.access_level_ids
        and not confirmed.needs_reapply
        and not confirmed.stale_person_ids
        and confirmed.revoked_at is not None
        and confirmed.apply_requested_at is not None
        and confirmed.apply_requested_at >= confirmed.revoked_at
        and confirmed.apply_state in (ApplyState.WAITING, ApplyState.APPLIED)
    )


def _send_validity_end(hcp: HikCentralClient, run: PersonRun, data: PersonInput) -> None:
    hcp.update_person(run.person_id, data)
    _validity_ended(run, data)


def _validity_ended(run: PersonRun, data: PersonInput) -> None:
    """HCP accepted the validity's end: noted on the run and audited."""
    run.begin_time, run.end_time = data.begin_time, data.end_time
    _audit(
        run,
        "hcp.access_revoked",
        sent={
            "person_code": run.person_code,
            "begin_time": data.begin_time,
            "end_time": data.end_time,
        },
        answer={"person_id": run.person_id},
    )


def _end_validities(
    hcp: HikCentralClient, runs: list[PersonRun], *, now: datetime, into: ReconcileResult
) -> list[PersonRun]:
    """After the batch's reapplication (the devices drop the persons whose memberships went),
    end the revoked persons' validity in HCP: a later reapplication of a membership given
    again by mistake, or by hand, then still finds the face refused. The person holds no
    access level, so no device holds it and nothing more is reapplied. A failure puts the
    work back (the retry finds no membership to remove, ends the validity and reapplies);
    the devices' confirmation of the reapplication already made is not held up by it."""
    ending = [(run, run.end_validity) for run in runs if run.end_validity is not None]
    # Side by side (``HCP_PARALLEL_CALLS``): the worker is free for the next revocation
    # sooner. Each outcome is then recorded here, in order.
    calls = [
        lambda run=run, data=data: hcp.update_person(run.person_id, data) for run, data in ending
    ]
    outcomes = dict(zip((id(run) for run, _ in ending), side_by_side(calls), strict=True))
    survivors = []
    for run in runs:
        data = run.end_validity
        if data is None:
            survivors.append(run)
            continue
        try:
            outcomes[id(run)].get()
        except Exception as exc:
            # The circuit breaker's refusal included: that person waits for it to close.
            _settle(run.claim, exc, now=now, into=into)
            continue
        _validity_ended(run, data)
        HcpPerson.objects.filter(person_code=run.person_code, person_id=run.person_id).update(
            begin_time=data.begin_time, end_time=data.end_time
        )
        survivors.append(run)
    return survivors


def _person_input(
    person: DesiredPerson, org_index_code: str, *, keep_from: PersonInfo | None = None
) -> PersonInput:
    """The whole person as HCP must hold it (an update clears what it omits). Cards and the
    remark are not ours to manage: an update sends back what HCP holds."""
    return PersonInput(
        person_code=person.person_code,
        org_index_code=org_index_code,
        family_name=person.family_name,
        given_name=person.given_name,
        begin_time=person.grant.begin,
        end_time=person.grant.end,
        phone_no=person.phone or None,
        email=person.email or None,
        remark=keep_from.remark if keep_from is not None else None,
        card_numbers=keep_from.card_numbers if keep_from is not None else (),
    )


def _person_differs(info: PersonInfo, data: PersonInput) -> bool:
    """HCP keeps whole seconds: compare at that precision."""
    return (
        _second(info.begin_time) != _second(data.begin_time)
        or _second(info.end_time) != _second(data.end_time)
        or (info.family_name or "") != data.family_name
        or (info.given_name or "") != data.given_name
        or (info.phone_no or "") != (data.phone_no or "")
        or (info.email or "") != (data.email or "")
    )


def _second(value: datetime | None) -> datetime | None:
    return value.replace(microsecond=0) if value is not None else None


def _face_jpeg(version: str) -> bytes | None:
    """The stored face file's bytes (never logged)."""
    if not version:
        return None
    try:
        with face_storage().open(version, "rb") as handle:
            data: bytes = handle.read()
    except FileNotFoundError as exc:
        raise WorkFailed("face_missing", f"the stored face file {version} is missing") from exc
    return data


# --- the batch: memberships and reapplication ----------------------------------------------


def _apply_memberships(
    hcp: HikCentralClient, runs: list[PersonRun], *, now: datetime, into: ReconcileResult
) -> list[PersonRun]:
    """Add and remove access-level memberships, one call per level for the whole batch."""
    adds: dict[str, list[PersonRun]] = defaultdict(list)
    removes: dict[str, list[PersonRun]] = defaultdict(list)
    for run in runs:
        if not run.person_id:
            continue
        # After a stop part-way, the levels recorded may be only those we asked for: ask again
        # (adding is idempotent).
        for level in sorted(run.wanted if run.unfinished else run.wanted - run.held):
            adds[level].append(run)
        for level in sorted(run.held - run.wanted):
            removes[level].append(run)
        if run.wanted - run.held:
            # Before adding: a lost answer must not leave a membership we do not know of.
            _save_confirmed(
                run, now=now, apply_state=None, needs_reapply=True, levels=run.held | run.wanted
            )
    broken: dict[int, Exception] = {}
    added = _change_members(hcp.add_persons_to_access_level, adds, broken, missing_ok=False)
    removed = _change_members(
        hcp.delete_persons_from_access_level, removes, broken, missing_ok=True
    )
    survivors = []
    for run in runs:
        error = broken.get(run.claim.pk)
        if error is not None:
            # What HCP accepted so far is kept (the levels it may hold among them); the retry
            # asks for every level again and reapplies.
            _save_confirmed(
                run, now=now, apply_state=None, needs_reapply=True, levels=run.held | run.wanted
            )
            _settle(run.claim, error, now=now, into=into)
            continue
        for action, levels in (
            ("hcp.membership_added", added.get(run.claim.pk)),
            ("hcp.membership_removed", removed.get(run.claim.pk)),
        ):
            if levels:
                run.changed = True
                _audit(
                    run,
                    action,
                    sent={"person_code": run.person_code, "access_level_ids": sorted(levels)},
                    answer={"person_id": run.person_id},
                )
        run.held = run.wanted
        survivors.append(run)
    return survivors


def _change_members(
    call: Callable[[str, Iterable[str]], None],
    members: dict[str, list[PersonRun]],
    broken: dict[int, Exception],
    *,
    missing_ok: bool,
) -> dict[int, list[str]]:
    """Run ``call`` per level; which levels each person's calls changed. A permanent error
    on several persons is retried one by one, so it lands on the person it concerns."""
    done: dict[int, list[str]] = defaultdict(list)
    for level, runs in sorted(members.items()):
        todo = [run for run in runs if run.claim.pk not in broken]
        if not todo:
            continue
        try:
            call(level, [run.person_id for run in todo])
        except TransientError as exc:
            for run in todo:
                broken[run.claim.pk] = exc
            continue
        except PermanentError as exc:
            # HCP refuses the whole call for one bad person: one by one, each gets its answer.
            answers: list[tuple[PersonRun, HikCentralError | None]] = (
                [(todo[0], exc)]
                if len(todo) == 1
                else [(run, _member_call(call, level, run)) for run in todo]
            )
            for run, error in answers:
                if error is None or (missing_ok and isinstance(error, HCPNotFound)):
                    # Not found on removal: the level (or the person) is gone, so is the membership.
                    done[run.claim.pk].append(level)
                else:
                    broken[run.claim.pk] = error
            continue
        for run in todo:
            done[run.claim.pk].append(level)
    return done


def _member_call(
    call: Callable[[str, Iterable[str]], None], level: str, run: PersonRun
) -> HikCentralError | None:
    try:
        call(level, [run.person_id])
    except HikCentralError as exc:
        return exc
    return None


def _reapply(
    hcp: HikCentralClient,
    runs: list[PersonRun],
    *,
    now: datetime,
    fixed_now: datetime | None = None,
    into: ReconcileResult,
) -> list[PersonRun]:
    """One reapplication (``batch_size`` persons per call) for every person that changed.
    Recorded as asked when HCP accepted it (not when the batch began): the devices are
    asked about it ``PROPUSK_ACCESS_APPLY_CHECK_SECONDS`` after that moment."""
    todo = [run for run in runs if run.needs_reapply]
    if not todo:
        return runs
    try:
        doors = _reapply_to_doors(hcp, [run.person_id for run in todo])
    except HikCentralError as exc:
        for run in todo:
            # HCP holds the change; only the devices have not been told: the retry asks again.
            _save_confirmed(run, now=now, apply_state=None, needs_reapply=True)
            _settle(run.claim, exc, now=now, into=into)
        return [run for run in runs if run not in todo]
    # A site without doors has no device to wait for.
    state = ApplyState.WAITING if doors else ApplyState.APPLIED
    asked_at = max(now, fixed_now or current_time())
    for run in todo:
        _save_confirmed(run, now=now, apply_state=state, needs_reapply=False, asked_at=asked_at)
    if doors and any(run.revoked or run.stale_reapplied for run in todo):
        # A batch of grants running meanwhile asks the devices between two persons then.
        every, _ = _recheck_every()
        lower_hint(REVOCATION_CHECK_KEY, asked_at + every)
    return runs


def _reapply_to_doors(hcp: HikCentralClient, person_ids: list[str]) -> list[str]:
    """Reapply these persons on every door (the door list kept between runs); a door HCP does
    not know (code 128: the doors changed) makes the list read again, once. The doors used."""
    doors = _door_codes(hcp)
    if not doors:
        return doors
    try:
        hcp.reapply(person_ids=person_ids, door_index_codes=doors)
    except HCPNotFound:
        fresh = _door_codes(hcp, refresh=True)
        if fresh == doors:
            raise
        doors = fresh
        if doors:
            hcp.reapply(person_ids=person_ids, door_index_codes=doors)
    return doors


# --- finishing ----------------------------------------------------------------------------


def _finish(run: PersonRun, *, now: datetime) -> None:
    # No person in HCP and no former one being dropped: nothing for a device to hold.
    settled = not run.person_id and not run.stale_reapplied
    if not run.needs_reapply and (run.person_id or run.confirmed is not None):
        state: ApplyState | None = None if run.person_id else ApplyState.APPLIED
        if run.stale_reapplied:  # the devices must still drop the former person(s)
            state = ApplyState.WAITING
        saved = _save_confirmed(run, now=now, apply_state=state, needs_reapply=False)
        settled = settled or saved.apply_state == ApplyState.APPLIED
    if _complete_work(run, now=now) and settled:
        # Nothing more to tell the devices: the visits that ended no longer give access.
        _mark_visits_revoked(run.visitor_id, read_at=now, at=now)
    logger.info(
        "access: reconciled %s (%s, %s level(s)%s)",
        run.person_code,
        "deleted"
        if run.deleted
        else "revoked"
        if run.revoked
        else ("granted" if run.desired.person else "absent"),
        len(run.wanted),
        ", changed" if run.changed else "",
    )


def _save_confirmed(
    run: PersonRun,
    *,
    now: datetime,
    apply_state: ApplyState | None,
    needs_reapply: bool,
    levels: frozenset[str] | None = None,
    asked_at: datetime | None = None,
) -> HcpPerson:
    """Record what HCP accepted; ``apply_state`` None keeps the devices' state as it was.
    ``now`` is when the desired state was read (``reconciled_at``); ``asked_at`` when HCP
    accepted the reapplication (default ``now``)."""
    values: dict[str, object] = {
        "visitor_id": run.visitor_id,
        "person_id": run.person_id,
        "begin_time": run.begin_time,
        "end_time": run.end_time,
        "access_level_ids": sorted(run.held if levels is None else levels),
        "face_version": run.face_version,
        "face_rejected_reason": run.face_rejected_reason,
        "needs_reapply": needs_reapply,
        # Reapplied at the start of the run (_clear_stale_persons): kept until HCP says the
        # devices applied that (check_application), reapplied again if they failed.
        "stale_person_ids": list(run.stale_reapplied),
    }
    if not needs_reapply:
        # HCP holds the desired state read at ``now``: once the devices have what was last
        # asked for, the visits that ended before then no longer give access.
        values["reconciled_at"] = now
    if apply_state == ApplyState.WAITING:
        values.update(apply_requested_at=asked_at or now, apply_checked_at=None)
    elif apply_state == ApplyState.APPLIED:
        values.update(applied_at=now, apply_checked_at=now)
    if apply_state is not None:
        values.update(apply_state=apply_state, apply_error="")
    if run.revoked:
        confirmed = run.confirmed
        keep = (
            confirmed.revoked_at
            if confirmed is not None
            and confirmed.revoked_at
            and confirmed.person_id == run.person_id
            else None
        )
        values["revoked_at"] = keep or now
    else:
        values["revoked_at"] = None
    if run.deleted:
        values.update(deleted_at=now, add_sent_at=None)
    elif run.person_id:
        values["deleted_at"] = None
    saved, _ = HcpPerson.objects.update_or_create(person_code=run.person_code, defaults=values)
    return saved


def _complete_work(run: PersonRun, *, now: datetime) -> bool:
    """Delete the work, or keep it due when the desired state changes by time alone - only if
    no new change came in while we worked (the generation we read is still the row's)."""
    claim = run.claim
    mine = AccessWork.objects.filter(
        pk=claim.pk, generation=claim.generation, lease_token=claim.token
    )
    next_change = run.desired.next_change_at
    if run.end_validity_deferred:
        # Its validity end waits for the revocations queued meanwhile (SYNC: after them and
        # the grants); the desired state is read again then.
        done = mine.update(
            due_at=now,
            priority=WorkPriority.SYNC,
            revoke_due_at=None,
            reasons=[run.deferred_reason],
            state=WorkState.PENDING,
            retries_by_itself=False,
            attempts=0,
            last_error_code="",
            last_error_message="",
            leased_until=None,
            lease_token="",
            updated_at=now,
        )
    elif next_change is None:
        done = mine.delete()[0]
    else:
        priority = _priority_at(run, next_change)
        if priority == WorkPriority.REVOKE:
            lower_hint(REVOCATION_DUE_KEY, next_change)
        done = mine.update(
            due_at=next_change,
            priority=priority,
            revoke_due_at=next_change if priority == WorkPriority.REVOKE else None,
            reasons=[RESCHEDULED_REASON],
            state=WorkState.PENDING,
            retries_by_itself=False,
            attempts=0,
            last_error_code="",
            last_error_message="",
            leased_until=None,
            lease_token="",
            updated_at=now,
        )
    if not done:  # changed meanwhile: stays pending, due as the new request said
        _release(claim, attempts=0)
    return bool(done)


def _priority_at(run: PersonRun, moment: datetime) -> WorkPriority:
    """REVOKE when access shrinks at ``moment`` (a window closing), GRANT when it opens."""
    current = run.desired.person
    later = desired_state(run.person_code, now=moment).person
    if current is None:
        return WorkPriority.GRANT
    if later is None or current.grant.access_level_ids - later.grant.access_level_ids:
        return WorkPriority.REVOKE
    return WorkPriority.GRANT


def _mark_visits_revoked(visitor_id: int | None, *, read_at: datetime, at: datetime) -> int:
    """The time to revoke ends: the visits whose access ended before the desired state that
    HCP now applies was read no longer give access on the devices."""
    if visitor_id is None:
        return 0
    return Visit.objects.filter(
        visitor_id=visitor_id,
        access_should_end_at__isnull=False,
        access_should_end_at__lte=read_at,
        access_revoked_at__isnull=True,
    ).update(access_revoked_at=at)


# --- errors and leases --------------------------------------------------------------------


def _settle(claim: Claim, exc: Exception, *, now: datetime, into: ReconcileResult) -> None:
    """A person's work could not finish: retry it later (transient) or mark it failed."""
    if isinstance(exc, DatabaseError):
        raise exc
    if isinstance(exc, TransientError):
        delay = _retry(claim, exc, now=now)
        into.retried += 1
        if isinstance(exc, CircuitOpenError):
            into.paused_for = max(into.paused_for, delay)
        elif _quick_quota_retry(claim, exc) is not None:
            sooner = [into.revocation_retry_in] if into.revocation_retry_in else []
            into.revocation_retry_in = min([*sooner, delay])
        return
    if isinstance(exc, WorkFailed):
        code, message = exc.code, exc.message
    elif isinstance(exc, HikCentralError):
        code, message = exc.code or type(exc).__name__, str(exc)
    else:
        # A bug or bad data: no retry would help. Logged with its traceback, never hidden.
        logger.error("access work for %s failed unexpectedly", claim.person_code, exc_info=exc)
        code, message = "internal", f"{type(exc).__name__}: {exc}"
    _fail(claim, code, message, now=now, retry_by_itself=clears_by_itself(exc))
    into.failed += 1


# Failures that may clear with nothing changing on our side: retried every
# PROPUSK_ACCESS_FAILED_RETRY_MINUTES. Every other permanent failure needs someone to act (a
# person with our code made by hand elsewhere, a parameter HCP refuses, a face file missing, a
# partner without permission) and stays failed until a new change or a manual resync.
ORG_FAILURES = frozenset({"org_missing", "org_ambiguous"})


def clears_by_itself(exc: Exception) -> bool:
    """The organisation missing or ambiguous (someone creates or renames it in HCP, which
    tells us nothing), or HCP full (HCPLimitReached: the cleanup after the retention frees
    room)."""
    return (isinstance(exc, WorkFailed) and exc.code in ORG_FAILURES) or isinstance(
        exc, HCPLimitReached
    )


def _retry(claim: Claim, exc: TransientError, *, now: datetime) -> float:
    """Put the work back due later; the delay. A circuit breaker's refusal sent nothing: the
    work is due when the breaker lets a call through, with no attempt counted (an outage
    must not pile backoff up: HCP back, everything goes at once). Any other transient error
    counts an attempt and backs off exponentially."""
    if isinstance(exc, CircuitOpenError):
        attempts = claim.attempts
        delay = min(_breaker_wait(exc), settings.PROPUSK_ACCESS_RETRY_MAX_SECONDS)
    else:
        attempts = claim.attempts + 1
        delay = backoff_seconds(attempts)
    quick = _quick_quota_retry(claim, exc)
    if quick is not None:
        delay = quick
    elif isinstance(exc, HCPRateLimited) and exc.retry_after:
        delay = max(delay, min(exc.retry_after, settings.PROPUSK_ACCESS_RETRY_MAX_SECONDS))
    error = {
        "state": WorkState.PENDING,
        "retries_by_itself": False,
        "attempts": attempts,
        "last_error_code": (exc.code or type(exc).__name__)[:64],
        "last_error_message": str(exc)[:MESSAGE_LENGTH],
        "leased_until": None,
        "lease_token": "",
        "updated_at": now,
    }
    logger.warning(
        "access work for %s: transient HCP error (%s), attempt %d, retry in %.0f s",
        claim.person_code,
        exc,
        attempts,
        delay,
    )
    updated = AccessWork.objects.filter(
        pk=claim.pk, generation=claim.generation, lease_token=claim.token
    ).update(due_at=now + timedelta(seconds=delay), **error)
    if claim.priority == WorkPriority.REVOKE:
        lower_hint(REVOCATION_DUE_KEY, now + timedelta(seconds=delay))
    if not updated:  # a new change came in: it keeps its own due time
        AccessWork.objects.filter(pk=claim.pk, lease_token=claim.token).update(**error)
    return delay


# HCP's call quota counts calls per second: a revocation it refused over the quota is tried
# again 0.2-0.5 s later (or when HCP says), its first few times, instead of waiting out the
# backoff of a failing server (5-10 s) - the devices must drop the face in seconds. Our own
# rate limiter keeps such refusals rare (one a run in the benchmark: calls bunched on their
# way to HCP), so HCP has room again a few calls later; refused again, the next quick retry
# comes; a revocation refused again and again backs off.
QUICK_QUOTA_RETRIES = 3
QUICK_QUOTA_RETRY_SECONDS = (0.2, 0.5)


def _quick_quota_retry(claim: Claim, exc: TransientError) -> float | None:
    """The short wait of a revocation refused over HCP's quota, or None."""
    if not (isinstance(exc, HCPRateLimited) and claim.priority == WorkPriority.REVOKE):
        return None
    if claim.attempts + 1 > QUICK_QUOTA_RETRIES:
        return None
    if exc.retry_after:
        return min(float(exc.retry_after), float(settings.PROPUSK_ACCESS_RETRY_MAX_SECONDS))
    return random.uniform(*QUICK_QUOTA_RETRY_SECONDS)  # noqa: S311 - jitter


def _breaker_wait(exc: CircuitOpenError) -> float:
    """Seconds until the breaker lets a call through (its cool-down, or a probe's lease)."""
    return breaker_wait(exc, default=settings.PROPUSK_ACCESS_RETRY_MIN_SECONDS)


def backoff_seconds(attempts: int) -> float:
    """Exponential, with jitter so that retries spread out, bounded by the settings: about
    5, 10, 20 ... s, at most 5 min by default."""
    low = settings.PROPUSK_ACCESS_RETRY_MIN_SECONDS
    high = settings.PROPUSK_ACCESS_RETRY_MAX_SECONDS
    ceiling = min(high, low * 2 ** min(attempts - 1, 30))
    return min(high, max(low, random.uniform(ceiling / 2, ceiling)))  # noqa: S311 - jitter


def _fail(
    claim: Claim, code: str, message: str, *, now: datetime, retry_by_itself: bool = False
) -> None:
    values = {
        "last_error_code": code[:64],
        "last_error_message": message[:MESSAGE_LENGTH],
        "leased_until": None,
        "lease_token": "",
        "updated_at": now,
    }
    failed: dict[str, object] = {"state": WorkState.FAILED, "retries_by_itself": retry_by_itself}
    if retry_by_itself:
        failed["due_at"] = now + timedelta(minutes=settings.PROPUSK_ACCESS_FAILED_RETRY_MINUTES)
    updated = AccessWork.objects.filter(
        pk=claim.pk, generation=claim.generation, lease_token=claim.token
    ).update(**failed, **values)
    if not updated:  # a new change came in meanwhile: let it try
        AccessWork.objects.filter(pk=claim.pk, lease_token=claim.token).update(**values)
    if claim.failed_code == code:
        # Failed work retried on its slow schedule, failing as before: audited once, when it
        # first failed.
        logger.warning("access work for %s still fails: %s %s", claim.person_code, code, message)
        return
    logger.error("access work for %s failed: %s %s", claim.person_code, code, message)
    target: models.Model | type[models.Model] = _visitor(claim.visitor_id) or HcpPerson
    record(
        actor=None,
        actor_label=AUDIT_ACTOR,
        action="hcp.work_failed",
        target=target,
        changes={"person_code": claim.person_code, "code": code, "message": message},
    )


def _renew_lease(claim: Claim, *, now: datetime) -> bool:
    seconds = claim.lease_seconds or settings.PROPUSK_ACCESS_LEASE_SECONDS
    return bool(
        AccessWork.objects.filter(pk=claim.pk, lease_token=claim.token).update(
            leased_until=now + timedelta(seconds=seconds)
        )
    )


def _release(claim: Claim, *, attempts: int) -> None:
    AccessWork.objects.filter(pk=claim.pk, lease_token=claim.token).update(
        leased_until=None, lease_token="", attempts=attempts
    )


def _release_leases(token: str) -> None:
    """A run that stops on an error gives its leases back, so the next run need not wait."""
    try:
        AccessWork.objects.filter(lease_token=token).update(leased_until=None, lease_token="")
    except DatabaseError as exc:
        logger.warning(
            "access: could not release leases after an error (%s); they expire in %.0f s",
            type(exc).__name__,
            settings.PROPUSK_ACCESS_LEASE_SECONDS,
        )


# --- the devices: has HCP applied our changes? ---------------------------------------------


def check_application(
    hcp: HikCentralClient,
    *,
    now: datetime | None,
    into: ReconcileResult | None = None,
    revocations_only: bool = False,
) -> ReconcileResult:
    """Ask HCP whether the persons waiting for the devices got there, and record it.

    ``now`` None: the real clock, and a person found applied is recorded applied at the
    moment HCP's answer came (the end of its time to revoke), not when the look began; a
    fixed ``now`` (tests) stands for both.

    HCP's answers may not say (no public source shows them; the client reads what it can):
    UNKNOWN with no failure listed for ``PROPUSK_ACCESS_APPLY_ASSUME_SECONDS`` is taken as
    applied; still pending after ``PROPUSK_ACCESS_APPLY_TIMEOUT_SECONDS`` is recorded as "not
    known" and no longer asked about - but not at the first look after a long pause (every
    worker stopped): what the devices did meanwhile is judged first. A failure listed for a
    person is recorded and its reapplication retried after
    ``PROPUSK_ACCESS_APPLY_RETRY_SECONDS``. HCP not answering (down, over quota) leaves every
    person waiting as it was.

    ``revocations_only``: the look a batch of grants takes between two persons, or a run
    lingering for its revocation: only revocations are judged (recording hundreds of grants
    applied at once would hold the batch, and the next revocation, up); the grants are judged
    at the next run's start or end.
    """
    result = into if into is not None else ReconcileResult()
    live = now is None
    now = current_time() if now is None else now
    waiting = _waiting()
    candidates = _checkable(now)
    if revocations_only:
        candidates = candidates.filter(_REVOKING)
    rows = list(candidates.order_by("apply_requested_at")[: settings.PROPUSK_ACCESS_MAX_PER_RUN])
    # Claimed by marking them asked now (a conditional UPDATE): of two workers looking at
    # once, one asks HCP about a person, so the checks' calls stay bounded.
    if rows and _checkable(now).filter(pk__in=[row.pk for row in rows]).update(
        apply_checked_at=now
    ) < len(rows):
        claimed = set(
            HcpPerson.objects.filter(
                pk__in=[row.pk for row in rows], apply_checked_at=now
            ).values_list("pk", flat=True)
        )
        rows = [row for row in rows if row.pk in claimed]
    if rows:
        # A revocation's confirmation ends its time to revoke: it goes ahead of grants.
        revoking = any(row.revoked_at is not None or row.stale_person_ids for row in rows)
        asker = hcp.with_priority("revoke" if revoking else "grant")
        applied = []
        started = time.monotonic()
        # The first revocations are asked about one by one: HCP's answer is then the
        # person's own, whatever shape applicationResult has.
        answered = _ask_per_person(asker, rows)
        per_person_ms = (time.monotonic() - started) * 1000
        confirmed = []
        for row in rows:
            own = answered.get(row.pk)
            if own is None:
                continue
            outcome = own.outcome
            if outcome == ApplicationOutcome.APPLIED:
                confirmed.append(row)
            else:
                listed = _own_failures(row, own) if outcome == ApplicationOutcome.FAILED else ()
                _record_application(row, outcome, listed, now=now, into=result)
        # Recorded before applicationResult is read for the others: their time to revoke
        # ends here, not after a call whose answer grows with the grants waiting.
        _record_applied(confirmed, now=current_time() if live else now, into=result)
        rest = [row for row in rows if row.pk not in answered]
        answer = _read_application(asker) if rest else None
        if logger.isEnabledFor(logging.DEBUG):
            # Where a confirmation's time goes (docs/access-engine.md, fourth round).
            logger.debug(
                "access: look at %d person(s) (%d revocation(s)), %.0f ms late: %d asked one "
                "by one in %.0f ms, %d by applicationResult (%s) in %.0f ms",
                len(rows),
                sum(1 for row in rows if row.revoked_at is not None),
                _lateness_ms(rows, now=now),
                len(answered),
                per_person_ms,
                len(rest),
                answer[0].shape if answer is not None else "-",
                (time.monotonic() - started) * 1000 - per_person_ms,
            )
        if answer is not None:
            stats, failures = answer
            for row in rest:
                outcome, listed = _judge(row, stats, failures)
                if _applied(row, outcome, now=now):
                    applied.append(row)
                else:
                    _record_application(row, outcome, listed, now=now, into=result)
        elif rest:
            # Not asked after all: a look HCP did not answer does not count as one.
            for row in rest:
                HcpPerson.objects.filter(pk=row.pk, apply_checked_at=now).update(
                    apply_checked_at=row.apply_checked_at
                )
        _record_applied(applied, now=current_time() if live else now, into=result)
    result.waiting = waiting.count()
    next_check, next_revocation_check = _next_checks(now)
    set_hint(REVOCATION_CHECK_KEY, next_revocation_check)
    result.next_check_in = (
        max((next_check - now).total_seconds(), 0.001) if next_check is not None else 0.0
    )
    return result


def _lateness_ms(rows: Sequence[HcpPerson], *, now: datetime) -> float:
    """How long after the earliest moment it could be asked about a look reached its most
    overdue person (the first look is due the check interval after the reapplication)."""
    every, fast = _recheck_every()
    due = [
        row.apply_requested_at + every
        if row.apply_checked_at is None
        else row.apply_checked_at
        + (fast if row.revoked_at is not None or row.stale_person_ids else every)
        for row in rows
        if row.apply_requested_at is not None
    ]
    return max(((now - moment).total_seconds() * 1000 for moment in due), default=0.0)


# A revocation, for the devices: a person revoked, or former persons of a code to drop.
_REVOKING = Q(revoked_at__isnull=False) | ~Q(stale_person_ids=[])


def _recheck_every() -> tuple[timedelta, timedelta]:
    """(the check interval, the revocations' re-check interval)."""
    every = settings.PROPUSK_ACCESS_APPLY_CHECK_SECONDS
    return timedelta(seconds=every), timedelta(seconds=every / REVOKE_RECHECK_DIVISOR)


def _checkable(now: datetime) -> models.QuerySet[HcpPerson]:
    """The persons waiting for the devices that may be asked about now: no sooner than
    ``PROPUSK_ACCESS_APPLY_CHECK_SECONDS`` after the reapplication (HCP may still list a
    failure of the previous one right after it), then no more often than that - a
    revocation every quarter of it, its confirmation being the time to revoke."""
    every, fast = _recheck_every()
    return (
        _waiting()
        .filter(
            Q(apply_checked_at__isnull=True)
            | Q(apply_checked_at__lte=now - every)
            | (_REVOKING & Q(apply_checked_at__lte=now - fast))
        )
        .filter(apply_requested_at__lte=now - every)
    )


def _next_checks(now: datetime) -> tuple[datetime | None, datetime | None]:
    """When the first waiting person, and the first waiting revocation, may be asked about
    (None: none waits). One query."""
    every, fast = _recheck_every()
    first = _waiting().aggregate(
        unchecked=Min("apply_requested_at", filter=Q(apply_checked_at__isnull=True)),
        checked=Min("apply_checked_at", filter=~_REVOKING & Q(apply_checked_at__isnull=False)),
        revocation_unchecked=Min(
            "apply_requested_at", filter=_REVOKING & Q(apply_checked_at__isnull=True)
        ),
        revocation_checked=Min(
            "apply_checked_at", filter=_REVOKING & Q(apply_checked_at__isnull=False)
        ),
    )

    def earliest(*moments: datetime | None) -> datetime | None:
        present = [moment for moment in moments if moment is not None]
        return min(present) if present else None

    def plus(moment: datetime | None, delta: timedelta) -> datetime | None:
        return moment + delta if moment is not None else None

    revocation = earliest(
        plus(first["revocation_unchecked"], every), plus(first["revocation_checked"], fast)
    )
    return (
        earliest(plus(first["unchecked"], every), plus(first["checked"], every), revocation),
        revocation,
    )


def _waiting() -> models.QuerySet[HcpPerson]:
    """The persons waiting for the devices: ours in HCP, or former persons of a code (deleted
    or made again by hand) the devices must drop."""
    return HcpPerson.objects.filter(apply_state=ApplyState.WAITING).exclude(
        Q(person_id="") & Q(stale_person_ids=[])
    )


# Whether HCP answers elementDownloadDetail for our persons, per HCP address: refused (it
# serves the visitor module's persons only) until this monotonic time; asked again after
# PROPUSK_ACCESS_DIRECTORY_CACHE_SECONDS.
_person_looks_refused: dict[str, float] = {}


def _ask_per_person(
    hcp: HikCentralClient, rows: Sequence[HcpPerson]
) -> dict[int, PersonApplication]:
    """Ask HCP about the first ``PROPUSK_ACCESS_APPLY_PERSON_LOOKS`` revocations among
    ``rows`` each by itself (``elementDownloadDetail``, a call each, ``HCP_PARALLEL_CALLS``
    at a time), the longest waiting first;
    the answers that say something (applied, pending or failed), by row. Rows with former
    persons to drop, an answer that says nothing, HCP refusing the call (then not asked
    again for a while) or not answering: left to ``applicationResult``."""
    budget = settings.PROPUSK_ACCESS_APPLY_PERSON_LOOKS
    key = hcp.config.base_url
    with _directory_lock:
        refused_until = _person_looks_refused.get(key, 0.0)
    if not budget or time.monotonic() < refused_until:
        return {}
    chosen = [
        row
        for row in rows
        if row.revoked_at is not None and row.person_id and not row.stale_person_ids
    ][:budget]
    answered: dict[int, PersonApplication] = {}
    # Side by side (``HCP_PARALLEL_CALLS``): the last one's answer, and so its time to
    # revoke, does not wait for the others' round trips.
    calls = [lambda row=row: hcp.person_application(row.person_id) for row in chosen]
    unanswered = 0
    for row, outcome in zip(chosen, side_by_side(calls), strict=True):
        try:
            own = outcome.get()
        except HikCentralError as exc:
            unanswered += 1
            if unanswered == 1:  # HCP down or busy: once a look, not once a person
                logger.warning(
                    "access: HCP did not answer about %s's devices (%s)", row.person_code, exc
                )
            continue
        if own is None:
            logger.info(
                "access: HCP refuses elementDownloadDetail for %s; revocations are judged by "
                "applicationResult for %.0f s",
                row.person_code,
                settings.PROPUSK_ACCESS_DIRECTORY_CACHE_SECONDS,
            )
            with _directory_lock:
                _person_looks_refused[key] = (
                    time.monotonic() + settings.PROPUSK_ACCESS_DIRECTORY_CACHE_SECONDS
                )
            break
        if own.outcome != ApplicationOutcome.UNKNOWN:
            answered[row.pk] = own
    return answered


def _own_failures(row: HcpPerson, own: PersonApplication) -> tuple[ApplicationFailure, ...]:
    """The person's failures as ``applicationResult`` would list them (for the record)."""
    message = own.face_error or "elementDownloadDetail lists a failure"
    return tuple(
        ApplicationFailure(
            person_id=own.person_id,
            person_code=row.person_code,
            door_index_code=door,
            acs_dev_index_code=None,
            fail_time=None,
            error_code=None,
            error_msg=message,
        )
        for door in own.failed_doors or ("?",)
    )


def _judge(
    row: HcpPerson, stats: ApplicationStats, failures: Sequence[ApplicationFailure]
) -> tuple[ApplicationOutcome, tuple[ApplicationFailure, ...]]:
    """The outcome for one waiting person.

    HCP's counts (``toBeAppliedNum``, ``applyingNum``) are site-wide and say how many persons
    wait, not who. But our person was reapplied (that is why it waits), so it is not among
    those still *to be* applied - a change someone made in HCP's client and never applied
    stays there for ever; it can only be among those *being* applied. Nothing being applied,
    and no failure listed for it: every reapplication HCP accepted before the question,
    ours among them, has reached the devices."""
    ids = [person_id for person_id in [row.person_id, *row.stale_person_ids] if person_id]
    progress = judge_application(stats=stats, failures=failures, person_ids=ids)
    outcome = progress.outcome
    if (
        outcome == ApplicationOutcome.PENDING
        and stats.shape == "counts"
        and stats.applying == 0
        and stats.pending_person_ids is None
    ):
        outcome = ApplicationOutcome.APPLIED
    return outcome, progress.failures


def _read_application(
    hcp: HikCentralClient,
) -> tuple[ApplicationStats, list[ApplicationFailure]] | None:
    """HCP's statistics, and its failure list when they do not rule failures out (one call
    instead of two while nothing failed). None: HCP did not answer (it is down or busy): the
    persons wait as they were, nothing is judged on an answer not given."""
    try:
        stats = hcp.application_stats()
        failures = hcp.application_failures() if stats.failed != 0 else []
    except TransientError as exc:
        logger.warning("access: HCP did not answer about the devices (%s); asked again later", exc)
        return None
    except HikCentralError as exc:
        # Never hang on it: an answer refused for good is "not known", which times out.
        logger.warning("access: could not read HCP's application results: %s", exc)
        return ApplicationStats.unknown(), []
    return stats, failures


def _applied(row: HcpPerson, outcome: ApplicationOutcome, *, now: datetime) -> bool:
    """HCP says the devices have it, or does not say and lists no failure for it after
    ``PROPUSK_ACCESS_APPLY_ASSUME_SECONDS``."""
    if outcome == ApplicationOutcome.APPLIED:
        return True
    assert row.apply_requested_at is not None  # noqa: S101 - filtered on it
    waited = (now - row.apply_requested_at).total_seconds()
    if outcome == ApplicationOutcome.UNKNOWN and waited >= (
        settings.PROPUSK_ACCESS_APPLY_ASSUME_SECONDS
    ):
        logger.info(
            "access: HCP does not say whether %s is applied; no failure listed after %.0f s, "
            "taken as applied",
            row.person_code,
            waited,
        )
        return True
    return False


# Persons recorded as applied per query (a burst's hundreds are confirmed by one look).
APPLIED_CHUNK = 200


def _record_applied(rows: Sequence[HcpPerson], *, now: datetime, into: ReconcileResult) -> None:
    """Record these persons as applied - each only if it still waits for the reapplication
    that was judged (not a newer one) - in a few queries, not a few per person: one look
    after a burst confirms hundreds, and a batch (or a revocation) waits for it. The time to
    revoke ends for the visits of those whose access had ended."""
    for start in range(0, len(rows), APPLIED_CHUNK):
        chunk = rows[start : start + APPLIED_CHUNK]
        judged = Q(pk__in=[])
        for row in chunk:
            judged |= Q(pk=row.pk, apply_requested_at=row.apply_requested_at)
        with transaction.atomic():
            mine = set(
                HcpPerson.objects.select_for_update()
                .filter(judged, apply_state=ApplyState.WAITING)
                .values_list("pk", flat=True)
            )
            HcpPerson.objects.filter(pk__in=mine).update(
                apply_state=ApplyState.APPLIED,
                applied_at=now,
                apply_checked_at=now,
                apply_error="",
                stale_person_ids=[],  # the devices dropped them
            )
            done = [row for row in chunk if row.pk in mine]
            ended = set(
                Visit.objects.filter(
                    visitor_id__in={row.visitor_id for row in done if row.visitor_id},
                    access_should_end_at__isnull=False,
                    access_revoked_at__isnull=True,
                ).values_list("visitor_id", flat=True)
            )
            for row in done:
                if row.visitor_id in ended:
                    # The desired state HCP now applies was read then (the reapplication
                    # itself went later).
                    read_at = row.reconciled_at or row.apply_requested_at
                    assert read_at is not None  # noqa: S101 - filtered on it
                    _mark_visits_revoked(row.visitor_id, read_at=read_at, at=now)
        into.applied += len(done)


def _record_application(
    row: HcpPerson,
    outcome: ApplicationOutcome,
    failures: Sequence[ApplicationFailure],
    *,
    now: datetime,
    into: ReconcileResult,
) -> None:
    """A person not applied (yet): failed, or still pending."""
    assert row.apply_requested_at is not None  # noqa: S101 - filtered on it
    waited = (now - row.apply_requested_at).total_seconds()
    still_mine = HcpPerson.objects.filter(
        pk=row.pk, apply_state=ApplyState.WAITING, apply_requested_at=row.apply_requested_at
    )
    if outcome == ApplicationOutcome.FAILED:
        error = "; ".join(_describe_failure(failure) for failure in failures)
        with transaction.atomic():
            if still_mine.update(
                apply_state=ApplyState.FAILED,
                apply_checked_at=now,
                apply_error=(error or "HCP lists a failure")[:MESSAGE_LENGTH],
            ):
                request_reconcile(
                    person_code=row.person_code,
                    visitor_id=row.visitor_id,
                    reason="application to the devices failed",
                    revoke=row.revoked_at is not None or bool(row.stale_person_ids),
                    due_at=now + timedelta(seconds=settings.PROPUSK_ACCESS_APPLY_RETRY_SECONDS),
                    now=now,
                )
                into.apply_failed += 1
        logger.warning("access: HCP failed to apply %s: %s", row.person_code, error)
        return
    timeout = settings.PROPUSK_ACCESS_APPLY_TIMEOUT_SECONDS
    # Looked at recently: the person was seen waiting all along. The first look after a long
    # pause (every worker stopped) finds HCP busy with what came in meanwhile: look again.
    watched = row.apply_checked_at is not None and (
        (now - row.apply_checked_at).total_seconds() <= timeout / 2
    )
    if waited >= timeout and watched:
        still_mine.update(
            apply_state=ApplyState.UNKNOWN,
            apply_checked_at=now,
            apply_error=f"HCP still reported changes waiting {waited:.0f} s after the "
            "reapplication",
        )
        logger.warning("access: %s not confirmed applied after %.0f s", row.person_code, waited)
        return
    # Still pending: nothing to write. The look's claim already set ``apply_checked_at`` to
    # ``now`` on every row it asks about; with HCP's counts during a burst a look finds
    # hundreds of grants pending, and a query each held the worker (and the next revocation).


def _describe_failure(failure: ApplicationFailure) -> str:
    door = failure.door_name or failure.door_index_code or "a device"
    return f"{door}: {failure.error_code or '?'} {failure.error_msg or ''}".strip()


# --- organisation, audit, client ----------------------------------------------------------


# The organisation of our persons and the door list, kept between the runs of one process for
# PROPUSK_ACCESS_DIRECTORY_CACHE_SECONDS: neither changes often, and reading them cost two
# calls a run. An answer suggesting either changed reads it again (OurOrganisation.refresh,
# _reapply_to_doors). Keyed by HCP's address (and the organisation's name).
_directory_lock = threading.Lock()
_org_codes: dict[tuple[str, str], tuple[str, float]] = {}
_door_lists: dict[str, tuple[list[str], float]] = {}


def forget_hcp_directory() -> None:
    """Drop the remembered organisation and door list: the next run reads them again."""
    with _directory_lock:
        _org_codes.clear()
        _door_lists.clear()
        _person_looks_refused.clear()


def _fresh(read_at: float) -> bool:
    return time.monotonic() - read_at < settings.PROPUSK_ACCESS_DIRECTORY_CACHE_SECONDS


def _door_codes(hcp: HikCentralClient, *, refresh: bool = False) -> list[str]:
    key = hcp.config.base_url
    with _directory_lock:
        cached = _door_lists.get(key)
    if cached is not None and not refresh and _fresh(cached[1]):
        return cached[0]
    doors = [door.door_index_code for door in hcp.list_doors()]
    with _directory_lock:
        _door_lists[key] = (doors, time.monotonic())
    return doors


@dataclass
class OurOrganisation:
    """The HCP organisation of our persons (``HCP_ORG_NAME``) for one run: its index code,
    remembered between runs (above), read again at most once a run.

    HCP's OpenAPI lists organisations but has no call to create one (OPENAPI.md §4): it is
    created by hand in HCP. Missing or ambiguous, the work fails with a message saying so
    (once read in a run, the failure holds for the rest of the run: one call, not one per
    person).
    """

    name: str = field(default_factory=lambda: settings.HCP_ORG_NAME)
    _failure: WorkFailed | None = None
    _read_in_this_run: bool = False

    def index_code(self, hcp: HikCentralClient) -> str:
        if self._failure is not None:
            raise WorkFailed(self._failure.code, self._failure.message)
        with _directory_lock:
            cached = _org_codes.get(self._key(hcp))
        if cached is not None and _fresh(cached[1]):
            return cached[0]
        return self.read(hcp)

    def refresh(self, hcp: HikCentralClient) -> str | None:
        """Read the organisation again (an answer suggests it changed), unless this run
        already did: its index code, or None when it was read in this run already."""
        if self._read_in_this_run:
            return None
        return self.read(hcp)

    def _key(self, hcp: HikCentralClient) -> tuple[str, str]:
        return hcp.config.base_url, self.name

    def read(self, hcp: HikCentralClient) -> str:
        """Read the organisation from HCP now and remember it."""
        self._read_in_this_run = True
        with _directory_lock:
            _org_codes.pop(self._key(hcp), None)
        orgs = hcp.list_orgs(org_name=self.name)  # also lists the matches' ancestors
        matches = [org for org in orgs if org.org_name == self.name]
        if not matches:
            self._failure = WorkFailed(
                "org_missing",
                f"HCP has no organisation named {self.name!r} (HCP_ORG_NAME). Create it in "
                "HCP (Person > Organization): HCP's OpenAPI cannot create one.",
            )
        elif len(matches) > 1:
            self._failure = WorkFailed(
                "org_ambiguous",
                f"HCP has {len(matches)} organisations named {self.name!r} "
                "(HCP_ORG_NAME): rename all but ours.",
            )
        if self._failure is not None:
            raise WorkFailed(self._failure.code, self._failure.message)
        code = matches[0].org_index_code
        with _directory_lock:
            _org_codes[self._key(hcp)] = (code, time.monotonic())
        return code


def our_org_index_code(hcp: HikCentralClient, *, refresh: bool = False) -> str:
    """Our organisation's index code (remembered, or read afresh with ``refresh``); raises
    WorkFailed ``org_missing`` / ``org_ambiguous``. For the full sync."""
    org = OurOrganisation()
    return org.read(hcp) if refresh else org.index_code(hcp)


def _audit(
    run: PersonRun, action: str, *, sent: dict[str, object], answer: dict[str, object]
) -> None:
    """Every change made in HCP: what was sent and what HCP answered - never a face, a name or
    a phone number."""
    target: models.Model = (
        _visitor(run.visitor_id) or HcpPerson.objects.get_or_create(person_code=run.person_code)[0]
    )
    record(
        actor=None,
        actor_label=AUDIT_ACTOR,
        action=action,
        target=target,
        changes={"sent": sent, "answer": answer},
    )


def _visitor(visitor_id: int | None) -> Visitor | None:
    if visitor_id is None:
        return None
    return Visitor.objects.filter(pk=visitor_id).first()


def _hcp_message(exc: HikCentralError) -> str:
    return f"HCP {exc.code}: {exc.msg}" if exc.code else str(exc)


_client_lock = threading.Lock()
_client: HikCentralClient | None = None


def process_client() -> HikCentralClient:
    """The process's HCP client (one per process: it keeps the connections), built again when
    the settings changed."""
    global _client  # noqa: PLW0603 - one client per process
    config = build_config()
    with _client_lock:
        if _client is None or _client.config != config:
            if _client is not None:
                _client.close()
            _client = build_client(
                # Its writes stay in the thread that called HCP side by side (parallel.py).
                circuit_breaker=build_circuit_breaker(on_closed=in_caller(hcp_answers_again))
            )
        return _client


def hcp_answers_again(*, now: datetime | None = None) -> int:
    """HCP answered after an outage (the circuit breaker closed): the work put back on a
    transient error - the breaker's refusals, the backoff of failed calls - is due now, and
    a worker is woken, so the queue drains at once instead of when each backoff ends. How
    many rows were brought forward."""
    moment = now or current_time()
    count = (
        AccessWork.objects.filter(state=WorkState.PENDING, due_at__gt=moment)
        .exclude(last_error_code="")
        .update(due_at=moment)
    )
    if count:
        logger.info("access: HCP answers again; %d person(s) waiting on it due now", count)
        lower_hint(REVOCATION_DUE_KEY, moment)  # revocations may be among them
        wake_reconciler()
    return count
