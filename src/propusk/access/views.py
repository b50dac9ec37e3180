"""Access by hand on the visit page: revoke now, restore, re-enrol the face, resync, retry and
cancel the work. Thin: each asks for a reason and calls the service in ``access.services``,
which checks the role again, audits, and queues the change for the reconciler; the card
(``card``) then shows what HikCentral confirmed, refreshing itself while a change is on its
way."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from hikcentral import HikCentralClient
from propusk.access import inspection, services
from propusk.access.forms import PersonLookUpForm, ReasonForm, ReenrolForm
from propusk.access.selectors import access_work, visit_access_card
from propusk.access.services import OPERATION_LABELS, Operation
from propusk.accounts.roles import Role, has_role
from propusk.integrations.hikcentral.factory import build_client
from propusk.visits import selectors as visit_selectors
from propusk.visits.models import Visit

STAFF_ROLES = (Role.ADMINISTRATOR, Role.SECURITY, Role.RECEPTION, Role.HOST)


def _visit(request: HttpRequest, visit_id: int) -> tuple[User, Visit]:
    user = request.user
    if not isinstance(user, User) or not has_role(user, *STAFF_ROLES):
        raise PermissionDenied
    return user, visit_selectors.get_visit_for(user, visit_id)


def _card_url(visit: Visit) -> str:
    return reverse("visits:detail", args=[visit.pk]) + "#access"


@require_GET
def card(request: HttpRequest, visit_id: int) -> HttpResponse:
    """The access card alone, for the page to refresh while a change is on its way."""
    user, visit = _visit(request, visit_id)
    return render(
        request,
        "visits/_access_card.html",
        {"visit": visit, "access": visit_access_card(user, visit), "user": user},
    )


@require_POST
def operate(request: HttpRequest, visit_id: int, operation: str) -> HttpResponse:
    user, visit = _visit(request, visit_id)
    try:
        op = Operation(operation)
    except ValueError:
        raise Http404 from None
    if not services.can_operate(user, op, visit.visitor):
        raise PermissionDenied
    # What the visitor's state does not allow (a button on a page that is out of date) is
    # the service's to refuse, with its message - or to do nothing.
    form = (
        ReenrolForm(request.POST, request.FILES)
        if op == Operation.REENROL_FACE
        else ReasonForm(request.POST)
    )
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, f"{OPERATION_LABELS[op]}: {error}")
        return HttpResponseRedirect(_card_url(visit), status=303)
    reason = form.cleaned_data["reason"]
    visitor = visit.visitor
    try:
        if op == Operation.REVOKE:
            changed = services.revoke_now(visitor=visitor, actor=user, reason=reason)
        elif op == Operation.RESTORE:
            changed = services.restore(visitor=visitor, actor=user, reason=reason)
        elif op == Operation.REENROL_FACE:
            changed = services.reenrol_face(
                visitor=visitor,
                actor=user,
                reason=reason,
                photo_jpeg=form.cleaned_data.get("photo"),
                visit=visit,
            )
        elif op == Operation.RESYNC:
            changed = services.resync(visitor=visitor, actor=user, reason=reason)
        else:
            work = access_work(visitor)
            if work is None:
                changed = False
            elif op == Operation.RETRY:
                changed = services.retry_work(work=work, actor=user, reason=reason)
            else:
                changed = services.cancel_work(work=work, actor=user, reason=reason)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, f"{OPERATION_LABELS[op]}: {message}")
        return HttpResponseRedirect(_card_url(visit), status=303)
    if changed:
        messages.success(request, str(_queued_message(op)))
    else:
        messages.info(request, str(_nothing_message(op)))
    return HttpResponseRedirect(_card_url(visit), status=303)


def _queued_message(op: Operation) -> str:
    if op == Operation.CANCEL:
        return _("The work is cancelled; the audit log keeps what it was.")
    return _(
        "%(operation)s: on its way to HikCentral. The card below shows when HikCentral confirms it."
    ) % {"operation": OPERATION_LABELS[op]}


def _nothing_message(op: Operation) -> str:
    return _("%(operation)s: nothing to do, it is already on its way or done.") % {
        "operation": OPERATION_LABELS[op]
    }


# --- The HikCentral view of a person (administrators) ----------------------------------------


@require_http_methods(["GET", "POST"])
def hcp_person(request: HttpRequest) -> HttpResponse:
    """Look a person up in our HCP organisation, compare with what Propusk wants, repair.
    Searches are POSTs: a name or a code stays out of the access log."""
    user = request.user
    if not isinstance(user, User) or not has_role(user, Role.ADMINISTRATOR):
        raise PermissionDenied
    data: Mapping[str, Any] | None = request.POST if request.method == "POST" else None
    if data is None and request.GET.get("code"):
        # A person code is a random key, not personal data: the visit page links here by it.
        data = {"by": inspection.LookUp.CODE.value, "q": request.GET["code"]}
    form = PersonLookUpForm(data)
    result = None
    repair_form = ReasonForm(auto_id="id_repair_%s")
    if data is not None and form.is_valid():
        if not settings.HCP_BASE_URL:
            messages.error(request, _("HikCentral is not configured (HCP_BASE_URL)."))
        else:
            with build_client() as hcp:
                if request.method == "POST" and request.POST.get("repair"):
                    repair_form = ReasonForm(request.POST, auto_id="id_repair_%s")
                    _repair(request, hcp, user, request.POST["repair"], repair_form)
                result = inspection.look_up(
                    hcp, form.cleaned_data["q"], inspection.LookUp(form.cleaned_data["by"])
                )
    return render(
        request,
        "access/hcp_person.html",
        {"form": form, "result": result, "repair_form": repair_form},
    )


def _repair(
    request: HttpRequest, hcp: HikCentralClient, user: User, person_code: str, form: ReasonForm
) -> None:
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, f"{_('Repair')}: {error}")
        return
    # Read HCP again now: the repair starts from what it holds, not from an older page.
    found = inspection.look_up(hcp, person_code, inspection.LookUp.CODE)
    if found.error:
        messages.error(request, f"{_('Repair')}: {found.error}")
        return
    person = found.persons[0] if found.persons else None
    observed = None
    if person is not None and person.info is not None:
        if not person.ours:
            messages.error(request, f"{_('Repair')}: {person.differences[0]}")
            return
        observed = services.Observed(person.info.person_id, frozenset(person.levels_held))
    try:
        queued = services.repair_person(
            person_code=person_code,
            actor=user,
            reason=form.cleaned_data["reason"],
            observed=observed,
        )
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, f"{_('Repair')}: {message}")
        return
    if queued:
        messages.success(
            request,
            _("Repair of %(code)s queued: look again in a few seconds.") % {"code": person_code},
        )
    else:
        messages.info(request, _("%(code)s is already queued.") % {"code": person_code})
