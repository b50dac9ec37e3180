"""What the API reads and writes. Input is parsed here; the services decide and write.

Answers never hold a national ID number (not even masked) nor a face; faces and camera
pictures come only from their own audited endpoints.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from propusk.access.models import AccessLevelPolicy
from propusk.access.selectors import VisitAccessCard, choosable_policies
from propusk.accounts.models import Department
from propusk.invitations.models import Invitation, InvitationKind
from propusk.invitations.services import MAX_GROUP_USES
from propusk.passages.models import Passage
from propusk.visitors.forms import StaffVisitorForm
from propusk.visitors.photos import check_upload_size
from propusk.visits.models import Visit, VisitKind, VisitStatus
from propusk.visits.selectors import eligible_hosts

_DATA_URI = re.compile(r"^data:image/[a-z0-9.+-]+;base64,", re.IGNORECASE)


# --- Small pieces -----------------------------------------------------------------------


def _person(user: User | None) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": user.pk, "username": user.get_username(), "name": user.get_full_name()}


class PersonSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.CharField()


class NamedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


# --- Visits, out ------------------------------------------------------------------------


class VisitorNameSerializer(serializers.Serializer):
    family_name = serializers.CharField()
    given_name = serializers.CharField()
    middle_name = serializers.CharField()
    full_name = serializers.CharField()


class VisitSerializer(serializers.ModelSerializer):
    """A visit in a list: no face, no ID number, no contacts."""

    status_label = serializers.CharField(source="get_status_display")
    visitor = serializers.SerializerMethodField()
    host = serializers.SerializerMethodField()
    department = serializers.SerializerMethodField()
    access_policy = serializers.SlugRelatedField(slug_field="key", read_only=True)
    time_confirmed = serializers.SerializerMethodField()
    planned_start = serializers.SerializerMethodField()
    planned_end = serializers.SerializerMethodField()
    group = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = Visit
        fields = [
            "id",
            "kind",
            "status",
            "status_label",
            "visitor",
            "host",
            "department",
            "purpose",
            "time_confirmed",
            "planned_start",
            "planned_end",
            "access_policy",
            "single_pass",
            "group",
            "checked_in_at",
            "checked_out_at",
            "cancelled_at",
            "created_at",
        ]

    @extend_schema_field(VisitorNameSerializer)
    def get_visitor(self, visit: Visit) -> dict[str, str]:
        visitor = visit.visitor
        return {
            "family_name": visitor.family_name,
            "given_name": visitor.given_name,
            "middle_name": visitor.middle_name,
            "full_name": visitor.full_name,
        }

    @extend_schema_field(PersonSerializer)
    def get_host(self, visit: Visit) -> dict[str, Any] | None:
        return _person(visit.host)

    @extend_schema_field(NamedSerializer(allow_null=True))
    def get_department(self, visit: Visit) -> dict[str, Any] | None:
        department = visit.department
        return {"id": department.pk, "name": department.name} if department else None

    def get_time_confirmed(self, visit: Visit) -> bool:
        """False for a visit waiting for the host to fix its time: its window is then null."""
        return visit.status != VisitStatus.PENDING

    # A pending visit's stored window is only a placeholder (docs/visits.md): not shown.
    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_planned_start(self, visit: Visit) -> str | None:
        if visit.status == VisitStatus.PENDING:
            return None
        return serializers.DateTimeField().to_representation(visit.planned_start)

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_planned_end(self, visit: Visit) -> str | None:
        if visit.status == VisitStatus.PENDING:
            return None
        return serializers.DateTimeField().to_representation(visit.planned_end)


class AccessDesiredSerializer(serializers.Serializer):
    valid_from = serializers.DateTimeField()
    valid_until = serializers.DateTimeField()
    access_levels = serializers.ListField(child=serializers.CharField())


class AccessConfirmedSerializer(serializers.Serializer):
    person_id = serializers.CharField()
    valid_from = serializers.DateTimeField(allow_null=True)
    valid_until = serializers.DateTimeField(allow_null=True)
    access_levels = serializers.ListField(child=serializers.CharField())
    applied = serializers.CharField(help_text="HCP's devices: applied, waiting, failed...")
    revoked_at = serializers.DateTimeField(allow_null=True)


class AccessWorkSerializer(serializers.Serializer):
    state = serializers.CharField()
    attempts = serializers.IntegerField()
    due_at = serializers.DateTimeField()
    last_error = serializers.CharField()


class AccessSerializer(serializers.Serializer):
    """The visitor's access in HikCentral, by role as on the visit page: security and
    administrators everything, reception the status, hosts only a face HCP refused."""

    status = serializers.CharField(
        allow_null=True, help_text="active, waiting, failed, held or none; null for hosts"
    )
    status_label = serializers.CharField(allow_null=True)
    face_rejected_reason = serializers.CharField()
    desired = AccessDesiredSerializer(allow_null=True, required=False)
    confirmed = AccessConfirmedSerializer(allow_null=True, required=False)
    work = AccessWorkSerializer(allow_null=True, required=False)
    held = serializers.BooleanField(required=False)
    access_should_end_at = serializers.DateTimeField(allow_null=True, required=False)
    access_revoked_at = serializers.DateTimeField(allow_null=True, required=False)
    time_to_revoke_seconds = serializers.FloatField(allow_null=True, required=False)


def access_summary(card: VisitAccessCard, visit: Visit) -> dict[str, Any]:
    when = serializers.DateTimeField()

    def moment(value: Any) -> str | None:
        return when.to_representation(value) if value is not None else None

    summary: dict[str, Any] = {
        "status": str(card.status) if card.status is not None else None,
        "status_label": card.status.label if card.status is not None else None,
        "face_rejected_reason": card.face_rejected_reason,
    }
    access = card.detail
    if access is None:
        return summary
    person = access.desired.person
    confirmed, work = access.confirmed, access.work
    summary.update(
        desired=(
            {
                "valid_from": moment(person.grant.begin),
                "valid_until": moment(person.grant.end),
                "access_levels": access.levels_desired,
            }
            if person is not None
            else None
        ),
        confirmed=(
            {
                "person_id": confirmed.person_id,
                "valid_from": moment(confirmed.begin_time),
                "valid_until": moment(confirmed.end_time),
                "access_levels": access.levels_confirmed,
                "applied": str(confirmed.apply_state),
                "revoked_at": moment(confirmed.revoked_at),
            }
            if confirmed is not None
            else None
        ),
        work=(
            {
                "state": str(work.state),
                "attempts": work.attempts,
                "due_at": moment(work.due_at),
                "last_error": " ".join(
                    part for part in (work.last_error_code, work.last_error_message) if part
                ),
            }
            if work is not None
            else None
        ),
        held=access.hold is not None,
        access_should_end_at=moment(visit.access_should_end_at),
        access_revoked_at=moment(visit.access_revoked_at),
        time_to_revoke_seconds=card.time_to_revoke_seconds,
    )
    return summary


class VisitDetailSerializer(VisitSerializer):
    """One visit: its visitor's contacts, the access in HikCentral, what the user may do."""

    visitor = serializers.SerializerMethodField()
    access = serializers.SerializerMethodField()
    actions = serializers.SerializerMethodField()
    identity_check_needed = serializers.SerializerMethodField()

    class Meta(VisitSerializer.Meta):
        fields = [
            *VisitSerializer.Meta.fields,
            "identity_check_needed",
            "cancel_reason",
            "student_id",
            "student_group",
            "course",
            "access",
            "actions",
        ]

    @extend_schema_field(VisitorNameSerializer)
    def get_visitor(self, visit: Visit) -> dict[str, str]:
        # The list's names, and the contacts the visit page shows.
        return {
            **super().get_visitor(visit),
            "phone": visit.visitor.phone,
            "email": visit.visitor.email,
        }

    def get_identity_check_needed(self, visit: Visit) -> bool:
        """Reception's "check ID" badge: the ID number sent with this visitor is on file for
        another visitor; confirm at arrival (on the visit page). Always false for those who
        may not look visitors up (hosts, security)."""
        return bool(self.context["identity_check"])

    @extend_schema_field(AccessSerializer)
    def get_access(self, visit: Visit) -> dict[str, Any]:
        return access_summary(self.context["access_card"], visit)

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_actions(self, visit: Visit) -> list[str]:
        """The changes this user may make now: check_in, check_out, cancel, change_window,
        confirm (the status may still refuse at the moment it is tried)."""
        return sorted(str(action) for action in self.context["actions"])


