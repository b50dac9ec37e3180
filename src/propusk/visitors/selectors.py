"""Reads for visitors, with the rules of who may see what."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import DateTimeField, Exists, Max, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, Greatest

from propusk.accounts.roles import Role, has_role
from propusk.visitors.crypto import national_id_lookup_hash
from propusk.visitors.models import Visitor

# Roles that may look a visitor up by national ID at the desk. Not hosts: a host typing
# arbitrary ID numbers could learn who has visited. Not security: it registers nobody.
LOOKUP_ROLES = (Role.ADMINISTRATOR, Role.RECEPTION)


# Roles that may erase a visitor's personal data on request: administrators only. Reception
# and security work with today's visitors; erasure cannot be undone.
ERASE_ROLES = (Role.ADMINISTRATOR,)


def can_look_up_visitors(user: AbstractBaseUser | AnonymousUser) -> bool:
    return has_role(user, *LOOKUP_ROLES)


def can_erase_visitors(user: AbstractBaseUser | AnonymousUser) -> bool:
    return has_role(user, *ERASE_ROLES)


def visitor_by_national_id(national_id: str) -> Visitor | None:
    """The visitor with this national ID, found by its keyed hash (nothing is decrypted).

    Raises ``ValidationError`` for a malformed number. Not audited: people-facing look-ups go
    through ``services.look_up_visitor``.
    """
    lookup_hash = national_id_lookup_hash(national_id)
    return Visitor.objects.filter(national_id_hash=lookup_hash).first()


def face_photo_bytes(visitor: Visitor) -> bytes | None:
    """The stored face JPEG, or None if the visitor has none (or the file is gone)."""
    if not visitor.photo:
        return None
    try:
        with visitor.photo.open("rb") as stored:
            return stored.read()
    except FileNotFoundError:
        return None


# --- Retention (visitors.retention, docs/privacy.md) ----------------------------------------


@dataclass(frozen=True)
class RetentionBlockers:
    """Why a visitor's data must stay now: their visits that are not over (awaiting
    confirmation, expected, checked in) and the unresolved incidents about them."""

    visit_ids: tuple[int, ...]
    incident_ids: tuple[int, ...]

    def __bool__(self) -> bool:
        return bool(self.visit_ids or self.incident_ids)


def _holding_statuses() -> tuple[str, ...]:
    from propusk.visits.models import VisitStatus

    # Any visit that is not final: it may give access now or later, or is under way.
    return (VisitStatus.PENDING, VisitStatus.AWAITING, VisitStatus.CHECKED_IN)


def _open_incidents() -> QuerySet[Any]:
    from propusk.passages.models import Incident, IncidentState

    return Incident.objects.exclude(state=IncidentState.RESOLVED)


def retention_blockers(visitor_id: int) -> RetentionBlockers:
    from propusk.visits.models import Visit

    visits = Visit.objects.filter(visitor_id=visitor_id, status__in=_holding_statuses())
    incidents = _open_incidents().filter(
        Q(visit__visitor_id=visitor_id) | Q(passage__visitor_id=visitor_id)
    )
    return RetentionBlockers(
        visit_ids=tuple(visits.order_by("pk").values_list("pk", flat=True)),
        incident_ids=tuple(incidents.order_by("pk").values_list("pk", flat=True).distinct()),
    )


def last_visit_end() -> Subquery:
    """Per visitor (``OuterRef("pk")``): the end of their last visit - the latest of its
    planned end, check-out, cancellation and closing."""
    from propusk.visits.models import Visit

    visit_end = Greatest(
        "planned_end",
        Coalesce("checked_out_at", "planned_end"),
        Coalesce("cancelled_at", "planned_end"),
        Coalesce("closed_at", "planned_end"),
        output_field=DateTimeField(),
    )
    last_end = (
        Visit.objects.filter(visitor_id=OuterRef("pk"))
        .order_by()
        .values("visitor_id")
        .annotate(last=Max(visit_end))
        .values("last")
    )
    return Subquery(last_end, output_field=DateTimeField())


def _past_retention(queryset: QuerySet[Visitor], cutoff: datetime) -> QuerySet[Visitor]:
    """The visitors whose retention counts from before ``cutoff``: from the end of their last
    visit, or from their registration if they have none."""
    return queryset.annotate(
        retention_from=Coalesce(last_visit_end(), "created_at", output_field=DateTimeField())
    ).filter(retention_from__lt=cutoff)


def _not_held(queryset: QuerySet[Visitor]) -> QuerySet[Visitor]:
    from propusk.visits.models import Visit

    holding_visit = Visit.objects.filter(visitor_id=OuterRef("pk"), status__in=_holding_statuses())
    open_incident = _open_incidents().filter(
        Q(visit__visitor_id=OuterRef("pk")) | Q(passage__visitor_id=OuterRef("pk"))
    )
    return queryset.filter(~Exists(holding_visit), ~Exists(open_incident))


def faces_due(*, now: datetime) -> QuerySet[Visitor]:
    """Visitors whose face (and passage camera pictures) must go: not erased, a face on file,
    nothing pending, the last visit over more than ``PROPUSK_FACE_RETENTION_DAYS`` ago."""
    cutoff = now - timedelta(days=float(settings.PROPUSK_FACE_RETENTION_DAYS))
    queryset = Visitor.objects.filter(erased_at__isnull=True).exclude(photo="")
    return _not_held(_past_retention(queryset, cutoff))


def identities_due(*, now: datetime) -> QuerySet[Visitor]:
    """Visitors to anonymise: not erased yet, nothing pending, the last visit over more than
    ``PROPUSK_VISITOR_DATA_RETENTION_DAYS`` ago."""
    cutoff = now - timedelta(days=float(settings.PROPUSK_VISITOR_DATA_RETENTION_DAYS))
    queryset = Visitor.objects.filter(erased_at__isnull=True)
    return _not_held(_past_retention(queryset, cutoff))
