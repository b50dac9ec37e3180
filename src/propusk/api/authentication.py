"""How API requests authenticate: ``Authorization: Bearer <token>`` for integrations, or the
session of a signed-in user trying the API in the browser (CSRF checked on writes)."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from propusk.api.models import ApiToken
from propusk.api.tokens import token_for

KEYWORD = "Bearer"


class TokenAuthentication(authentication.BaseAuthentication):
    """A token from ``Authorization: Bearer pk_...``; 401 if it is unknown, revoked or expired
    (one message for all three: the answer does not tell which)."""

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != KEYWORD.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                _("Send the token as 'Authorization: Bearer <token>'.")
            )
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(_("Invalid, revoked or expired token.")) from None
        token = token_for(raw)
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid, revoked or expired token."))
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return f'{KEYWORD} realm="api"'


def token_of(request: Request | HttpRequest) -> ApiToken | None:
    """The token the request came with (None: a browser session)."""
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, ApiToken) else None
