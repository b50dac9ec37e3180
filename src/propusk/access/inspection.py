"""The HikCentral view of a person, for administrators: what HCP holds for a person of our
organisation (validity, access levels, face, device failures) beside what Propusk wants, read
live from HCP, with the differences named. Reads only: repairing is ``services.repair_person``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from django.db.models import Q
from django.utils.translation import gettext as _

from hikcentral import HikCentralClient, PersonInfo
from hikcentral.errors import HCPNotFound, HikCentralError
from propusk.access.desired import Desired, desired_state
from propusk.access.models import AccessLevelPolicy, HcpPerson
from propusk.access.reconciler import WorkFailed, our_org_index_code
from propusk.core.time import now as current_time
from propusk.visitors.models import Visitor

MAX_NAME_MATCHES = 10


class LookUp(StrEnum):
    CODE = "code"
    ID = "id"
    NAME = "name"


@dataclass(frozen=True)
class PersonView:
    """One person: HCP's record (None when HCP has no such person), ours or not, the access
    levels of our policies that hold it, the device failures listed for it, and Propusk's
    side (the visitor, the desired state, what the engine last confirmed)."""

    person_code: str
    info: PersonInfo | None
    ours: bool
    levels_held: list[str]
    failures: list[str]
    visitor: Visitor | None
    desired: Desired | None
    confirmed: HcpPerson | None
    differences: list[str] = field(default_factory=list)

    @property
    def repairable(self) -> bool:
        """Whether "repair" means something: a person of ours (or one we want) that differs."""
        return bool(self.differences) and (self.ours or self.info is None)


@dataclass(frozen=True)
class LookUpResult:
    persons: list[PersonView]
    error: str = ""


def look_up(hcp: HikCentralClient, query: str, by: LookUp) -> LookUpResult:
    """Find persons by personCode, HCP personId or a visitor's name (our visitors' codes,
    then HCP's record of each). HCP's errors come back as ``error``, not raised: the page
    says what failed."""
    query = query.strip()
    if not query:
        return LookUpResult([])
    try:
        ours = our_org_index_code(hcp)
        if by == LookUp.NAME:
            codes = _codes_by_name(query)
            return LookUpResult([_view(hcp, code, ours) for code in codes])
        if by == LookUp.ID:
            try:
                info = hcp.get_person_by_id(query)
            except HCPNotFound:
                return LookUpResult([])
            if info.org_index_code != ours:
                # Staff and students live in HCP too: not ours to show.
                return LookUpResult([], error=_("This person is not in our organisation."))
            return LookUpResult([_view(hcp, info.person_code or "", ours, info=info)])
        return LookUpResult([_view(hcp, query, ours)])
    except WorkFailed as exc:
        return LookUpResult([], error=exc.message)
    except HikCentralError as exc:
        return LookUpResult([], error=_("HikCentral did not answer: %(error)s") % {"error": exc})


def _codes_by_name(query: str) -> list[str]:
    words = query.split()
    matches = Visitor.objects.all()
    for word in words:
        matches = matches.filter(
            Q(family_name__icontains=word)
            | Q(given_name__icontains=word)
            | Q(middle_name__icontains=word)
        )
    return list(matches.values_list("person_code", flat=True)[:MAX_NAME_MATCHES])


def _view(
    hcp: HikCentralClient, person_code: str, ours_code: str, *, info: PersonInfo | None = None
) -> PersonView:
    if info is None and person_code:
        try:
            info = hcp.get_person_by_code(person_code)
        except HCPNotFound:
            info = None
    ours = info is not None and info.org_index_code == ours_code
    visitor = Visitor.objects.filter(person_code=person_code).first() if person_code else None
    desired = desired_state(person_code, now=current_time()) if person_code else None
    confirmed = HcpPerson.objects.filter(person_code=person_code).first() if person_code else None
    if info is not None and not ours:
        # A code of ours held by someone outside our organisation: show only that fact.
        return PersonView(
            person_code, info, False, [], [], visitor, desired, confirmed,
            [_("HCP holds this code outside our organisation: Propusk leaves it alone.")],
        )  # fmt: skip
    levels = _levels_holding(hcp, info.person_id) if info is not None else []
    failures = _failures_of(hcp, info.person_id) if info is not None else []
    view = PersonView(person_code, info, ours, levels, failures, visitor, desired, confirmed)
    return PersonView(
        person_code, info, ours, levels, failures, visitor, desired, confirmed,
        differences(view),
    )  # fmt: skip


def _levels_holding(hcp: HikCentralClient, person_id: str) -> list[str]:
    """Which of our policies' access levels hold the person (the levels we manage)."""
    level_ids: set[str] = set()
    for ids in AccessLevelPolicy.objects.values_list("hcp_access_level_ids", flat=True):
        level_ids.update(str(item) for item in ids or [])
    return sorted(
        level_id
        for level_id in level_ids
        if any(m.person_id == person_id for m in hcp.list_access_level_members(level_id))
    )


def _failures_of(hcp: HikCentralClient, person_id: str) -> list[str]:
    return [
        " ".join(
            part
            for part in (
                failure.door_index_code and _("door %(door)s") % {"door": failure.door_index_code},
                failure.error_code and _("error %(code)s") % {"code": failure.error_code},
            )
            if part
        )
        or _("failed on a device")
        for failure in hcp.application_failures()
        if failure.person_id == person_id
    ]


def differences(view: PersonView) -> list[str]:
    """What HCP holds that Propusk does not want, and the other way round (pure)."""
    want = view.desired.person if view.desired is not None else None
    info = view.info
    found: list[str] = []
    if want is None:
        if info is not None and (view.levels_held or _still_valid(info)):
            found.append(_("HCP gives access that no visit gives now."))
        return found
    if info is None:
        return [_("HCP has no such person: the visitor cannot pass.")]
    grant = want.grant
    if _second(info.begin_time) != _second(grant.begin) or _second(info.end_time) != _second(
        grant.end
    ):
        found.append(_("The validity in HCP differs from the visits' windows."))
    held, wanted = set(view.levels_held), set(grant.access_level_ids)
    if wanted - held:
        found.append(
            _("Access levels missing in HCP: %(levels)s")
            % {"levels": ", ".join(sorted(wanted - held))}
        )
    if held - wanted:
        found.append(
            _("Access levels in HCP that no visit gives: %(levels)s")
            % {"levels": ", ".join(sorted(held - wanted))}
        )
    if want.face_version and not info.has_face:
        found.append(_("HCP has no face for this person."))
    if view.failures:
        found.append(_("A device failed to apply this person."))
    return found


def _still_valid(info: PersonInfo) -> bool:
    return info.end_time is not None and info.end_time > current_time()


def _second(value: datetime | None) -> datetime | None:
    return value.replace(microsecond=0) if value is not None else None
