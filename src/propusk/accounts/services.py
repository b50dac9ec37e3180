"""Sign-in outcomes in the audit log (called by ``signin.SignInAttemptHandler``).

An entry holds the username as typed and the client address, never the password. Its target
is the account of that name, or the user model (empty id) when there is none.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import models

from propusk.audit.services import record

# Who a failed sign-in's entry names: nobody has proved who they are.
ANONYMOUS = "anonymous"


def record_failed_sign_in(
    *, username: str | None, address: str | None, page: str, refused: bool
) -> None:
    """A wrong username or password (``refused`` False), or a sign-in refused without a
    look at the password because the account or the address is locked out (True)."""
    record(
        actor=None,
        actor_label=ANONYMOUS,
        action="auth.login_failed",
        target=_account(username),
        changes={
            "username": username,
            "address": address,
            "page": page,
            "while_locked_out": refused,
        },
    )


def record_lockout(
    *, username: str | None, address: str | None, page: str, limits_reached: list[str]
) -> None:
    """The failure that locked sign-in out; ``limits_reached`` names the counts at their limit
    (``account``, ``address``): what an administrator resets to unlock early."""
    record(
        actor=None,
        actor_label=ANONYMOUS,
        action="auth.locked_out",
        target=_account(username),
        changes={
            "username": username,
            "address": address,
            "page": page,
            "limits_reached": limits_reached,
        },
    )


def record_sign_in(*, user: AbstractBaseUser, address: str | None, page: str) -> None:
    record(
        actor=user,
        action="auth.logged_in",
        target=user,
        changes={"address": address, "page": page},
    )


def _account(username: str | None) -> models.Model | type[models.Model]:
    user_model = get_user_model()
    if username:
        user = user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).first()
        if user is not None:
            return user
    return user_model
