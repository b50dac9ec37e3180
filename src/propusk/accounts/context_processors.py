from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from propusk.accounts.roles import Role, roles_of


def roles(request: HttpRequest) -> dict[str, Any]:
    held = roles_of(request.user)
    return {
        "user_roles": held,
        "is_administrator": Role.ADMINISTRATOR in held,
        "is_security": Role.SECURITY in held,
        "is_reception": Role.RECEPTION in held,
        "is_host": Role.HOST in held,
    }
