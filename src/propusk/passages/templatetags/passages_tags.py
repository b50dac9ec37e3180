"""``{% visit_passages visit %}``: the visit's passages (time, door, in/out, granted or
refused and why, the camera picture for those allowed to see the visitor's face) and its
incidents, on the visit page."""

from __future__ import annotations

from typing import Any

from django import template

from propusk.passages import selectors
from propusk.passages.models import Incident
from propusk.visits.models import Visit
from propusk.visits.permissions import can_view_face

register = template.Library()


@register.inclusion_tag("passages/_visit_passages.html", takes_context=True)
def visit_passages(context: template.Context, visit: Visit) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    faces = user is not None and can_view_face(user, visit)
    return {
        "visit": visit,
        "passages": list(selectors.visit_passages(visit)),
        "incidents": list(Incident.objects.filter(visit=visit).order_by("-happened_at")),
        "pictures_visible": faces,
        "incidents_visible": user is not None and selectors.may_see_incidents(user),
        "inside": selectors.is_inside(visit),
    }
