"""The reason staff give for an operation by hand on a visitor's access (kept in the audit
log, and on a hold). Its rules are the services' (``services.clean_reason``)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from propusk.access.services import REASON_MAX_LENGTH
from propusk.visitors.photos import (
    check_upload_size,
    check_with_access_system,
    normalize_face_photo,
)


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=REASON_MAX_LENGTH,
        help_text=_("Kept in the audit log. No ID numbers."),
    )


class ReenrolForm(ReasonForm):
    """Re-enrol the face: a new photo (a file, or the desk's camera), or the stored one again."""

    photo = forms.FileField(
        label=_("New face photo"),
        required=False,
        help_text=_("Leave empty to send the photo on file again."),
        widget=forms.ClearableFileInput(attrs={"accept": "image/*"}),
    )

    def clean_photo(self) -> bytes | None:
        upload = self.cleaned_data.get("photo")
        if not upload:
            return None
        if upload.size is not None:
            check_upload_size(upload.size)  # before opening a huge file
        jpeg = normalize_face_photo(upload)
        check_with_access_system(jpeg)  # HCP's own check of what would be enrolled
        return jpeg


class PersonLookUpForm(forms.Form):
    by = forms.ChoiceField(
        label=_("Find by"),
        choices=[
            ("code", _("person code")),
            ("id", _("HCP person id")),
            ("name", _("visitor's name")),
        ],
        initial="code",
    )
    q = forms.CharField(label=_("Look for"), max_length=100)
