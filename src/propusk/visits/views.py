"""Staff pages for visits. Thin: parse input, call selectors and services, render.

Every page needs a login (LoginRequiredMiddleware) and a role (403 otherwise); a visit the
user may not see is a 404, so its existence does not leak. The services check permissions
again, and a refused action comes back as a message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from propusk.access.selectors import visit_access_card
from propusk.accounts.roles import Role, roles_of
from propusk.core.ids import parse_id
from propusk.invitations.selectors import (
    group_invitations_visible_to,
    invitation_of_group,
    may_invite,
)
from propusk.visitors.forms import StaffVisitorForm, VisitorForm
from propusk.visitors.models import Visitor
from propusk.visitors.national_id import FORMAT_KZ_IIN, normalize_national_id
from propusk.visitors.returning import grant_face_view, returning_token, returning_visitor
from propusk.visitors.selectors import can_look_up_visitors
from propusk.visitors.services import (
    LookupThrottled,
    disclose_face,
    look_up_identity_match,
    look_up_visitor,
)
from propusk.visitors.views import face_response, shown_in_a_list
from propusk.visits import selectors, services
from propusk.visits.forms import (
    CancelForm,
    GroupMemberForm,
    IdentityDecision,
    IdentityDecisionForm,
    IdSearchForm,
    RegisterVisitForm,
    RegistrationMode,
    TodaySearchForm,
    VisitFilterForm,
    WindowForm,
    add_service_error,
)
from propusk.visits.history import history_rows
from propusk.visits.models import FINAL_STATUSES, Visit, VisitGroup, VisitKind, VisitStatus
from propusk.visits.permissions import (
    RECEPTION_PAGE_ROLES,
    REGISTER_ROLES,
    STAFF_ROLES,
    available_actions,
    can_register_for,
    can_view_face,
    check_in_opens_later,
)

VISITOR_PREFIX = "visitor"
PAGE_SIZE = 50


def _require_roles(user: AbstractBaseUser | AnonymousUser, roles: frozenset[Role]) -> None:
    if not roles_of(user) & roles:
        raise PermissionDenied(_("Your account has no role that may open this page."))


def _staff(request: HttpRequest) -> User:
    _require_roles(request.user, STAFF_ROLES)
    assert isinstance(request.user, User)  # noqa: S101 - a role implies a signed-in user
    return request.user


# --- Lists ----------------------------------------------------------------------------


@require_GET
def visit_list(request: HttpRequest) -> HttpResponse:
    user = _staff(request)
    filters = VisitFilterForm(request.GET or None)
    visits = selectors.visits_visible_to(user)
    if filters.is_valid():
        visits = selectors.filter_visits(
            visits,
            status=filters.cleaned_data["status"],
            day=filters.cleaned_data["day"],
            search=filters.cleaned_data["q"],
        )
    return _render_list(request, user, filters, visits)


def _render_list(
    request: HttpRequest,
    user: User,
    filters: VisitFilterForm,
    visits: QuerySet[Visit],
    *,
    id_search: IdSearchForm | None = None,
    status: int = 200,
) -> HttpResponse:
    page = Paginator(visits.order_by("-planned_start", "-pk"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "filters": filters,
        "page": page,
        "query": query.urlencode(),
        "id_search": _id_search_form(user, id_search, on=IdSearchForm.ON_LIST),
    }
    return render(request, "visits/list.html", context, status=status)


@require_GET
def reception(request: HttpRequest) -> HttpResponse:
    """Today at the desk: who is expected, who is inside, who has been."""
    _require_roles(request.user, RECEPTION_PAGE_ROLES)
    user = _staff(request)
    search = TodaySearchForm(request.GET or None)
    visits = selectors.todays_visits(user)
    if search.is_valid() and search.cleaned_data["q"]:
        visits = selectors.filter_visits(visits, search=search.cleaned_data["q"])
    return _render_reception(request, user, visits, search=search)


def _render_reception(
    request: HttpRequest,
    user: User,
    visits: QuerySet[Visit],
    *,
    search: TodaySearchForm | None = None,
    id_search: IdSearchForm | None = None,
    status: int = 200,
) -> HttpResponse:
    visits = visits.select_related("group")
    # A group's member links to the group's page (an invitation's page: for those who may
    # open invitations), where its arrivals are checked in together.
    group_ids = {visit.group_id for visit in visits if visit.group_id is not None}
    invitations = group_invitations_visible_to(user, group_ids) if may_invite(user) else {}
    group_pages = {
        group_id: reverse("invitations:detail", args=[invitation_id])
        for group_id, invitation_id in invitations.items()
    }
    rows = [
        (visit, available_actions(user, visit), group_pages.get(visit.group_id or 0))
        for visit in visits
    ]
    search = search if search is not None else TodaySearchForm()
    searched_by_id = id_search is not None and not id_search.errors
    narrowed = searched_by_id or (search.is_bound and bool(search.data.get("q")))
    return render(
        request,
        "visits/reception.html",
        {
            "expected": [
                row for row in rows if row[0].status in (VisitStatus.PENDING, VisitStatus.AWAITING)
            ],
            "inside": [row for row in rows if row[0].status == VisitStatus.CHECKED_IN],
            "finished": [row for row in rows if row[0].status in FINAL_STATUSES],
            "cancel_form": CancelForm(),
            "may_check_identity": can_look_up_visitors(user),
            "search": search,
            "narrowed": narrowed,
            "id_search": _id_search_form(user, id_search, on=IdSearchForm.ON_TODAY),
        },
        status=status,
    )


def _id_search_form(user: User, form: IdSearchForm | None, *, on: str) -> IdSearchForm | None:
    """The "ID number" search for those who may look visitors up; None for anyone else."""
    if not can_look_up_visitors(user):
        return None
    return form if form is not None else IdSearchForm(initial={"on": on})


@sensitive_post_parameters("national_id")
@require_POST
def search_by_id(request: HttpRequest) -> HttpResponse:
    """Visits of the visitor with an ID number, on "today" or the visit list.

    A POST, answered with the page itself (no redirect), so the number never appears in a URL
    or an access log. Reception and administrators only: it is a look-up
    (``look_up_visitor``: throttled, audited as ``visitor.looked_up`` with via
    ``visit_search``); the visitor is found by the keyed hash, nothing is decrypted.
    """
    user = _looker_up(request)
    form = IdSearchForm(request.POST)
    on_today = request.POST.get("on") == IdSearchForm.ON_TODAY
    if on_today:
        _require_roles(user, RECEPTION_PAGE_ROLES)
        visits = selectors.todays_visits(user)
    else:
        visits = selectors.visits_visible_to(user)

    def page(found: QuerySet[Visit], status: int = 200) -> HttpResponse:
        if on_today:
            return _render_reception(request, user, found, id_search=form, status=status)
        return _render_list(request, user, VisitFilterForm(), found, id_search=form, status=status)

    # A number that could not be searched for narrows nothing: the page stays whole (a
    # "today" with nobody inside would be wrong), the error on the field.
    if not form.is_valid():
        return page(visits, status=400)
    try:
        visitor = look_up_visitor(
            national_id=form.cleaned_data["national_id"], actor=user, via="visit_search"
        )
    except LookupThrottled as exc:
        form.add_error("national_id", exc.message)
        return page(visits, status=429)
    except ValidationError as exc:
        form.add_error("national_id", exc)
        return page(visits, status=400)
    if visitor is None:
        messages.info(request, _("No visitor with this ID number."))
        return page(visits.none())
    found = visits.filter(visitor=visitor)
    messages.info(
        request,
        _("Visits of %(name)s, found by the ID number.") % {"name": visitor.full_name},
    )
    return page(found)


@require_GET
def host_search(request: HttpRequest) -> JsonResponse:
    """Hosts by name, user name or department, for the host field of the desk's registration
    form (static/propusk/host-search.js over the plain select): at most 20, as JSON.

    Reception and administrators only - the people who choose a host; a host registers for
    themselves.
    """
    user = _staff(request)
    if not roles_of(user) & {Role.RECEPTION, Role.ADMINISTRATOR}:
        raise PermissionDenied(_("Only reception chooses the host."))
    query = str(request.GET.get("q", ""))[:100]
    hosts = selectors.search_hosts(query)
    return JsonResponse(
        {
            "results": [
                {
                    "id": host.pk,
                    "name": host.get_full_name() or host.get_username(),
                    "department": _department_name(host),
                }
                for host in hosts
            ]
        }
    )


def _department_name(user: User) -> str:
    profile = getattr(user, "profile", None)
    department = getattr(profile, "department", None) if profile is not None else None
    return department.name if department is not None else ""


@require_POST
def group_check_in(request: HttpRequest, group_id: int) -> HttpResponse:
    """Check in the members of a group who arrived (ticked on the group's page), each through
    ``services.check_in``: one that may not be checked in is named, the others go ahead."""
    user = _staff(request)
    group = selectors.visit_group_for(user, group_id)
    back = _group_page(group)
    ids = [pk for pk in map(parse_id, request.POST.getlist("visit")) if pk is not None]
    if not ids:
        messages.error(request, _("Tick the members who arrived first."))
        return redirect(back)
    done: list[str] = []
    refused: list[str] = []
    for visit in selectors.visits_visible_to(user).filter(group=group, pk__in=ids):
        try:
            services.check_in(visit=visit, actor=user)
        except (ValidationError, PermissionDenied) as exc:
            refused.append(f"{visit.visitor.full_name}: {' '.join(_messages_of(exc))}")
        else:
            done.append(visit.visitor.full_name)
    if done:
        messages.success(
            request,
            ngettext(
                "%(count)d member checked in: %(names)s.",
                "%(count)d members checked in: %(names)s.",
                len(done),
            )
            % {"count": len(done), "names": ", ".join(done)},
        )
    for line in refused:
        messages.error(request, _("Not checked in: %(reason)s") % {"reason": line})
    return redirect(back)


def _messages_of(exc: ValidationError | PermissionDenied) -> list[str]:
    if isinstance(exc, ValidationError):
        return list(exc.messages)
    return [str(exc) or _("You may not do this.")]


def _group_page(group: VisitGroup) -> str:
    invitation = invitation_of_group(group)
    if invitation is not None:
        return reverse("invitations:detail", args=[invitation.pk])
    return reverse("visits:list")


# --- Registration ---------------------------------------------------------------------
# The national ID typed into a form is kept out of Django's error reports.
_SENSITIVE_FIELDS = (f"{VISITOR_PREFIX}-national_id",)


@dataclass(frozen=True)
class Lookup:
    """What a press of "Find" found, for the page: ``found`` None means the input was bad."""

    found: bool | None
    message: str

    @property
    def level(self) -> str:
        return {True: "success", False: "info", None: "error"}[self.found]


def _register_form_options(user: User) -> dict[str, Any]:
    held = roles_of(user)
    desk = bool(held & {Role.RECEPTION, Role.ADMINISTRATOR})
    return {
        "fixed_host": None if desk else user,
        "default_mode": RegistrationMode.NOW if Role.RECEPTION in held else RegistrationMode.LATER,
        "chooser": user,
    }


@sensitive_post_parameters(*_SENSITIVE_FIELDS)
@require_http_methods(["GET", "POST"])
def register(request: HttpRequest) -> HttpResponse:
    _require_roles(request.user, REGISTER_ROLES)
    user = _staff(request)
    form_options = _register_form_options(user)
    if request.method != "POST":
        form = RegisterVisitForm(**form_options)
        return _render_register(request, form, StaffVisitorForm(prefix=VISITOR_PREFIX))

    form = RegisterVisitForm(request.POST, **form_options)
    visitor_form = _bound_visitor_form(request, user)
    already = _already_registered(form, user)
    if already is not None:
        messages.info(request, _("This visit has already been registered."))
        return redirect("visits:detail", visit_id=already.pk)
    visit_ok = form.is_valid()  # both forms are checked, so every error shows at once
    if not (visitor_form.is_valid() and visit_ok):
        return _render_register(request, form, visitor_form, status=400)
    try:
        visit = _register(form, visitor_form, user)
    except ValidationError as exc:
        add_service_error(form, exc)
        return _render_register(request, form, visitor_form, status=400)
    visitor_form.release_photo()
    messages.success(
        request,
        _("The visit of %(name)s is registered.") % {"name": visit.visitor.full_name},
    )
    return redirect("visits:detail", visit_id=visit.pk)


@sensitive_post_parameters(*_SENSITIVE_FIELDS)
@require_POST
def register_lookup(request: HttpRequest) -> HttpResponse:
    """ "Find" on the registration page: the same page again, filled in for a returning visitor.

    Reception and administrators only (a host could probe who has visited). What was typed
    stays; a found visitor's name and contacts replace it, and their stored face is shown.
    """
    user = _looker_up(request)
    form = RegisterVisitForm.as_typed(request.POST, **_register_form_options(user))
    visitor_form, lookup, status = _look_up(request, user)
    return _render_register(request, form, visitor_form, lookup=lookup, status=status)


def _already_registered(form: forms.Form, user: User) -> Visit | None:
    """The visit a previous submit of this very form created (a double click)."""
    try:
        token = form.fields["submission_token"].clean(form.data.get("submission_token"))
    except ValidationError:
        return None
    existing = selectors.visit_by_submission_token(token) if token else None
    if existing is None or existing.created_by_id != user.pk:
        return None
    return existing


def _register(form: RegisterVisitForm, visitor_form: VisitorForm, user: User) -> Visit:
    data = form.cleaned_data
    arguments: dict[str, Any] = {
        "kind": VisitKind(data["kind"]),
        "host": form.chosen_host(),
        "planned_end": data["planned_end"],
        "access_policy": data["access_policy"],
        "actor": user,
        "department": data["department"],
        "purpose": data["purpose"],
        "single_pass": data["single_pass"],
        "student_id": data["student_id"],
        "student_group": data["student_group"],
        "course": data["course"],
        "submission_token": data["submission_token"],
    }

    def register(visitor: Visitor) -> Visit:
        if data["mode"] == RegistrationMode.NOW:
            return services.register_walk_in(visitor=visitor, **arguments)
        return services.register_visit(
            visitor=visitor, planned_start=data["planned_start"], **arguments
        )

    return services.register_with_visitor(
        visitor=visitor_form.to_visitor_data(), actor=user, register=register
    )


def _render_register(
    request: HttpRequest,
    form: RegisterVisitForm,
    visitor_form: VisitorForm,
    *,
    lookup: Lookup | None = None,
    status: int = 200,
) -> HttpResponse:
    context: dict[str, Any] = {"form": form, "visitor_form": visitor_form, "lookup": lookup}
    if can_look_up_visitors(request.user):
        context["lookup_url"] = reverse("visits:register_lookup")
    return render(request, "visits/register.html", context, status=status)


# --- Group members at the desk ---------------------------------------------------------


@sensitive_post_parameters(*_SENSITIVE_FIELDS)
@require_http_methods(["GET", "POST"])
def register_member(request: HttpRequest, group_id: int) -> HttpResponse:
    """Reception, an administrator or the group's host registers one member of a group."""
    _require_roles(request.user, REGISTER_ROLES)
    user = _staff(request)
    group = selectors.visit_group_for(user, group_id)
    if request.method != "POST":
        return _render_member(
            request, group, GroupMemberForm(), StaffVisitorForm(prefix=VISITOR_PREFIX)
        )

    form = GroupMemberForm(request.POST)
    visitor_form = _bound_visitor_form(request, user)
    already = _already_registered(form, user)
    if already is not None:
        messages.info(request, _("This visit has already been registered."))
        return redirect("visits:detail", visit_id=already.pk)
    member_ok = form.is_valid()
    if not (visitor_form.is_valid() and member_ok):
        return _render_member(request, group, form, visitor_form, status=400)
    try:
        visit = _register_member(group, form, visitor_form, user)
    except ValidationError as exc:
        add_service_error(form, exc)
        return _render_member(request, group, form, visitor_form, status=400)
    visitor_form.release_photo()
    messages.success(
        request,
        _("%(name)s is registered in the group %(group)s.")
        % {"name": visit.visitor.full_name, "group": group.name},
    )
    if request.POST.get("then") == "another":
        return redirect("visits:register_member", group_id=group.pk)
    return HttpResponseRedirect(
        _group_page_url(group) or reverse("visits:detail", kwargs={"visit_id": visit.pk})
    )


@sensitive_post_parameters(*_SENSITIVE_FIELDS)
@require_POST
def register_member_lookup(request: HttpRequest, group_id: int) -> HttpResponse:
    """ "Find" on the group member page (see ``register_lookup``)."""
    user = _looker_up(request)
    group = selectors.visit_group_for(user, group_id)
    visitor_form, lookup, status = _look_up(request, user)
    form = GroupMemberForm.as_typed(request.POST)
    return _render_member(request, group, form, visitor_form, lookup=lookup, status=status)


def _register_member(
    group: VisitGroup, form: GroupMemberForm, visitor_form: VisitorForm, user: User
) -> Visit:
    data = form.cleaned_data
    return services.register_with_visitor(
        visitor=visitor_form.to_visitor_data(),
        actor=user,
        register=lambda visitor: services.register_group_member(
            group=group,
            visitor=visitor,
            actor=user,
            single_pass=data["single_pass"],
            submission_token=data["submission_token"],
        ),
    )


def _group_page_url(group: VisitGroup) -> str | None:
    """The group's page: the detail page of the invitation that created it, if any."""
    invitation = invitation_of_group(group)
    if invitation is None:
        return None
    return reverse("invitations:detail", kwargs={"invitation_id": invitation.pk})


def _render_member(
    request: HttpRequest,
    group: VisitGroup,
    form: GroupMemberForm,
    visitor_form: VisitorForm,
    *,
    lookup: Lookup | None = None,
    status: int = 200,
) -> HttpResponse:
    invitation = invitation_of_group(group)
    members = selectors.group_members(group)
    context: dict[str, Any] = {
        "group": group,
        "invitation": invitation,
        "group_url": _group_page_url(group),
        "over": selectors.group_is_over(group),
        "member_count": members.exclude(status=VisitStatus.CANCELLED).count(),
        "desk_count": members.filter(invitation__isnull=True).count(),
        "form": form,
        "visitor_form": visitor_form,
        "lookup": lookup,
    }
    if can_look_up_visitors(request.user):
        context["lookup_url"] = reverse("visits:register_member_lookup", args=[group.pk])
    return render(request, "visits/register_member.html", context, status=status)


# --- Looking up a returning visitor ------------------------------------------------------


def _looker_up(request: HttpRequest) -> User:
    """A user who may look visitors up (reception, administrators); 403 for anyone else."""
    user = _staff(request)
    if not can_look_up_visitors(user):
        raise PermissionDenied(_("Only reception can look visitors up by their ID number."))
    return user


def _bound_visitor_form(request: HttpRequest, user: User) -> VisitorForm:
    """The submitted visitor form; a visitor found by "Find" earlier may keep their face."""
    returning = returning_visitor(
        token=str(request.POST.get(f"{VISITOR_PREFIX}-returning", "")),
        national_id=str(request.POST.get(f"{VISITOR_PREFIX}-national_id", "")),
        user=user,
    )
    return StaffVisitorForm(request.POST, request.FILES, prefix=VISITOR_PREFIX, returning=returning)


def _look_up(request: HttpRequest, user: User) -> tuple[VisitorForm, Lookup, int]:
    """Look up the typed national ID; the visitor form to show, what happened, the status."""
    typed = str(request.POST.get(f"{VISITOR_PREFIX}-national_id", "")).strip()
    is_iin = settings.NATIONAL_ID_FORMAT == FORMAT_KZ_IIN

    def as_typed(**replace: Any) -> VisitorForm:
        returning = replace.pop("returning_visitor", None)
        return StaffVisitorForm.as_typed(
            request.POST,
            request.FILES,
            prefix=VISITOR_PREFIX,
            replace={"returning": "", **replace},
            returning=returning,
        )

    if not typed:
        message = (
            _("Type the IIN, then press Find.")
            if is_iin
            else _("Type the ID number, then press Find.")
        )
        return as_typed(), Lookup(found=None, message=message), 400
    try:
        visitor = look_up_visitor(national_id=typed, actor=user)
    except LookupThrottled as exc:
        return as_typed(), Lookup(found=None, message=exc.message), 429
    except ValidationError as exc:
        return as_typed(), Lookup(found=None, message=" ".join(exc.messages)), 400
    national_id = normalize_national_id(typed)
    if visitor is not None:
        grant_face_view(request.session, visitor)  # the form shows the face on file
    if visitor is None:
        message = (
            _("No visitor with this IIN yet: fill in the form.")
            if is_iin
            else _("No visitor with this ID number yet: fill in the form.")
        )
        return as_typed(national_id=national_id), Lookup(found=False, message=message), 200
    form = as_typed(
        family_name=visitor.family_name,
        given_name=visitor.given_name,
        middle_name=visitor.middle_name,
        phone=visitor.phone,
        email=visitor.email,
        national_id=national_id,
        returning=returning_token(visitor, user),
        returning_visitor=visitor,
    )
    message = _(
        "%(name)s has been here before: their details are filled in. Check them with the visitor."
    ) % {"name": visitor.full_name}
    return form, Lookup(found=True, message=message), 200


# --- One visit ------------------------------------------------------------------------


@require_GET
def detail(request: HttpRequest, visit_id: int) -> HttpResponse:
    user = _staff(request)
    visit = selectors.get_visit_for(user, visit_id)
    return _render_detail(request, visit, user)


def _render_detail(
    request: HttpRequest,
    visit: Visit,
    user: User,
    *,
    window_form: WindowForm | None = None,
    confirm_form: WindowForm | None = None,
    cancel_form: CancelForm | None = None,
    status: int = 200,
) -> HttpResponse:
    window = {"planned_start": visit.planned_start, "planned_end": visit.planned_end}
    start_locked = visit.status == VisitStatus.CHECKED_IN
    group_url, may_add_member = _group_links(user, visit.group)
    return render(
        request,
        "visits/detail.html",
        {
            "visit": visit,
            "face_visible": can_view_face(user, visit),
            "identity_check": visit.visitor.needs_identity_check and can_look_up_visitors(user),
            "group_url": group_url,
            "may_add_member": may_add_member,
            "actions": available_actions(user, visit),
            "check_in_opens": check_in_opens_later(user, visit),
            "history": history_rows(selectors.visit_history(visit).select_related("actor")),
            # Access in HikCentral: the whole card for security and administrators, a status
            # line for reception, a face HCP refused for everyone (access.selectors).
            "access": visit_access_card(user, visit),
            "window_form": window_form
            or WindowForm(initial=window, start_locked=start_locked, prefix="window"),
            "confirm_form": confirm_form
            or WindowForm(initial=_confirm_initial(visit), prefix="confirm"),
            "cancel_form": cancel_form or CancelForm(),
        },
        status=status,
    )


def _confirm_initial(visit: Visit) -> dict[str, Any]:
    """What the "confirm the time" form starts with: the invitation's time if it suggested
    one, else nothing. Never the pending visit's placeholder window (a link without a time
    gives the visit "now until the link expires" only to have a row: one click on it would
    grant days of access)."""
    if visit.status != VisitStatus.PENDING:
        return {"planned_start": visit.planned_start, "planned_end": visit.planned_end}
    invitation = visit.invitation
    if invitation is not None and invitation.planned_start and invitation.planned_end:
        return {"planned_start": invitation.planned_start, "planned_end": invitation.planned_end}
    return {}


def _group_links(user: User, group: VisitGroup | None) -> tuple[str | None, bool]:
    """For a group member's visit: the group's page, and whether "Register a member" shows.

    Both for those who may register for the group's host (reception, administrators, the
    group's host); the button only while the group's window is not over.
    """
    if group is None or not roles_of(user) & REGISTER_ROLES:
        return None, False
    if not can_register_for(user, group.host):
        return None, False
    return _group_page_url(group), not selectors.group_is_over(group)


@require_GET
def photo(request: HttpRequest, visit_id: int) -> HttpResponse:
    """The face of a visit's visitor, for those who may see it (``can_view_face``); audited
    (a thumbnail in a list, ``?shown=list``, once a day per viewer and face). 404 otherwise,
    so nothing leaks."""
    user = _staff(request)
    visit = selectors.get_visit_for(user, visit_id)
    if not can_view_face(user, visit):
        raise Http404
    return face_response(
        disclose_face(
            visitor=visit.visitor,
            actor=user,
            visit_id=visit.pk,
            listed=shown_in_a_list(request),
        )
    )


@require_http_methods(["GET", "POST"])
def identity(request: HttpRequest, visit_id: int) -> HttpResponse:
    """Reception checks a visitor whose ID number matched a stored visitor: the stored
    identity beside what was submitted (a look-up: throttled and audited), then a decision."""
    user = _looker_up(request)
    visit = selectors.get_visit_for(user, visit_id)
    if not visit.visitor.needs_identity_check:
        messages.info(request, _("This visitor's identity needs no check."))
        return redirect("visits:detail", visit_id=visit.pk)
    if request.method == "POST":
        return _decide_identity(request, visit, user)
    try:
        stored = look_up_identity_match(claimant=visit.visitor, actor=user)
    except LookupThrottled as exc:
        messages.error(request, exc.message)
        return redirect("visits:detail", visit_id=visit.pk)
    if stored is not None:
        grant_face_view(request.session, stored)
    return render(
        request,
        "visits/identity.html",
        {
            "visit": visit,
            "claimant": visit.visitor,
            "stored": stored,
            "face_visible": can_view_face(user, visit),
            "form": IdentityDecisionForm(),
        },
    )


def _decide_identity(request: HttpRequest, visit: Visit, user: User) -> HttpResponse:
    form = IdentityDecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose what the identity document showed."))
        return redirect("visits:identity", visit_id=visit.pk)
    decision = form.cleaned_data["decision"]
    try:
        services.confirm_visitor_identity(
            visit=visit,
            actor=user,
            same_person=decision != IdentityDecision.DIFFERENT,
            take_submitted=decision == IdentityDecision.SAME_TAKE_SUBMITTED,
        )
    except LookupThrottled as exc:
        # Not compared within the hour, and no look-up left to show the stored identity.
        messages.error(request, exc.message)
        return redirect("visits:detail", visit_id=visit.pk)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            _("The identity is confirmed.")
            if decision != IdentityDecision.DIFFERENT
            else _("The ID number was removed from this visitor."),
        )
        if visit.group is not None and selectors.group_visits_of(visit.group, visit.visitor_id) > 1:
            messages.warning(
                request,
                _(
                    "This visitor now has two visits in the group %(group)s: cancel the one "
                    "that is not needed."
                )
                % {"group": visit.group.name},
            )
    return redirect("visits:detail", visit_id=visit.pk)


