"""Staff pages for visits. Thin: parse input, call selectors and services, render.

Every page needs a login (LoginRequiredMiddleware) and a role (403 otherwise); a visit the
user may not see is a 404, so its existence does not leak. The services check permissions
again, and a refused action comes back as a message.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from propusk.accounts.roles import Role, roles_of
from propusk.visitors.forms import VisitorForm
from propusk.visitors.services import register_visitor
from propusk.visits import selectors, services
from propusk.visits.forms import (
    CancelForm,
    RegisterVisitForm,
    RegistrationMode,
    VisitFilterForm,
    WindowForm,
    add_service_error,
)
from propusk.visits.history import history_rows
from propusk.visits.models import FINAL_STATUSES, Visit, VisitKind, VisitStatus
from propusk.visits.permissions import (
    RECEPTION_PAGE_ROLES,
    REGISTER_ROLES,
    STAFF_ROLES,
    available_actions,
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
    page = Paginator(visits.order_by("-planned_start", "-pk"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "visits/list.html",
        {"filters": filters, "page": page, "query": query.urlencode()},
    )


@require_GET
def reception(request: HttpRequest) -> HttpResponse:
    """Today at the desk: who is expected, who is inside, who has been."""
    _require_roles(request.user, RECEPTION_PAGE_ROLES)
    user = _staff(request)
    rows = [(visit, available_actions(user, visit)) for visit in selectors.todays_visits(user)]
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
        },
    )


# --- Registration ---------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def register(request: HttpRequest) -> HttpResponse:
    _require_roles(request.user, REGISTER_ROLES)
    user = _staff(request)
    held = roles_of(user)
    desk = bool(held & {Role.RECEPTION, Role.ADMINISTRATOR})
    form_options: dict[str, Any] = {
        "fixed_host": None if desk else user,
        "default_mode": RegistrationMode.NOW if Role.RECEPTION in held else RegistrationMode.LATER,
    }
    if request.method != "POST":
        form = RegisterVisitForm(**form_options)
        visitor_form = VisitorForm(prefix=VISITOR_PREFIX)
        return _render_register(request, form, visitor_form)

    form = RegisterVisitForm(request.POST, **form_options)
    visitor_form = VisitorForm(request.POST, request.FILES, prefix=VISITOR_PREFIX)
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


def _already_registered(form: RegisterVisitForm, user: User) -> Visit | None:
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
    with transaction.atomic():
        visitor = register_visitor(data=visitor_form.to_visitor_data(), actor=user)
        arguments: dict[str, Any] = {
            "kind": VisitKind(data["kind"]),
            "visitor": visitor,
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
        if data["mode"] == RegistrationMode.NOW:
            visit = services.register_walk_in(**arguments)
        else:
            visit = services.register_visit(planned_start=data["planned_start"], **arguments)
        if visit.visitor_id != visitor.pk:
            # A simultaneous submit of the same form won: keep its visitor, drop this one.
            transaction.set_rollback(True)
    return visit


def _render_register(
    request: HttpRequest,
    form: RegisterVisitForm,
    visitor_form: VisitorForm,
    *,
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "visits/register.html",
        {"form": form, "visitor_form": visitor_form},
        status=status,
    )


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
    return render(
        request,
        "visits/detail.html",
        {
            "visit": visit,
            "actions": available_actions(user, visit),
            "history": history_rows(selectors.visit_history(visit).select_related("actor")),
            "window_form": window_form
            or WindowForm(initial=window, start_locked=start_locked, prefix="window"),
            "confirm_form": confirm_form or WindowForm(initial=window, prefix="confirm"),
            "cancel_form": cancel_form or CancelForm(),
        },
        status=status,
    )


@require_POST
def check_in(request: HttpRequest, visit_id: int) -> HttpResponse:
    user = _staff(request)
    visit = selectors.get_visit_for(user, visit_id)
    try:
        services.check_in(visit=visit, actor=user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("%(name)s is checked in.") % {"name": visit.visitor.full_name})
    return _back(request, visit)


@require_POST
def check_out(request: HttpRequest, visit_id: int) -> HttpResponse:
    user = _staff(request)
    visit = selectors.get_visit_for(user, visit_id)
    try:
        services.check_out(visit=visit, actor=user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("%(name)s is checked out.") % {"name": visit.visitor.full_name})
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
