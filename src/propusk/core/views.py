from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from propusk.accounts.roles import Role, roles_of


def home(request: HttpRequest) -> HttpResponse:
    """Send each role to the page it works on."""
    held = roles_of(request.user)
    if Role.SECURITY in held:
        return redirect("dashboard:dashboard")
    if Role.RECEPTION in held:
        return redirect("visits:reception")
    return redirect("visits:list")