@require_POST
def check_in(request: HttpRequest, visit_id: int) -> HttpResponse:
    return _desk_action(request, visit_id, services.check_in, _("%(name)s is checked in."))


@require_POST
def check_out(request: HttpRequest, visit_id: int) -> HttpResponse:
    return _desk_action(request, visit_id, services.check_out, _("%(name)s is checked out."))


def _desk_action(
    request: HttpRequest, visit_id: int, action: Callable[..., Visit], done: str
) -> HttpResponse:
    """A one-button action on a visit: run it, say how it went, go back to the page."""
    user = _staff(request)
    visit = selectors.get_visit_for(user, visit_id)
    try:
        action(visit=visit, actor=user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, done % {"name": visit.visitor.full_name})
    return _back(request, visit)


@require_POST
def cancel(request: HttpRequest, visit_id: int) -> HttpResponse:
    user = _staff(request)
    visit = selectors.get_visit_for(user, visit_id)
    form = CancelForm(request.POST)
    if not form.is_valid():
        return _render_detail(request, visit, user, cancel_form=form, status=400)
    try:
        services.cancel(visit=visit, actor=user, reason=form.cleaned_data["reason"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The visit is cancelled."))
    return _back(request, visit)


@require_POST
def change_window(request: HttpRequest, visit_id: int) -> HttpResponse:
    user = _staff(request)
    visit = selectors.get_visit_for(user, visit_id)
    start_locked = visit.status == VisitStatus.CHECKED_IN
    form = WindowForm(
        request.POST,
        initial={"planned_start": visit.planned_start},
        start_locked=start_locked,
        prefix="window",
    )
    if form.is_valid():
        try:
            services.change_window(
                visit=visit,
                planned_start=None if start_locked else form.cleaned_data["planned_start"],
                planned_end=form.cleaned_data["planned_end"],
                actor=user,
            )
        except ValidationError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, _("The time of the visit is changed."))
            return redirect("visits:detail", visit_id=visit.pk)
    return _render_detail(request, visit, user, window_form=form, status=400)


@require_POST
def confirm(request: HttpRequest, visit_id: int) -> HttpResponse:
    user = _staff(request)
    visit = selectors.get_visit_for(user, visit_id)
    form = WindowForm(request.POST, prefix="confirm")
    if form.is_valid():
        try:
            services.confirm_visit_time(
                visit=visit,
                planned_start=form.cleaned_data["planned_start"],
                planned_end=form.cleaned_data["planned_end"],
                actor=user,
            )
        except ValidationError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, _("The time of the visit is confirmed."))
            return redirect("visits:detail", visit_id=visit.pk)
    return _render_detail(request, visit, user, confirm_form=form, status=400)


def _back(request: HttpRequest, visit: Visit) -> HttpResponseRedirect:
    """Back to the page the button was on (only a page of this site), else the visit."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return HttpResponseRedirect(target)
    return HttpResponseRedirect(reverse("visits:detail", kwargs={"visit_id": visit.pk}))
