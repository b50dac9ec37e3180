from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from propusk.visitors.models import Visitor
from propusk.visitors.selectors import can_view_photo, face_photo_bytes


@require_GET
def photo(request: HttpRequest, visitor_id: int) -> HttpResponse:
    """A visitor's face, for staff who may see it; 404 for everyone else (no hint it exists)."""
    visitor = get_object_or_404(Visitor, pk=visitor_id)
    if not can_view_photo(request.user, visitor):
        raise Http404
    data = face_photo_bytes(visitor)
    if data is None:
        raise Http404
    response = HttpResponse(data, content_type="image/jpeg")
    response["Cache-Control"] = "private, no-store"
    response["Content-Disposition"] = 'inline; filename="face.jpg"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
