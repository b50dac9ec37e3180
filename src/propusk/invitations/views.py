"""Invitation pages: staff pages behind login, and the public page a visitor opens.

The public page (``public``) is the only page of the site without login. It shows the
visitor only what the invitation says (host, purpose, time), never anything about other
visitors, and a link that cannot be used says why without details.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from propusk.accounts.roles import roles_of
from propusk.core import throttle
from propusk.invitations.forms import InvitationForm
from propusk.invitations.models import Invitation, InvitationKind
from propusk.invitations.selectors import (
    ALL_INVITATIONS_ROLES,
    InvitationState,
    can_manage,
    get_invitation_for,
    invitation_state,
    invitations_visible_to,
    may_invite,
    open_invitation_by_token,
    visits_of,
)
from propusk.invitations.services import (
    InvitationUnavailable,
    create_invitation,
    redeem_invitation,
    revoke_invitation,
    unavailable,
)
from propusk.visitors import pending_photos
from propusk.visitors.forms import VisitorForm
from propusk.visits.forms import add_service_error
from propusk.visits.models import Visit, VisitGroup, VisitStatus
from propusk.visits.permissions import available_actions, can_register_for
from propusk.visits.selectors import (
    group_is_over,
    group_members,
    visit_by_submission_token,
    visits_visible_to,
)


def _require_inviter(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User) or not may_invite(user):
        raise PermissionDenied
    return user


def _public_url(request: HttpRequest, invitation: Invitation) -> str:
    return request.build_absolute_uri(reverse("invitations:public", args=[invitation.token]))


@require_http_methods(["GET"])
def invitation_list(request: HttpRequest) -> HttpResponse:
    user = _require_inviter(request)
    invitations = invitations_visible_to(user)[:200]
    rows = [
        {
            "invitation": inv,
            "state": invitation_state(inv),
            "url": _public_url(request, inv),
            "link_id": f"link-{inv.pk}",
        }
        for inv in invitations
    ]
    show_host = bool(roles_of(user) & ALL_INVITATIONS_ROLES)
    return render(request, "invitations/list.html", {"rows": rows, "show_host": show_host})


@require_http_methods(["GET", "POST"])
def create(request: HttpRequest) -> HttpResponse:
    user = _require_inviter(request)
    fixed_host = None if roles_of(user) & ALL_INVITATIONS_ROLES else user
    if request.method != "POST":
        form = InvitationForm(fixed_host=fixed_host, chooser=user)
        return render(request, "invitations/create.html", {"form": form})
    form = InvitationForm(request.POST, fixed_host=fixed_host, chooser=user)
    if form.is_valid():
        data = form.cleaned_data
        try:
            invitation = create_invitation(
                host=form.chosen_host(),
                actor=user,
                kind=InvitationKind(data["kind"]),
                access_policy=data["access_policy"],
                purpose=data["purpose"],
                department=data["department"],
                planned_start=data["planned_start"],
                planned_end=data["planned_end"],
                expires_at=data["expires_at"],
                max_uses=1 if data["kind"] == InvitationKind.SINGLE else data["max_uses"],
                group_name=data["group_name"],
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Invitation created: send the link to your visitor."))
            return redirect("invitations:detail", invitation_id=invitation.pk)
    return render(request, "invitations/create.html", {"form": form}, status=400)


@require_http_methods(["GET"])
def detail(request: HttpRequest, invitation_id: int) -> HttpResponse:
    user = _require_inviter(request)
    invitation = get_invitation_for(user, invitation_id)
    state = invitation_state(invitation)
    context: dict[str, Any] = {
        "invitation": invitation,
        "state": state,
        "url": _public_url(request, invitation),
        "visits": _rows_visible_to(user, list(visits_of(invitation))),
        "can_revoke": can_manage(user, invitation) and invitation.revoked_at is None,
    }
    if invitation.group is not None:
        context.update(_group_context(user, invitation.group))
    return render(request, "invitations/detail.html", context)


def _group_context(user: User, group: VisitGroup) -> dict[str, Any]:
    """A group invitation's page is the group's page: every member, however registered."""
    members = list(group_members(group))
    over = group_is_over(group)
    rows = _rows_visible_to(user, members)
    for row in rows:
        # Ticked on the page and checked in together (visits:group_check_in).
        row["may_check_in"] = row["visible"] and "check_in" in available_actions(user, row["visit"])
    return {
        "group": group,
        "members": rows,
        "may_check_in_some": any(row["may_check_in"] for row in rows),
        "member_count": sum(1 for visit in members if visit.status != VisitStatus.CANCELLED),
        "desk_count": sum(1 for visit in members if visit.invitation_id is None),
        "group_over": over,
        "may_add_member": can_register_for(user, group.host) and not over,
    }


def _rows_visible_to(user: User, visits: list[Visit]) -> list[dict[str, Any]]:
    """Rows for a list of visits: only those the user may open show the visitor (reception
    sees today's, for instance); the others are counted, never named."""
    visible = set(
        visits_visible_to(user)
        .filter(pk__in=[visit.pk for visit in visits])
        .values_list("pk", flat=True)
    )
    return [{"visit": visit, "visible": visit.pk in visible} for visit in visits]


@require_POST
def revoke(request: HttpRequest, invitation_id: int) -> HttpResponse:
    user = _require_inviter(request)
    invitation = get_invitation_for(user, invitation_id)
    revoke_invitation(invitation=invitation, actor=user)
    messages.success(request, _("The invitation link no longer works."))
    return redirect("invitations:detail", invitation_id=invitation.pk)


# --- The public page ---------------------------------------------------------------


def _unavailable_page(request: HttpRequest, error: InvitationUnavailable) -> HttpResponse:
    status = 404 if error.code == "unknown" else 410
    return render(
        request, "invitations/public_unavailable.html", {"message": error.message}, status=status
    )


# Refused submissions (an unknown or closed link, a form with errors) are counted; registrations
# never are, since max_uses bounds them. See docs/visits.md, Invitations and Throttling.
_FAILURES_PER_USE = 2
_ADDRESS_SCOPE = "invitation-failures-address"
_LINK_SCOPE = "invitation-failures-link-address"
_GIVEN_NAME_MAX_LENGTH = 100  # VisitorForm's


def _client_address(request: HttpRequest) -> str:
    """``REMOTE_ADDR``: behind a reverse proxy named in PROPUSK_TRUSTED_PROXIES, the client's
    address from its X-Forwarded-For (propusk.core.proxy); ``X-Forwarded-For`` is not read
    here."""
    return str(request.META.get("REMOTE_ADDR", ""))


def _failure_counters(
    request: HttpRequest, token: str, invitation: Invitation | None
) -> list[tuple[str, str, int]]:
    """(scope, ident, limit) of the counters a refused submission adds to: the address's, and
    the (link, address) pair's when the link exists. A link's budget is per address, so junk
    from one address never uses up what the others have; it grows with the link's uses, so a
    class behind one NAT address can make its typing mistakes."""
    address = _client_address(request)
    counters = [(_ADDRESS_SCOPE, address, settings.PUBLIC_SUBMIT_ADDRESS_FAILURES)]
    if invitation is not None:
        limit = settings.PUBLIC_SUBMIT_LINK_FAILURES + _FAILURES_PER_USE * invitation.max_uses
        counters.append((_LINK_SCOPE, f"{token}\0{address}", limit))
    return counters


def _failure_allowance(
    request: HttpRequest, token: str, invitation: Invitation | None
) -> throttle.Throttle:
    return throttle.peek_all(
        _failure_counters(request, token, invitation),
        window=settings.PUBLIC_SUBMIT_WINDOW_SECONDS,
    )


def _count_failure(request: HttpRequest, token: str, invitation: Invitation | None) -> None:
    for scope, ident, _limit in _failure_counters(request, token, invitation):
        throttle.record(scope, ident, window=settings.PUBLIC_SUBMIT_WINDOW_SECONDS)


def _throttled_page(request: HttpRequest, allowance: throttle.Throttle) -> HttpResponse:
    minutes = allowance.retry_after_minutes
    message = ngettext(
        "Too many attempts; please try again in %(minutes)d minute.",
        "Too many attempts; please try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}
    response = render(
        request, "invitations/public_throttled.html", {"message": message}, status=429
    )
    response["Retry-After"] = str(allowance.retry_after)
    return response


def _submission_token(request: HttpRequest) -> uuid.UUID:
    try:
        return uuid.UUID(str(request.POST.get("submission_token", "")))
    except ValueError:
        return uuid.uuid4()


@login_not_required
@never_cache
@sensitive_post_parameters("national_id")  # kept out of error reports
@require_http_methods(["GET", "POST"])
def public(request: HttpRequest, token: str) -> HttpResponse:
    if request.method == "POST":
        return _public_submit(request, token)
    invitation, state = open_invitation_by_token(token)
    if invitation is None:
        return _unavailable_page(request, unavailable("unknown"))
    if state != InvitationState.OPEN:
        return _unavailable_page(request, unavailable(str(state)))
    return _render_public(request, invitation, VisitorForm(), uuid.uuid4())


def _public_submit(request: HttpRequest, token: str) -> HttpResponse:
    """A visitor sends the form. Everything that can refuse without the photo comes first
    (the throttle, the link's state, the same form sent twice), so a refused submission
    neither reads nor decodes the upload or a kept photo, and stores nothing."""
    allowance = _failure_allowance(request, token, None)
    if not allowance.allowed:
        return _throttled_page(request, allowance)
    invitation, state = open_invitation_by_token(token)
    if invitation is None:
        _count_failure(request, token, None)
        return _unavailable_page(request, unavailable("unknown"))
    allowance = _failure_allowance(request, token, invitation)
    if not allowance.allowed:
        return _throttled_page(request, allowance)
    submission_token = _submission_token(request)
    earlier = visit_by_submission_token(submission_token)
    if earlier is not None and earlier.invitation_id == invitation.pk:
        # The same form sent twice (a double tap): the visit exists, thank them again.
        typed = str(request.POST.get("given_name", ""))[:_GIVEN_NAME_MAX_LENGTH]
        return _thanks_page(request, invitation, earlier, typed)
    if state != InvitationState.OPEN:
        _count_failure(request, token, invitation)
        # A photo kept for this form can never be used now: delete it unread.
        pending_photos.discard(str(request.POST.get("photo_token", "")))
        return _unavailable_page(request, unavailable(str(state)))
    form = VisitorForm(request.POST, request.FILES)
    if not form.is_valid():
        _count_failure(request, token, invitation)
        return _render_public(request, invitation, form, submission_token, status=400)
    try:
        visit = redeem_invitation(
            token=token, data=form.to_visitor_data(), submission_token=submission_token
        )
    except InvitationUnavailable as error:
        _count_failure(request, token, invitation)
        form.release_photo()
        return _unavailable_page(request, error)
    except ValidationError as error:
        _count_failure(request, token, invitation)
        add_service_error(form, error)
        return _render_public(request, invitation, form, submission_token, status=400)
    form.release_photo()
    return _thanks_page(request, invitation, visit, form.cleaned_data["given_name"])


def _organisation() -> dict[str, str]:
    """Where the visitor is going (PROPUSK_ORG_NAME, PROPUSK_ORG_ADDRESS; either may be empty)."""
    return {"org_name": settings.ORG_NAME, "org_address": settings.ORG_ADDRESS}


def _thanks_page(
    request: HttpRequest, invitation: Invitation, visit: Visit, given_name: str
) -> HttpResponse:
    context = {
        "invitation": invitation,
        # The name as typed: a returning visitor's stored identity is never shown here, since
        # anyone holding the link could type somebody else's ID number.
        "given_name": " ".join(given_name.split()),
        "pending": visit.status == VisitStatus.PENDING,
        **_organisation(),
    }
    return render(request, "invitations/public_thanks.html", context)


def _render_public(
    request: HttpRequest,
    invitation: Invitation,
    form: VisitorForm,
    submission_token: uuid.UUID,
    *,
    status: int = 200,
) -> HttpResponse:
    context = {
        "invitation": invitation,
        "form": form,
        "submission_token": submission_token,
        "has_window": invitation.planned_start is not None,
        **_organisation(),
    }
    return render(request, "invitations/public.html", context, status=status)
