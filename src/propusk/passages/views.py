"""Pages for passages and incidents: the incident list and page (reception, security,
administrators), acknowledging and resolving (POST, audited), and the camera picture of a
passage (audited; only to those allowed to see the visitor's face)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from propusk.accounts.roles import Role, roles_of
from propusk.passages import selectors, services
from propusk.passages.models import Incident, IncidentKind, IncidentState, Passage
from propusk.visitors.views import face_response, shown_in_a_list
from propusk.visits.permissions import can_view_face
from propusk.visits.selectors import visits_visible_to

PAGE_SIZE = 50


def _incident_staff(request: HttpRequest) -> User:
    if not selectors.may_see_incidents(request.user):
        raise PermissionDenied(_("Your account has no role that may open this page."))
    assert isinstance(request.user, User)  # noqa: S101 - a role implies a signed-in user
    return request.user


def may_view_picture(user: User, passage: Passage) -> bool:
    """A passage's picture follows the visitor's face (``visits.permissions.can_view_face``);
    a face nobody recognised (no visitor) is shown to reception, security and
    administrators, who must find the person; a visitor's passage outside any visit only to
    administrators."""
    if passage.visit_id is not None:
        visit = visits_visible_to(user).filter(pk=passage.visit_id).first()
        return visit is not None and can_view_face(user, visit)
    if passage.visitor_id is None:
        return selectors.may_see_incidents(user)
    return Role.ADMINISTRATOR in roles_of(user)


@require_GET
def picture(request: HttpRequest, passage_id: int) -> HttpResponse:
    """The camera picture of a passage; 404 for anyone who may not see it, whether or not it
    exists. Each view is audited (``passage.picture_viewed``); a thumbnail in a list
    (``?shown=list``) once a day per viewer and picture."""
    if not roles_of(request.user):
        raise PermissionDenied(_("Your account has no role that may open this page."))
    assert isinstance(request.user, User)  # noqa: S101
    passage = Passage.objects.filter(pk=passage_id).first()
    if passage is None or not may_view_picture(request.user, passage):
        raise Http404
    return face_response(
        services.disclose_picture(
            passage=passage, actor=request.user, listed=shown_in_a_list(request)
        )
    )


@require_GET
def incident_list(request: HttpRequest) -> HttpResponse:
    user = _incident_staff(request)
    state = request.GET.get("state", "")
    if state not in IncidentState.values:
        state = ""
    page = Paginator(selectors.incidents_for(user, state=state), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "passages/incident_list.html",
        {"page": page, "state": state, "states": IncidentState.choices},
    )


@require_GET
def incident_detail(request: HttpRequest, incident_id: int) -> HttpResponse:
    user = _incident_staff(request)
    incident = get_object_or_404(selectors.incidents_for(user), pk=incident_id)
    passage = incident.passage
    expected = (
        list(selectors.expected_around(incident.happened_at)[:30])
        if incident.kind == IncidentKind.FACE_NOT_RECOGNISED
        else []
    )
    return render(
        request,
        "passages/incident_detail.html",
        {
            "incident": incident,
            "picture_visible": passage is not None
            and passage.has_picture
            and may_view_picture(user, passage),
            "expected": expected,
        },
    )


@require_POST
def acknowledge(request: HttpRequest, incident_id: int) -> HttpResponse:
    user = _incident_staff(request)
    incident = get_object_or_404(Incident, pk=incident_id)
    try:
        services.acknowledge(incident=incident, actor=user)
    except services.IncidentTransitionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Incident acknowledged."))
    return redirect("passages:incident", incident_id=incident.pk)


@require_POST
def resolve(request: HttpRequest, incident_id: int) -> HttpResponse:
    user = _incident_staff(request)
    incident = get_object_or_404(Incident, pk=incident_id)
    try:
        services.resolve(incident=incident, actor=user, note=request.POST.get("note", ""))
    except services.IncidentTransitionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Incident resolved."))
    return redirect("passages:incident", incident_id=incident.pk)
