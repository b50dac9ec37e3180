from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _


class PreferenceForm(forms.Form):
    email = forms.BooleanField(label=_("By email"), required=False)
    telegram = forms.BooleanField(label=_("In Telegram"), required=False)
    webpush = forms.BooleanField(label=_("In the browser"), required=False)
    language = forms.ChoiceField(label=_("Language of notifications"), choices=settings.LANGUAGES)
