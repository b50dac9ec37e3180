"""Durable access work: which HCP persons need reconciling, written with the change itself.

A change that affects access (a visit registered, confirmed, checked in or out, cancelled,
rescheduled or over; a face replaced; an identity merged at the desk) calls
``request_reconcile`` inside its own transaction: the change and the work row commit together,
or neither does. After commit a worker is woken (``access.tasks.reconcile_due``); if that
wake-up is lost (a broker down, a process killed between commit and callback), the periodic
sweep finds the row anyway. Nothing here talks to HikCentral.
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction

from propusk.access.models import AccessWork, WorkPriority, WorkState
from propusk.core.time import now as current_time

logger = logging.getLogger(__name__)

MAX_REASONS = 10

# Hints in the cache, so that a batch of grants can ask between two persons, with one cache
# read instead of database queries, whether it must give way (docs/access-engine.md): the
# earliest moment a revocation's work may be due, and the earliest moment a revocation waiting
# for the devices may be checked (POSIX timestamps). They are hints, lowered by whoever
# queues such work and set again from the database when they prove stale; the database stays
# the truth at every claim, so a lost hint (a cache emptied) only costs the give-way of one
# batch.
REVOCATION_DUE_KEY = "propusk:access:revocation-due-at"
REVOCATION_CHECK_KEY = "propusk:access:revocation-check-at"
NOTHING_DUE = float("inf")


def lower_hint(key: str, at: datetime) -> None:
    """Bring the hint ``key`` forward to ``at`` (never back: the earliest wins). Not atomic:
    two writers racing may leave the later of their moments, which the claim corrects."""
    moment = at.timestamp()
    try:
        current = cache.get(key)
        if not isinstance(current, int | float) or moment < current:
            cache.set(key, moment, timeout=None)
    except Exception as exc:  # the cache is down: the hint is lost, the work is not
        logger.warning("access: could not write the hint %s (%s)", key, type(exc).__name__)


def set_hint(key: str, at: datetime | None) -> None:
    """Set the hint ``key`` from the database's answer (None: nothing of the kind waits)."""
    try:
        cache.set(key, NOTHING_DUE if at is None else at.timestamp(), timeout=None)
    except Exception as exc:
        logger.warning("access: could not write the hint %s (%s)", key, type(exc).__name__)


def read_hints() -> tuple[float, float]:
    """(revocation due at, revocation check at), as timestamps; NOTHING_DUE when unknown."""
    try:
        values = cache.get_many([REVOCATION_DUE_KEY, REVOCATION_CHECK_KEY])
    except Exception as exc:
        logger.warning("access: could not read the hints (%s)", type(exc).__name__)
        return NOTHING_DUE, NOTHING_DUE
    due = values.get(REVOCATION_DUE_KEY)
    check = values.get(REVOCATION_CHECK_KEY)
    return (
        float(due) if isinstance(due, int | float) else NOTHING_DUE,
        float(check) if isinstance(check, int | float) else NOTHING_DUE,
    )


def request_reconcile(
    *,
    person_code: str,
    visitor_id: int | None,
    reason: str,
    revoke: bool = False,
    priority: WorkPriority | None = None,
    due_at: datetime | None = None,
    now: datetime | None = None,
    wake: bool = True,
) -> None:
    """Record that ``person_code`` must be reconciled (at ``due_at``, default now).

    Call it inside the transaction that made the change. One row per person: a new request
    raises the priority (``revoke``: revocations go first), brings the due time forward, bumps
    the generation and puts failed work back to pending (the new change may well fix it).
    ``revoke`` also records when access should have ended, for the time to revoke.
    ``priority`` overrides the one ``revoke`` implies (the full sync queues its repairs as
    ``SYNC``); a row keeps the highest priority of its requests. ``wake=False``: no worker
    is woken after commit, for callers that queue many persons and wake one worker themselves
    (the full sync) or drain the queue right after (the reconciler's retention sweep).
    """
    moment = now or current_time()
    due = due_at or moment
    if priority is None:
        priority = WorkPriority.REVOKE if revoke else WorkPriority.GRANT
    revoking, hint_at = priority == WorkPriority.REVOKE, due
    with transaction.atomic():
        row = AccessWork.objects.select_for_update().filter(person_code=person_code).first()
        if row is None:
            try:
                with transaction.atomic():
                    AccessWork.objects.create(
                        person_code=person_code,
                        visitor_id=visitor_id,
                        priority=priority,
                        due_at=due,
                        reasons=[reason],
                        revoke_due_at=moment if revoke else None,
                    )
            except IntegrityError:
                # Another transaction created the row a moment ago: coalesce into it.
                row = AccessWork.objects.select_for_update().get(person_code=person_code)
        if row is not None:
            _coalesce(row, visitor_id=visitor_id, priority=priority, due=due, reason=reason)
            if revoke and (row.revoke_due_at is None or moment < row.revoke_due_at):
                row.revoke_due_at = moment
            row.save()
            revoking, hint_at = row.priority == WorkPriority.REVOKE, row.due_at
    if revoking:
        # Read by a batch of grants between two persons: give way to it. Written now (the
        # caller's transaction may be long) and again once committed: a run that read the
        # hint before the commit, found no row and set the hint back is corrected.
        lower_hint(REVOCATION_DUE_KEY, hint_at)
        transaction.on_commit(lambda: lower_hint(REVOCATION_DUE_KEY, hint_at))
    if wake and due <= moment:
        transaction.on_commit(partial(wake_reconciler, urgent=revoking))


def _coalesce(
    row: AccessWork, *, visitor_id: int | None, priority: int, due: datetime, reason: str
) -> None:
    row.generation += 1
    row.priority = min(row.priority, priority)
    if row.state == WorkState.FAILED:
        row.state = WorkState.PENDING
        row.attempts = 0
        row.due_at = due
    else:
        row.due_at = min(row.due_at, due)
    row.reasons = [*row.reasons, reason][-MAX_REASONS:]
    if visitor_id is not None:
        row.visitor_id = visitor_id


def wake_reconciler(*, urgent: bool = False) -> None:
    """Ask a worker to drain the due work now. A lost wake-up only delays the work until the
    next sweep (``PROPUSK_ACCESS_SWEEP_SECONDS``): the rows are in the database.

    ``urgent`` (a revocation is due): the task goes at ``PROPUSK_ACCESS_WAKE_PRIORITY``
    (Redis), ahead of the tasks already queued - event processing, picture downloads - so
    the time to revoke does not wait for a backlog of them.

    With no HikCentral configured (``HCP_BASE_URL`` empty) nobody is woken: the rows wait
    until a site connects its HCP, and the sweep then drains them.
    """
    if not settings.HCP_BASE_URL:
        return
    from propusk.access.tasks import reconcile_due

    try:
        if urgent:
            reconcile_due.apply_async(**urgent_options())
        else:
            reconcile_due.delay()
    except Exception as exc:  # the broker is down: the durable row waits for the sweep
        logger.warning(
            "could not wake the access reconciler (%s: %s); the periodic sweep will pick the "
            "work up",
            type(exc).__name__,
            exc,
        )


def urgent_options() -> dict[str, Any]:
    """``apply_async`` options of a task that should go ahead of those already queued
    (``PROPUSK_ACCESS_WAKE_PRIORITY``; none where the broker has no priorities)."""
    priority = settings.PROPUSK_ACCESS_WAKE_PRIORITY
    return {} if priority is None else {"priority": priority}
