"""``manage.py api_token create USERNAME --name "..." [--expires-days N]`` prints a new API
token once; ``api_token list [USERNAME]``; ``api_token revoke ID``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser

from propusk.api.models import ApiToken
from propusk.api.tokens import create_token, revoke_token
from propusk.core.time import now


class Command(BaseCommand):
    help = "Create, list or revoke REST API tokens (docs/api.md)."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="command", required=True)
        create = commands.add_parser("create", help="Make a token for a user; printed once.")
        create.add_argument("username")
        create.add_argument("--name", required=True, help="What uses it.")
        create.add_argument("--expires-days", type=int, default=None)
        listing = commands.add_parser("list", help="Tokens (never the tokens themselves).")
        listing.add_argument("username", nargs="?")
        revoke = commands.add_parser("revoke", help="Revoke a token by its id.")
        revoke.add_argument("id", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        command = options["command"]
        if command == "create":
            self._create(options)
        elif command == "list":
            self._list(options.get("username"))
        else:
            token = ApiToken.objects.filter(pk=options["id"]).first()
            if token is None:
                raise CommandError(f"No API token with id {options['id']}.")
            revoke_token(token=token, actor=None)
            self.stdout.write(f"Token {token.pk} ({token.name}) revoked.")

    def _create(self, options: dict[str, Any]) -> None:
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user {options['username']!r}.")
        if not options["name"].strip():
            raise CommandError("Name the token (--name): what uses it.")
        days = options["expires_days"]
        if days is not None and days < 1:
            raise CommandError("--expires-days must be at least 1.")
        expires_at = now() + timedelta(days=days) if days else None
        token, raw = create_token(
            user=user, name=options["name"], actor=None, expires_at=expires_at
        )
        self.stderr.write(
            f"Token {token.pk} for {user.username} ({token.name}); copy it now, it is not "
            "shown again:"
        )
        self.stdout.write(raw)

    def _list(self, username: str | None) -> None:
        tokens = ApiToken.objects.select_related("user").order_by("pk")
        if username:
            tokens = tokens.filter(user__username=username)
        for token in tokens:
            state = "revoked" if token.revoked_at else "active"
            if token.expires_at and token.expires_at <= now() and not token.revoked_at:
                state = "expired"
            self.stdout.write(
                f"{token.pk}\t{token.user.username}\t{token.name}\t{token.prefix}...\t{state}\t"
                f"last used {token.last_used_at or 'never'}"
            )
