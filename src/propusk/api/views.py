"""The REST API, /api/v1/. Thin: parse, call the same selectors and services as the pages,
answer. Who may see and do what is decided there, exactly as on the pages: a visit the user
may not see is a 404 whether or not it exists; an action the role does not allow is a 403
with the service's reason; a refused transition a 409 with its sentence."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from propusk.access.selectors import visit_access_card
from propusk.accounts.roles import Role, roles_of
from propusk.api import idempotency
from propusk.api.authentication import token_of
from propusk.api.serializers import (
    CancelSerializer,
    ConfirmSerializer,
    InvitationInputSerializer,
    InvitationSerializer,
    MeSerializer,
    PassageSerializer,
    RegistrationSerializer,
    VisitDetailSerializer,
    VisitSerializer,
    WindowSerializer,
)
from propusk.api.throttling import client_ident
from propusk.audit.services import through
from propusk.core.ids import parse_id
from propusk.invitations.models import Invitation, InvitationKind
from propusk.invitations.selectors import ALL_INVITATIONS_ROLES, get_invitation_for, may_invite
from propusk.invitations.services import create_invitation
from propusk.passages.models import Passage
from propusk.passages.selectors import visit_passages
from propusk.passages.services import disclose_picture
from propusk.passages.views import may_view_picture
from propusk.visitors.models import Visitor
from propusk.visitors.selectors import can_look_up_visitors
from propusk.visitors.services import disclose_face
from propusk.visitors.views import face_response
from propusk.visits import selectors, services
from propusk.visits.forms import VisitFilterForm
from propusk.visits.models import Visit, VisitKind, VisitStatus
from propusk.visits.permissions import REGISTER_ROLES, available_actions, can_view_face

DESK_ROLES = frozenset({Role.ADMINISTRATOR, Role.RECEPTION})
_VISIT_RELATIONS = ("visitor", "host", "access_policy", "department")


class HasRole(permissions.BasePermission):
    """A signed-in user (or token) whose account holds a role; 403 otherwise, as the pages."""

    message = _("Your account has no role that may open this page.")

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(roles_of(request.user))


class ApiViewMixin:
    """Every API view: every audit entry it causes says it came through the API. (DRF's views
    authenticate themselves: LoginRequiredMiddleware lets them through, ``login_required``
    False.)"""

    request: Request
    _audit_channel: AbstractContextManager[None] | None = None

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        finally:
            # Whatever happened (an unhandled error too), later entries of this thread are
            # not labelled with this request's channel.
            if self._audit_channel is not None:
                self._audit_channel.__exit__(None, None, None)
                self._audit_channel = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        token = token_of(request)
        channel = f"API token {token.pk}" if token is not None else "API"
        self._audit_channel = through(channel)
        self._audit_channel.__enter__()

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        response["Cache-Control"] = "no-store, private"
        return response

    @property
    def user(self) -> User:
        user = self.request.user
        assert isinstance(user, User)  # noqa: S101 - HasRole let only users with a role in
        return user


class VisitPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


_LIST_PARAMETERS = [
    OpenApiParameter("day", str, description="A site day, YYYY-MM-DD: visits overlapping it."),
    OpenApiParameter("status", str, enum=VisitStatus.values),
    OpenApiParameter("kind", str, enum=VisitKind.values),
    OpenApiParameter("host", int, description="The host's user id."),
    OpenApiParameter("search", str, description="The visitor's name, or 4+ digits of a phone."),
]


def _filter_message(error: DjangoValidationError) -> str:
    # Django's "Select a valid choice. X is not one of the available choices." would send
    # back what was typed: refusals never echo it (docs/api.md, Errors).
    if error.code == "invalid_choice":
        return _("Choose a status from the list.")
    return str(error.messages[0])


class VisitViewSet(ApiViewMixin, viewsets.GenericViewSet):
    """Visits the user may see (``visits_visible_to``): all for security and administrators,
    the desk's for reception, their own for a host."""

    permission_classes = [HasRole]
    pagination_class = VisitPagination
    serializer_class = VisitSerializer
    queryset = Visit.objects.none()  # for the schema: get_queryset is the user's

    def get_queryset(self) -> QuerySet[Visit]:
        return selectors.visits_visible_to(self.request.user)

    def _visit(self, pk: str) -> Visit:
        try:
            return selectors.get_visit_for(self.user, int(pk))
        except ValueError:
            raise Http404 from None

    def _detail(self, visit: Visit, *, code: int = status.HTTP_200_OK) -> Response:
        try:
            visit = self._visit(str(visit.pk))  # fresh, with its relations
        except Http404:
            # The change just made took it out of the user's sight (reception checking out
            # a visitor of another day): the answer still says how it ended.
            visit = Visit.objects.select_related(*_VISIT_RELATIONS).get(pk=visit.pk)
        context = {
            "request": self.request,
            "access_card": visit_access_card(self.user, visit),
            "actions": available_actions(self.user, visit),
            "identity_check": visit.visitor.needs_identity_check
            and can_look_up_visitors(self.user),
        }
        return Response(VisitDetailSerializer(visit, context=context).data, status=code)

    @extend_schema(parameters=_LIST_PARAMETERS, responses=VisitSerializer(many=True))
    def list(self, request: Request) -> Response:
        """Visits, newest first, filtered as the visit list page."""
        query = request.query_params
        filters = VisitFilterForm(
            {
                "status": query.get("status", ""),
                "day": query.get("day", ""),
                "q": query.get("search", ""),
            }
        )
        if not filters.is_valid():
            errors = filters.errors.as_data()
            raise serializers.ValidationError(
                {
                    ("search" if name == "q" else name): [_filter_message(e) for e in items]
                    for name, items in errors.items()
                }
            )
        visits = selectors.filter_visits(
            self.get_queryset(),
            status=filters.cleaned_data["status"],
            day=filters.cleaned_data["day"],
            search=filters.cleaned_data["q"],
        )
        kind, host = query.get("kind", ""), query.get("host", "")
        if kind:
            if kind not in VisitKind.values:
                raise serializers.ValidationError({"kind": [_("Choose a kind of visit.")]})
            visits = visits.filter(kind=kind)
        if host:
            host_id = parse_id(host)
            if host_id is None:
                raise serializers.ValidationError({"host": [_("Choose a host from the list.")]})
            visits = visits.filter(host_id=host_id)
        page = self.paginate_queryset(visits.order_by("-planned_start", "-pk"))
        return self.get_paginated_response(VisitSerializer(page, many=True).data)

    @extend_schema(responses=VisitDetailSerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        """One visit, with the visitor's access in HikCentral (by role, as the visit page)."""
        return self._detail(self._visit(pk))

    @extend_schema(
        request=RegistrationSerializer,
        responses={201: VisitDetailSerializer},
        parameters=[
            OpenApiParameter(
                idempotency.HEADER,
                str,
                OpenApiParameter.HEADER,
                description="Retries with the same key return the first answer (24 h).",
            )
        ],
    )
    def create(self, request: Request) -> Response:
        """Register a visitor and their visit in one call (as the desk does)."""
        if not roles_of(self.user) & REGISTER_ROLES:
            raise PermissionDenied(_("Your account has no role that may open this page."))
        key = idempotency.key_of(request)
        if key is None:
            return self._register(submission_token=None)
        scope = client_ident(request)
        earlier = idempotency.begin(
            scope=scope, key=key, fingerprint=idempotency.fingerprint(request)
        )
        if earlier is not None:
            return idempotency.replay(earlier)
        try:
            response = self._register(submission_token=idempotency.submission_token(scope, key))
        except BaseException:
            idempotency.abandon(scope=scope, key=key)
            raise
        idempotency.finish(scope=scope, key=key, response=response)
        return response

    def _register(self, *, submission_token: Any) -> Response:
        user = self.user
        desk = bool(roles_of(user) & DESK_ROLES)
        serializer = RegistrationSerializer(
            data=self.request.data, context={"user": user, "desk": desk}
        )
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        arguments: dict[str, Any] = {
            "kind": VisitKind(data["kind"]),
            "host": data["host"],
            "planned_end": data["planned_end"],
            "access_policy": data["access_policy"],
            "actor": user,
            "department": data.get("department"),
            "purpose": data.get("purpose", ""),
            "single_pass": data.get("single_pass"),
            "student_id": data.get("student_id", ""),
            "student_group": data.get("student_group", ""),
            "course": data.get("course"),
            "submission_token": submission_token,
        }
        planned_start = data.get("planned_start")

        def register(visitor: Visitor) -> Visit:
            if planned_start is None:
                return services.register_walk_in(visitor=visitor, **arguments)
            return services.register_visit(
                visitor=visitor, planned_start=planned_start, **arguments
            )

        visit = services.register_with_visitor(
            visitor=data["visitor"]["data"], actor=user, register=register
        )
        response = self._detail(visit, code=status.HTTP_201_CREATED)
        response["Location"] = self.request.build_absolute_uri(
            reverse("api:visit-detail", kwargs={"pk": visit.pk})
        )
        return response

    @extend_schema(request=WindowSerializer, responses=VisitDetailSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        """Change the window (``services.change_window``): both ends while expected, only the
        end once the visitor is inside."""
        visit = self._visit(pk)
        serializer = WindowSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.change_window(
            visit=visit,
            planned_start=serializer.validated_data.get("planned_start"),
            planned_end=serializer.validated_data["planned_end"],
            actor=self.user,
        )
        return self._detail(visit)

    @extend_schema(request=None, responses=VisitDetailSerializer)
    @action(detail=True, methods=["post"], url_path="check-in")
    def check_in(self, request: Request, pk: str) -> Response:
        """Check the visitor in (reception, administrators), inside the access window."""
        visit = self._visit(pk)
        services.check_in(visit=visit, actor=self.user)
        return self._detail(visit)

    @extend_schema(request=None, responses=VisitDetailSerializer)
    @action(detail=True, methods=["post"], url_path="check-out")
    def check_out(self, request: Request, pk: str) -> Response:
        """Check the visitor out: access ends (reception, administrators)."""
        visit = self._visit(pk)
        services.check_out(visit=visit, actor=self.user)
        return self._detail(visit)

    @extend_schema(request=CancelSerializer, responses=VisitDetailSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        """Cancel an expected or pending visit: access ends."""
        visit = self._visit(pk)
        serializer = CancelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.cancel(visit=visit, actor=self.user, reason=serializer.validated_data["reason"])
        return self._detail(visit)

    @extend_schema(request=ConfirmSerializer, responses=VisitDetailSerializer)
    @action(detail=True, methods=["post"])
    def confirm(self, request: Request, pk: str) -> Response:
        """Fix the time of a visit registered through a link without one (pending)."""
        visit = self._visit(pk)
        serializer = ConfirmSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.confirm_visit_time(
            visit=visit,
            planned_start=serializer.validated_data["planned_start"],
            planned_end=serializer.validated_data["planned_end"],
            actor=self.user,
        )
        return self._detail(visit)

    @extend_schema(responses=PassageSerializer(many=True))
    @action(detail=True, methods=["get"])
    def passages(self, request: Request, pk: str) -> Response:
        """The visit's passages through doors and turnstiles, oldest first. The camera
        picture's address only for those who may see the visitor's face."""
        visit = self._visit(pk)
        context = {"request": request, "picture_visible": can_view_face(self.user, visit)}
        return Response(PassageSerializer(visit_passages(visit), many=True, context=context).data)

    @extend_schema(responses={(200, "image/jpeg"): bytes})
    @action(detail=True, methods=["get"])
    def photo(self, request: Request, pk: str) -> HttpResponse:
        """The visitor's face, for those who may see it (as on the visit page); audited."""
        visit = self._visit(pk)
        if not can_view_face(self.user, visit):
            raise Http404
        return face_response(
            disclose_face(visitor=visit.visitor, actor=self.user, visit_id=visit.pk)
        )


class PassagePictureView(ApiViewMixin, APIView):
    permission_classes = [HasRole]

    @extend_schema(responses={(200, "image/jpeg"): bytes})
    def get(self, request: Request, pk: int) -> HttpResponse:
        """A passage's camera picture, for those who may see the visitor's face; audited
        (``passage.picture_viewed``). 404 for anyone else, whether or not it exists."""
        passage = Passage.objects.filter(pk=pk).first()
        if passage is None or not may_view_picture(self.user, passage):
            raise Http404
        return face_response(disclose_picture(passage=passage, actor=self.user))


class InvitationViewSet(
    ApiViewMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Invitation links: a host invites their own guests, reception and administrators any
    host's (``invitations.services.create_invitation``)."""

    permission_classes = [HasRole]
    serializer_class = InvitationSerializer
    queryset = Invitation.objects.none()  # for the schema: get_object finds the real one

    def get_object(self) -> Invitation:
        if not may_invite(self.user):
            raise PermissionDenied(_("Your account has no role that may open this page."))
        try:
            return get_invitation_for(self.user, int(self.kwargs["pk"]))
        except ValueError:
            raise Http404 from None

    @extend_schema(request=InvitationInputSerializer, responses={201: InvitationSerializer})
    def create(self, request: Request) -> Response:
        """A link for one guest or a group; the answer holds the link to send."""
        user = self.user
        if not may_invite(user):
            raise PermissionDenied(_("Your account has no role that may open this page."))
        desk = bool(roles_of(user) & ALL_INVITATIONS_ROLES)
        serializer = InvitationInputSerializer(
            data=request.data, context={"user": user, "desk": desk}
        )
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        invitation = create_invitation(
            host=data["host"],
            actor=user,
            kind=InvitationKind(data["kind"]),
            access_policy=data["access_policy"],
            purpose=data["purpose"],
            department=data.get("department"),
            planned_start=data.get("planned_start"),
            planned_end=data.get("planned_end"),
            expires_at=data.get("expires_at"),
            max_uses=data.get("max_uses", 1),
            group_name=data.get("group_name", ""),
        )
        body = InvitationSerializer(invitation, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED)


class MeView(ApiViewMixin, APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        """Who the token (or session) is, and its roles. Answers also for an account without
        a role (its ``roles`` is then empty), so an integrator can see why everything is 403."""
        user = self.user
        roles = sorted(roles_of(user), key=list(Role).index)
        token = token_of(request)
        return Response(
            MeSerializer(
                {
                    "id": user.pk,
                    "username": user.get_username(),
                    "name": user.get_full_name(),
                    "email": user.email,
                    "roles": [str(role) for role in roles],
                    "role_labels": [role.label for role in roles],
                    "token": (
                        {
                            "id": token.pk,
                            "name": token.name,
                            "prefix": token.prefix,
                            "created_at": token.created_at,
                            "expires_at": token.expires_at,
                        }
                        if token is not None
                        else None
                    ),
                }
            ).data
        )