# --- Registration, in -------------------------------------------------------------------


@extend_schema_field(OpenApiTypes.BYTE)
class PhotoField(serializers.Field):
    """A face photo: base64 (JPEG, PNG, WEBP; a ``data:image/...;base64,`` prefix is
    allowed) in JSON, or a file part in multipart. Checked like an upload on the pages."""

    default_error_messages = {
        "invalid": _("Send the photo as base64 or as a file."),
    }

    def to_internal_value(self, data: Any) -> UploadedFile:
        if isinstance(data, UploadedFile):
            return data
        if not isinstance(data, str):
            self.fail("invalid")
        text = _DATA_URI.sub("", data.strip(), count=1)
        # Refused by its length before it is decoded (base64: 4 characters per 3 bytes).
        check_upload_size(len(text) * 3 // 4)
        try:
            content = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            self.fail("invalid")
        return SimpleUploadedFile("photo", content, content_type="application/octet-stream")

    def to_representation(self, value: Any) -> Any:
        return None


class VisitorInputSerializer(serializers.Serializer):
    """The visitor, checked by the pages' own form (``visitors.forms.StaffVisitorForm``):
    names, phone, the ID number, and the photo with every check (size, pixels, face)."""

    family_name = serializers.CharField(max_length=100)
    given_name = serializers.CharField(max_length=100)
    middle_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=32)
    email = serializers.CharField(max_length=254, required=False, allow_blank=True)
    national_id = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        write_only=True,
        help_text="Kazakhstan IIN (12 digits) by default; stored encrypted, never returned.",
    )
    consent = serializers.BooleanField(
        help_text="The visitor agreed to the processing of their personal and biometric data."
    )
    photo = PhotoField()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        form = StaffVisitorForm(
            data={
                "family_name": attrs.get("family_name", ""),
                "given_name": attrs.get("given_name", ""),
                "middle_name": attrs.get("middle_name", ""),
                "phone": attrs.get("phone", ""),
                "email": attrs.get("email", ""),
                "national_id": attrs.get("national_id", ""),
                "consent": bool(attrs.get("consent")),
            },
            files={"photo": attrs["photo"]},
        )
        if not form.is_valid():
            raise serializers.ValidationError(
                {
                    name: [
                        serializers.ErrorDetail(message, code=error.code)
                        for error in errors
                        for message in error.messages
                    ]
                    for name, errors in form.errors.as_data().items()
                }
            )
        return {"data": form.to_visitor_data()}


