"""Reads for the access engine: which policies a user may give a visitor, and a visitor's
access in HikCentral - desired beside confirmed, the work, a hold, the history - for the visit
page, the admin and the commands."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from propusk.access.desired import Desired, desired_state
from propusk.access.models import (
    AccessHold,
    AccessLevelPolicy,
    AccessWork,
    ApplyState,
    HcpPerson,
    WorkState,
)
from propusk.accounts.roles import Role, has_role
from propusk.audit.models import AuditEntry
from propusk.core.time import now as current_time
from propusk.visitors.models import Visitor
from propusk.visits.models import Visit

# Roles that may give any active policy; anyone else (a host) only those marked
# ``hosts_may_choose``.
ANY_POLICY_ROLES = (Role.ADMINISTRATOR, Role.RECEPTION)


def can_choose_policy(
    user: AbstractBaseUser | AnonymousUser | None, policy: AccessLevelPolicy
) -> bool:
    """May ``user`` give ``policy`` to a visit or an invitation? ``None`` is the system (e.g.
    a visit made from an invitation, whose policy was checked when the link was made)."""
    if user is None or has_role(user, *ANY_POLICY_ROLES):
        return True
    return policy.hosts_may_choose


def choosable_policies(user: AbstractBaseUser | AnonymousUser) -> QuerySet[AccessLevelPolicy]:
    """The active policies ``user`` may choose, for the forms."""
    policies = AccessLevelPolicy.objects.filter(is_active=True).order_by("name")
    if has_role(user, *ANY_POLICY_ROLES):
        return policies
    return policies.filter(hosts_may_choose=True)


# --- A visitor's access in HikCentral, for the visit page, the admin and the commands -------


class AccessStatus(StrEnum):
    """One word for a visitor's access in HCP: the reception desk's status line."""

    ACTIVE = "active"  # HCP holds the person as wanted
    WAITING = "waiting"  # a change is on its way to HCP or to the devices
    FAILED = "failed"  # the work failed, or a device refused the change: staff must act
    HELD = "held"  # revoked by hand (an active hold)
    NONE = "none"  # no access in HCP, and none wanted

    @property
    def label(self) -> str:
        return str(_STATUS_LABELS[self])

    @property
    def desk_line(self) -> str:
        """What reception reads: the state, and whom to call when staff must act."""
        return str(_DESK_LINES[self])


_STATUS_LABELS = {
    AccessStatus.ACTIVE: gettext_lazy("active in HikCentral"),
    AccessStatus.WAITING: gettext_lazy("waiting for HikCentral"),
    AccessStatus.FAILED: gettext_lazy("failed"),
    AccessStatus.HELD: gettext_lazy("revoked by hand"),
    AccessStatus.NONE: gettext_lazy("no access in HikCentral"),
}
_DESK_LINES = {
    AccessStatus.ACTIVE: gettext_lazy("Access: active in HikCentral."),
    AccessStatus.WAITING: gettext_lazy("Access: waiting for HikCentral."),
    AccessStatus.FAILED: gettext_lazy("Access: failed - call an administrator."),
    AccessStatus.HELD: gettext_lazy("Access: revoked by hand - call an administrator."),
    AccessStatus.NONE: gettext_lazy("Access: none in HikCentral."),
}


@dataclass(frozen=True)
class VisitorAccess:
    """Desired beside confirmed: what HCP must hold for the visitor, what it confirmed, the
    work on its way, an active hold, and the names of the access levels involved."""

    visitor: Visitor
    desired: Desired
    confirmed: HcpPerson | None
    work: AccessWork | None
    hold: AccessHold | None
    level_names: dict[str, str]
    now: datetime

    @property
    def status(self) -> AccessStatus:
        work, confirmed = self.work, self.confirmed
        if self.hold is not None and (confirmed is None or not _holds_access(confirmed)):
            return AccessStatus.HELD
        if (work is not None and work.state == WorkState.FAILED) or (
            confirmed is not None and confirmed.apply_state == ApplyState.FAILED
        ):
            return AccessStatus.FAILED
        on_its_way = (
            work is not None
            and work.state == WorkState.PENDING
            and (work.due_at <= self.now or work.attempts > 0)  # due, or retrying
        )
        if on_its_way or (confirmed is not None and confirmed.apply_state == ApplyState.WAITING):
            return AccessStatus.WAITING
        if self.hold is not None:
            return AccessStatus.HELD
        if self.desired.person is not None and confirmed is not None and _holds_access(confirmed):
            return AccessStatus.ACTIVE
        return AccessStatus.NONE

    @property
    def face_rejected_reason(self) -> str:
        """HCP's reason for refusing the visitor's current face ("" if it did not)."""
        return face_rejected_reason(self.visitor, self.confirmed)

    @property
    def levels_desired(self) -> list[str]:
        person = self.desired.person
        return self.levels(person.grant.access_level_ids) if person is not None else []

    @property
    def levels_confirmed(self) -> list[str]:
        confirmed = self.confirmed
        return self.levels(confirmed.access_level_ids) if confirmed is not None else []

    def levels(self, ids: Iterable[str]) -> list[str]:
        """Access level ids with the names of the policies that give them: "1 (Guests)"."""
        return named_levels(sorted(ids), self.level_names)


def named_levels(ids: Iterable[str], names: dict[str, str]) -> list[str]:
    """Each access level id with the names of the policies that give it: "1 (Guests)"."""
    return [f"{level} ({names[level]})" if names.get(level) else str(level) for level in ids]


def _holds_access(confirmed: HcpPerson) -> bool:
    return bool(confirmed.person_id) and confirmed.revoked_at is None


def face_rejected_reason(visitor: Visitor, confirmed: HcpPerson | None) -> str:
    """HCP's reason for refusing the face the visitor has now; a newer photo is not refused
    yet (it is on its way)."""
    if confirmed is None or not confirmed.face_rejected_reason or not visitor.photo:
        return ""
    if confirmed.face_version != visitor.photo.name:
        return ""
    return confirmed.face_rejected_reason


def visitor_access(visitor: Visitor, *, now: datetime | None = None) -> VisitorAccess:
    """Everything the engine knows about one visitor's access, read from the database."""
    moment = now or current_time()
    desired = desired_state(visitor.person_code, now=moment)
    confirmed = confirmed_person(visitor)
    ids = set(confirmed.access_level_ids if confirmed is not None else [])
    if desired.person is not None:
        ids |= desired.person.grant.access_level_ids
    return VisitorAccess(
        visitor=visitor,
        desired=desired,
        confirmed=confirmed,
        work=access_work(visitor),
        hold=active_hold(visitor),
        level_names=access_level_names(ids),
        now=moment,
    )


