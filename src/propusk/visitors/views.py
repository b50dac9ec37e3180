from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from propusk.accounts.roles import Role, has_role
from propusk.visitors.models import Visitor
from propusk.visitors.returning import has_face_grant
from propusk.visitors.services import disclose_face


@require_GET
def photo(request: HttpRequest, visitor_id: int) -> HttpResponse:
    """A stored face outside any visit: for administrators (the admin's visitor page), and
    for the session whose audited look-up found this visitor in the last hour (the form after
    "Find", the identity check at the desk). 404 for everyone else, so nothing leaks.

    A face on a visit's page comes from ``visits.views.photo``, which follows the visit.
    """
    if not (
        has_role(request.user, Role.ADMINISTRATOR) or has_face_grant(request.session, visitor_id)
    ):
        raise Http404
    visitor = get_object_or_404(Visitor, pk=visitor_id)
    return face_response(disclose_face(visitor=visitor, actor=request.user))


def shown_in_a_list(request: HttpRequest) -> bool:
    """Is this face or picture fetched as a thumbnail in a list (``?shown=list``: the
    dashboard, a visit's passages)? Then its view is audited once a day per viewer and
    picture, not at every page load (``audit.services.record_view``). Anyone may add it to
    an address: it only groups that viewer's views of that picture by day, never hides one."""
    return request.GET.get("shown") == "list"


def face_response(data: bytes | None) -> HttpResponse:
    if data is None:
        raise Http404
    response = HttpResponse(data, content_type="image/jpeg")
    response["Cache-Control"] = "private, no-store"
    response["Content-Disposition"] = 'inline; filename="face.jpg"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