class RegistrationSerializer(serializers.Serializer):
    """A visitor and their visit, registered in one call (``services.register_with_visitor``,
    as the desk and the invitation page)."""

    # Refusals never echo what was sent (DRF's message quotes it): docs/api.md, Errors.
    kind = serializers.ChoiceField(
        choices=[VisitKind.GUEST.value, VisitKind.STUDENT.value],
        error_messages={"invalid_choice": _("Choose a kind of visit.")},
    )
    host = serializers.IntegerField(
        required=False,
        help_text="The host's user id. Hosts register for themselves: leave it out.",
    )
    planned_start = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Leave out for a visit that starts now."
    )
    planned_end = serializers.DateTimeField()
    access_policy = serializers.SlugField(
        required=False, help_text="A policy's key; leave out for the kind's default."
    )
    department = serializers.IntegerField(required=False, allow_null=True)
    purpose = serializers.CharField(max_length=300, required=False, allow_blank=True)
    single_pass = serializers.BooleanField(required=False, allow_null=True, default=None)
    student_id = serializers.CharField(max_length=32, required=False, allow_blank=True)
    student_group = serializers.CharField(max_length=64, required=False, allow_blank=True)
    course = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=7)
    visitor = VisitorInputSerializer()

    def validate_host(self, value: int) -> User:
        host = eligible_hosts().filter(pk=value).first()
        if host is None:
            raise serializers.ValidationError(_("Choose a host from the list."))
        return host

    def validate_department(self, value: int | None) -> Department | None:
        if value is None:
            return None
        department = Department.objects.filter(pk=value, is_active=True).first()
        if department is None:
            raise serializers.ValidationError(_("No such department."))
        return department

    def validate_access_policy(self, value: str) -> AccessLevelPolicy:
        # Any existing policy: the service says why one is not allowed (switched off, or
        # only for reception).
        policy = AccessLevelPolicy.objects.filter(key=value).first()
        if policy is None:
            raise serializers.ValidationError(_("No access policy with this key."))
        return policy

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        user: User = self.context["user"]
        if "host" not in attrs:
            if not self.context["desk"]:
                attrs["host"] = user
            else:
                raise serializers.ValidationError({"host": [_("Choose a host from the list.")]})
        if attrs.get("access_policy") is None:
            policy = choosable_policies(user).filter(key=attrs["kind"]).first()
            if policy is None:
                raise serializers.ValidationError(
                    {
                        "access_policy": [
                            _(
                                "There is no default access policy for this kind of visit: "
                                "choose one."
                            )
                        ]
                    }
                )
            attrs["access_policy"] = policy
        if attrs["kind"] != VisitKind.STUDENT:
            attrs["student_id"], attrs["student_group"], attrs["course"] = "", "", None
        return attrs


