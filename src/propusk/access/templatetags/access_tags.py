"""``{% access_operations visit %}``: the forms of the operations by hand the signed-in user
may do to the access of the visit's visitor (``access.services.manual_operations``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import template
from django.urls import reverse

from propusk.access.forms import ReasonForm, ReenrolForm
from propusk.access.services import OPERATION_LABELS, Operation, manual_operations
from propusk.accounts.roles import Role, has_role
from propusk.visits.models import Visit

register = template.Library()

# Operations that take access away are shown apart, as a warning.
DANGEROUS = frozenset({Operation.REVOKE, Operation.CANCEL})


@register.inclusion_tag("access/_operations.html", takes_context=True)
def access_operations(context: template.Context, visit: Visit) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    operations = manual_operations(user, visit) if user is not None else []
    return {
        "visit": visit,
        "hcp_view_url": (
            reverse("access:hcp_person") + "?" + urlencode({"code": visit.visitor.person_code})
            if user is not None and has_role(user, Role.ADMINISTRATOR)
            else ""
        ),
        "csrf_token": context.get("csrf_token"),
        "operations": [
            {
                "key": op.value,
                "label": OPERATION_LABELS[op],
                "dangerous": op in DANGEROUS,
                "form": (ReenrolForm if op == Operation.REENROL_FACE else ReasonForm)(
                    auto_id=f"id_{op.value}_%s"
                ),
            }
            for op in operations
        ],
    }
