"""The reason staff give for an operation by hand on a visitor's access (kept in the audit
log, and on a hold). Its rules are the services' (``services.clean_reason``)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from propusk.access.services import REASON_MAX_LENGTH


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=REASON_MAX_LENGTH,
        help_text=_("Kept in the audit log. No ID numbers."),
    )


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