class WindowSerializer(serializers.Serializer):
    planned_start = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Leave out to keep the start."
    )
    planned_end = serializers.DateTimeField()


class ConfirmSerializer(serializers.Serializer):
    planned_start = serializers.DateTimeField()
    planned_end = serializers.DateTimeField()


class CancelSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


# --- Passages ---------------------------------------------------------------------------


class PassageSerializer(serializers.ModelSerializer):
    door = serializers.SerializerMethodField()
    direction = serializers.SerializerMethodField()
    denial_reason_label = serializers.CharField(source="get_denial_reason_display")
    picture_url = serializers.SerializerMethodField()

    class Meta:
        model = Passage
        fields = [
            "id",
            "happened_at",
            "door",
            "direction",
            "granted",
            "denial_reason",
            "denial_reason_label",
            "picture_url",
        ]

    @extend_schema_field(
        {"type": "object", "properties": {"code": {"type": "string"}, "name": {"type": "string"}}}
    )
    def get_door(self, passage: Passage) -> dict[str, str]:
        return {"code": passage.door_index_code, "name": passage.door_name}

    @extend_schema_field({"type": "string", "enum": ["in", "out", "unknown"]})
    def get_direction(self, passage: Passage) -> str:
        return {1: "in", 2: "out"}.get(int(passage.direction), "unknown")

    @extend_schema_field(OpenApiTypes.URI)
    def get_picture_url(self, passage: Passage) -> str | None:
        """The camera picture's address, for those who may see the visitor's face."""
        if not (passage.has_picture and self.context["picture_visible"]):
            return None
        return self.context["request"].build_absolute_uri(
            reverse("api:passage-picture", kwargs={"pk": passage.pk})
        )


# --- Invitations ------------------------------------------------------------------------


class InvitationInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=InvitationKind.values,
        error_messages={"invalid_choice": _("Choose one visitor or a group.")},
    )
    host = serializers.IntegerField(
        required=False, help_text="The host's user id. Hosts invite for themselves: leave out."
    )
    purpose = serializers.CharField(max_length=300)
    access_policy = serializers.SlugField(required=False, help_text="Default: guest.")
    department = serializers.IntegerField(required=False, allow_null=True)
    planned_start = serializers.DateTimeField(required=False, allow_null=True)
    planned_end = serializers.DateTimeField(required=False, allow_null=True)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    max_uses = serializers.IntegerField(required=False, min_value=1, max_value=MAX_GROUP_USES)
    group_name = serializers.CharField(max_length=200, required=False, allow_blank=True)

    validate_host = RegistrationSerializer.validate_host
    validate_department = RegistrationSerializer.validate_department
    validate_access_policy = RegistrationSerializer.validate_access_policy

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "host" not in attrs:
            if self.context["desk"]:
                raise serializers.ValidationError({"host": [_("Choose a host from the list.")]})
            attrs["host"] = self.context["user"]
        if attrs.get("access_policy") is None:
            policy = choosable_policies(self.context["user"]).filter(key="guest").first()
            if policy is None:
                raise serializers.ValidationError(
                    {"access_policy": [_("No access policy with this key.")]}
                )
            attrs["access_policy"] = policy
        if attrs["kind"] == InvitationKind.SINGLE:
            attrs["max_uses"] = 1
        return attrs


class InvitationSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    state = serializers.SerializerMethodField()
    host = serializers.SerializerMethodField()
    access_policy = serializers.SlugRelatedField(slug_field="key", read_only=True)
    group = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = Invitation
        fields = [
            "id",
            "kind",
            "url",
            "state",
            "host",
            "purpose",
            "access_policy",
            "planned_start",
            "planned_end",
            "group",
            "max_uses",
            "uses_count",
            "expires_at",
            "revoked_at",
            "created_at",
        ]

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, invitation: Invitation) -> str:
        """The link to send to the visitor (a secret: whoever has it may register)."""
        return self.context["request"].build_absolute_uri(
            reverse("invitations:public", args=[invitation.token])
        )

    def get_state(self, invitation: Invitation) -> str:
        from propusk.invitations.selectors import invitation_state

        return str(invitation_state(invitation))

    @extend_schema_field(PersonSerializer)
    def get_host(self, invitation: Invitation) -> dict[str, Any] | None:
        return _person(invitation.host)


# --- Me ---------------------------------------------------------------------------------


class TokenInfoSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.CharField()
    email = serializers.CharField()
    roles = serializers.ListField(child=serializers.CharField())
    role_labels = serializers.ListField(child=serializers.CharField())
    token = TokenInfoSerializer(allow_null=True)
