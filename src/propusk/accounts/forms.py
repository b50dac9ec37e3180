"""The sign-in forms of the site (``/login/``) and of the admin (``/admin/login/``).

While sign-in is locked out the right password is refused too (``signin``): both forms then
say so, and for how long, instead of "wrong password"; the page answers 429.
"""

from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm

from propusk.accounts import signin


class SignInForm(AuthenticationForm):
    def get_invalid_login_error(self) -> forms.ValidationError:
        return _locked_out_error(self) or super().get_invalid_login_error()


class AdminSignInForm(AdminAuthenticationForm):
    def get_invalid_login_error(self) -> forms.ValidationError:
        return _locked_out_error(self) or super().get_invalid_login_error()


def _locked_out_error(form: AuthenticationForm) -> forms.ValidationError | None:
    request = form.request
    if request is None or not getattr(request, "axes_locked_out", False):
        return None
    message = signin.lockout_message_for(request, form.cleaned_data.get("username"))
    return forms.ValidationError(message, code="locked_out")