def confirmed_person(visitor: Visitor) -> HcpPerson | None:
    """What HCP confirmed holding for the visitor (None: the engine never reached HCP)."""
    return HcpPerson.objects.filter(person_code=visitor.person_code).first()


def access_work(visitor: Visitor) -> AccessWork | None:
    """The visitor's pending or failed work (one row per person code at most)."""
    return AccessWork.objects.filter(person_code=visitor.person_code).first()


def active_hold(visitor: Visitor) -> AccessHold | None:
    """The visitor's active manual revoke, the oldest if several."""
    return (
        AccessHold.objects.filter(visitor=visitor, released_at__isnull=True)
        .select_related("created_by")
        .order_by("created_at", "pk")
        .first()
    )


def access_level_names(ids: Iterable[str]) -> dict[str, str]:
    """For each HCP access level id, the names of the policies that give it ("" if none)."""
    wanted = set(ids)
    names: dict[str, list[str]] = {level: [] for level in wanted}
    for policy in AccessLevelPolicy.objects.order_by("name"):
        for level in policy.hcp_access_level_ids or []:
            if level in wanted:
                names[level].append(policy.name)
    return {level: ", ".join(found) for level, found in names.items()}


HISTORY_PREFIXES = ("hcp.", "access.")


def access_history(visitor: Visitor, *, limit: int = 20) -> list[AuditEntry]:
    """The visitor's latest HCP changes (``hcp.*``, made by the reconciler) and manual
    operations (``access.*``), newest first."""
    prefixes = Q()
    for prefix in HISTORY_PREFIXES:
        prefixes |= Q(action__startswith=prefix)
    return list(
        AuditEntry.objects.filter(
            prefixes, target_type=Visitor._meta.label_lower, target_id=str(visitor.pk)
        )
        .select_related("actor")
        .order_by("-at", "-id")[:limit]
    )


# What the history on the visit page calls each entry; other actions show their code.
HISTORY_LABELS = {
    "hcp.person_added": pgettext_lazy("access history", "Person added in HikCentral"),
    "hcp.person_updated": pgettext_lazy("access history", "Validity or details updated"),
    "hcp.face_updated": pgettext_lazy("access history", "Face sent"),
    "hcp.face_rejected": pgettext_lazy("access history", "Face rejected by HikCentral"),
    "hcp.access_revoked": pgettext_lazy("access history", "Access ended in HikCentral"),
    "hcp.person_deleted": pgettext_lazy(
        "access history", "Person and face deleted from HikCentral"
    ),
    "hcp.membership_added": pgettext_lazy("access history", "Access levels added"),
    "hcp.membership_removed": pgettext_lazy("access history", "Access levels removed"),
    "hcp.work_failed": pgettext_lazy("access history", "Failed"),
    "hcp.stale_person_reapplied": pgettext_lazy(
        "access history", "Devices told to drop a person deleted in HikCentral"
    ),
    "access.revoked_now": pgettext_lazy("access history", "Access revoked by hand"),
    "access.restored": pgettext_lazy("access history", "Access restored by hand"),
    "access.face_reenrol": pgettext_lazy("access history", "Face to be sent again"),
    "access.resync": pgettext_lazy("access history", "Resync asked"),
    "access.work_retried": pgettext_lazy("access history", "Work retried"),
    "access.work_cancelled": pgettext_lazy("access history", "Work cancelled"),
}


