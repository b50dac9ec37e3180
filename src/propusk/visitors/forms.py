"""The visitor's personal data form, shared by staff registration and invitation links.

The public page speaks to the visitor ("I agree ...", ``VisitorForm``); the staff pages speak
to the receptionist or host filling it in for the visitor ("The visitor agrees ...",
``StaffVisitorForm``). The fields, checks and data are the same.

The face photo is checked and normalised while the form is cleaned. If the form then comes
back with errors, the accepted photo is kept server-side for a short while and the page
carries a signed ``photo_token`` instead, so the visitor does not have to take it again.

On the staff pages, a returning visitor found by reception (``visitors.returning``) may keep
their stored face: the form is then built with ``returning=`` and the photo is optional.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Mapping
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy as _
from PIL import Image

from propusk.core.text import clean_name
from propusk.visitors import pending_photos
from propusk.visitors.models import Visitor
from propusk.visitors.national_id import FORMAT_KZ_IIN, normalize_national_id
from propusk.visitors.photos import (
    check_upload_size,
    check_with_access_system,
    normalize_face_photo,
)
from propusk.visitors.services import VisitorData

_PHONE_SEPARATORS = re.compile(r"[\s\-().]+")
_PHONE = re.compile(r"\+?[0-9]{10,15}")
_PREVIEW_SIDE_PX = 160
# Fields that are not shown again as typed: files cannot be, the photo token is re-issued.
_NOT_RETYPED = frozenset({"photo", "photo_token"})


def normalize_phone(value: str) -> str:
    """Digits with an optional leading +, 10 to 15 digits; spaces, dashes, brackets dropped."""
    cleaned = _PHONE_SEPARATORS.sub("", value or "")
    if not _PHONE.fullmatch(cleaned):
        raise ValidationError(
            _("Enter a phone number of 10 to 15 digits, e.g. +7 701 234 5678."), code="phone"
        )
    return cleaned


class VisitorForm(forms.Form):
    family_name = forms.CharField(
        label=_("Family name"),
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "family-name"}),
    )
    given_name = forms.CharField(
        label=_("Given name"),
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "given-name"}),
    )
    middle_name = forms.CharField(
        label=_("Middle name (patronymic)"),
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "additional-name"}),
    )
    phone = forms.CharField(
        label=_("Phone"),
        max_length=32,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel", "inputmode": "tel"}),
    )
    email = forms.EmailField(
        label=_("Email"),
        required=False,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    national_id = forms.CharField(
        label=_("National ID number (IIN)"),
        max_length=64,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    photo = forms.FileField(
        label=_("Photo of your face"),
        required=False,
        help_text=_("Face the camera, good light, no sunglasses or hat."),
        widget=forms.FileInput(attrs={"accept": "image/*", "capture": "user"}),
    )
    photo_token = forms.CharField(required=False, widget=forms.HiddenInput)
    # Staff pages only: the signed result of a look-up (``visitors.returning``). The view
    # reads it before building the form; the form only carries it along.
    returning = forms.CharField(required=False, widget=forms.HiddenInput)
    consent = forms.BooleanField(
        label=_("I agree to the processing of my personal and biometric data as described above."),
        error_messages={"required": _("Without your consent we cannot issue a pass.")},
    )

    def __init__(
        self,
        *args: Any,
        photo_required: bool = True,
        national_id_required: bool = False,
        returning: Visitor | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        # A returning visitor with a face on file may keep it: a new photo replaces it.
        self.returning_visitor = returning
        self.photo_required = photo_required and not (returning is not None and returning.photo)
        self._photo_jpeg: bytes | None = None
        self._photo_token = ""
        national_id = self.fields["national_id"]
        national_id.required = national_id_required
        if settings.NATIONAL_ID_FORMAT == FORMAT_KZ_IIN:
            national_id.widget.attrs["inputmode"] = "numeric"
            national_id.help_text = _("12 digits. With it we recognise you on your next visit.")
        else:
            national_id.label = _("ID document number")
            national_id.help_text = _("With it we recognise you on your next visit.")

    def clean_family_name(self) -> str:
        return clean_name(self.cleaned_data["family_name"])

    def clean_given_name(self) -> str:
        return clean_name(self.cleaned_data["given_name"])

    def clean_middle_name(self) -> str:
        return clean_name(self.cleaned_data["middle_name"])

    def clean_phone(self) -> str:
        return normalize_phone(self.cleaned_data["phone"])

    def clean_national_id(self) -> str:
        value = self.cleaned_data["national_id"].strip()
        return normalize_national_id(value) if value else ""

    def clean_photo(self) -> None:
        upload = self.cleaned_data.get("photo")
        previous_token = str(self.data.get(self.add_prefix("photo_token"), "") or "")
        if upload:
            if upload.size is not None:
                check_upload_size(upload.size)  # before opening a huge file
            # The file itself: Pillow reads what it needs, a spooled upload stays on disk.
            jpeg = normalize_face_photo(upload)
            check_with_access_system(jpeg)  # HCP's own check of what would be enrolled
            self._photo_jpeg = jpeg
            if previous_token:
                pending_photos.discard(previous_token)
            return None
        if previous_token:
            kept = pending_photos.load(previous_token)
            if kept is None:
                raise ValidationError(
                    _("The photo you sent earlier has expired: please add it again."),
                    code="photo_expired",
                )
            self._photo_jpeg = kept
            self._photo_token = previous_token
            return None
        if self.photo_required:
            if self.returning_visitor is not None and self.returning_visitor.face_deleted_at:
                raise ValidationError(
                    _(
                        "The photo of this visitor was deleted after the retention period: "
                        "take a new one."
                    ),
                    code="photo_required",
                )
            raise ValidationError(_("Please add a photo of your face."), code="photo_required")
        return None

    # --- A page shown again without checking the form (a look-up) ---------------------

    @classmethod
    def as_typed(
        cls,
        data: Mapping[str, Any],
        files: Mapping[str, Any],
        *,
        prefix: str | None = None,
        replace: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> VisitorForm:
        """An unbound form showing what was typed, with ``replace`` on top, and no errors.

        A photo already given (a new upload, or one kept from an earlier error) stays.
        """
        initial: dict[str, Any] = {}
        for name in cls.base_fields:
            key = f"{prefix}-{name}" if prefix else name
            if name not in _NOT_RETYPED and key in data:
                initial[name] = data.get(key)
        initial.update(replace or {})
        form = cls(prefix=prefix, initial=initial, **kwargs)
        form._carry_photo(data, files)
        return form

    def _carry_photo(self, data: Mapping[str, Any], files: Mapping[str, Any]) -> None:
        """Keep a photo the visitor gave; an unreadable new one is dropped (chosen again)."""
        previous_token = str(data.get(self.add_prefix("photo_token"), "") or "")
        upload = files.get(self.add_prefix("photo"))
        if isinstance(upload, UploadedFile):
            try:
                if upload.size is not None:
                    check_upload_size(upload.size)
                jpeg = normalize_face_photo(upload)
                check_with_access_system(jpeg)  # it is kept and used without a second check
                self._photo_jpeg = jpeg
            except ValidationError:
                self._photo_jpeg = None
            else:
                if previous_token:
                    pending_photos.discard(previous_token)
                return
        if previous_token:
            kept = pending_photos.load(previous_token)
            if kept is not None:
                self._photo_jpeg, self._photo_token = kept, previous_token

    # --- Used by templates when the form is shown again -------------------------------

    @property
    def photo_received(self) -> bool:
        return self._photo_jpeg is not None

    @property
    def pending_photo_token(self) -> str:
        """A token for the accepted photo; stores it server-side the first time it is asked."""
        if self._photo_jpeg is not None and not self._photo_token:
            self._photo_token = pending_photos.keep(self._photo_jpeg)
        return self._photo_token

    @property
    def pending_photo_preview(self) -> str:
        """A small inline (data: URI) thumbnail of the accepted photo, for the visitor only."""
        if self._photo_jpeg is None:
            return ""
        with Image.open(io.BytesIO(self._photo_jpeg)) as image:
            image.thumbnail((_PREVIEW_SIDE_PX, _PREVIEW_SIDE_PX))
            buffer = io.BytesIO()
            image.convert("RGB").save(buffer, format="JPEG", quality=70)
        return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")

    # --- Used by views after a successful save ----------------------------------------

    for_staff = False

    def to_visitor_data(self) -> VisitorData:
        if not self.is_valid():
            raise ValueError("to_visitor_data() needs a valid form")
        data = self.cleaned_data
        return VisitorData(
            family_name=data["family_name"],
            given_name=data["given_name"],
            middle_name=data["middle_name"],
            phone=data["phone"],
            email=data["email"],
            national_id=data["national_id"] or None,
            photo_jpeg=self._photo_jpeg,
            consent=bool(data["consent"]),
        )

    def release_photo(self) -> None:
        """Delete the server-side copy of the photo once the visitor has been saved."""
        if self._photo_token:
            pending_photos.discard(self._photo_token)
            self._photo_token = ""


class StaffVisitorForm(VisitorForm):
    """The same form on the staff pages, worded for the person filling it in for the visitor:
    the consent is the visitor's, given to them at the desk (they read the consent text)."""

    for_staff = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        photo = self.fields["photo"]
        photo.label = _("Photo of the visitor's face")
        photo.help_text = _(
            "The visitor faces the camera, in good light, without sunglasses or a hat."
        )
        consent = self.fields["consent"]
        consent.label = _(
            "The visitor has read the text above and agrees to the processing of their personal "
            "and biometric data."
        )
        consent.error_messages["required"] = _(
            "Without the visitor's consent no pass can be issued."
        )
        national_id = self.fields["national_id"]
        if settings.NATIONAL_ID_FORMAT == FORMAT_KZ_IIN:
            national_id.help_text = _(
                "12 digits. With it the visitor is recognised on their next visit."
            )
        else:
            national_id.help_text = _("With it the visitor is recognised on their next visit.")