# Who made a change that no user made, in words (the reconciler records "access-engine",
# reconciler.AUDIT_ACTOR).
ACTOR_LABELS = {
    "access-engine": pgettext_lazy("access history actor", "automatically (access engine)"),
}


@dataclass(frozen=True)
class AccessHistoryRow:
    at: datetime
    actor: str
    action: str
    details: list[str]


def access_history_rows(
    entries: Iterable[AuditEntry], level_names: dict[str, str] | None = None
) -> list[AccessHistoryRow]:
    """The entries of ``access_history`` in words: what was sent to HCP (validity, levels)
    and what it answered, or the reason of a manual operation."""
    names = level_names or {}
    return [
        AccessHistoryRow(
            at=entry.at,
            actor=(
                (entry.actor.get_full_name() or entry.actor.get_username())
                if entry.actor is not None
                else str(ACTOR_LABELS.get(entry.actor_label, entry.actor_label))
            ),
            action=str(HISTORY_LABELS.get(entry.action, entry.action)),
            details=_history_details(entry.changes, names),
        )
        for entry in entries
    ]


def _history_details(changes: dict[str, Any], names: dict[str, str]) -> list[str]:
    sent, answer = _mapping(changes.get("sent")), _mapping(changes.get("answer"))
    details: list[str] = []
    if sent.get("begin_time") or sent.get("end_time"):
        details.append(
            _("valid %(begin)s - %(end)s")
            % {"begin": _local(sent.get("begin_time")), "end": _local(sent.get("end_time"))}
        )
    levels = sent.get("access_level_ids")
    if isinstance(levels, list) and levels:
        named = ", ".join(named_levels(levels, names))
        details.append(_("access levels: %(levels)s") % {"levels": named})
    if answer.get("person_id"):
        details.append(_("HCP person %(id)s") % {"id": answer["person_id"]})
    message = " ".join(
        str(part)
        for part in (changes.get("code"), answer.get("message") or changes.get("message"))
        if part
    )
    if message:
        details.append(message)
    if changes.get("reason"):
        details.append(_("reason: %(reason)s") % {"reason": changes["reason"]})
    return details


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _local(value: Any) -> str:
    if not isinstance(value, str):
        return "-"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return timezone.localtime(moment).strftime("%d.%m.%Y %H:%M")


def time_to_revoke(visit: Visit) -> timedelta | None:
    """From when the visit's access should have ended to when the devices confirmed it did
    (None until both are known)."""
    if visit.access_should_end_at is None or visit.access_revoked_at is None:
        return None
    return visit.access_revoked_at - visit.access_should_end_at


@dataclass(frozen=True)
class VisitAccessCard:
    """What the visit page shows of the visitor's access, by role: the whole card
    (``detail``) to security and administrators, the one-line ``status`` to reception, and a
    face HCP refused to everyone who sees the visit (staff must take a new photo)."""

    detail: VisitorAccess | None
    status: AccessStatus | None
    face_rejected_reason: str
    history: list[AccessHistoryRow]
    time_to_revoke: timedelta | None

    @property
    def time_to_revoke_seconds(self) -> float | None:
        return self.time_to_revoke.total_seconds() if self.time_to_revoke is not None else None


def visit_access_card(
    user: AbstractBaseUser | AnonymousUser, visit: Visit, *, now: datetime | None = None
) -> VisitAccessCard:
    """The access card of ``visit`` for ``user``, who may see the visit."""
    from propusk.visits.permissions import roles_reaching

    reaching = roles_reaching(user, visit, now=now)
    visitor = visit.visitor
    if reaching & {Role.ADMINISTRATOR, Role.SECURITY}:
        access = visitor_access(visitor, now=now)
        return VisitAccessCard(
            detail=access,
            status=access.status,
            face_rejected_reason=access.face_rejected_reason,
            history=access_history_rows(access_history(visitor), access.level_names),
            time_to_revoke=time_to_revoke(visit),
        )
    if Role.RECEPTION in reaching:
        access = visitor_access(visitor, now=now)
        return VisitAccessCard(
            detail=None,
            status=access.status,
            face_rejected_reason=access.face_rejected_reason,
            history=[],
            time_to_revoke=None,
        )
    return VisitAccessCard(
        detail=None,
        status=None,
        face_rejected_reason=face_rejected_reason(visitor, confirmed_person(visitor)),
        history=[],
        time_to_revoke=None,
    )
