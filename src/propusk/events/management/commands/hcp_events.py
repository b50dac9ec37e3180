"""``hcp_events subscribe|view|unsubscribe``: our subscription to HCP's event push
(docs/events.md). The token in our eventDest is never printed: it shows as ``<token>``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from hikcentral import HikCentralError
from propusk.events import subscription
from propusk.integrations.hikcentral.factory import build_client


class Command(BaseCommand):
    help = (
        "Manage HikCentral's event push to Propusk: subscribe our webhook for the "
        "access-control event types, view what HCP holds, or unsubscribe ours."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=("subscribe", "view", "unsubscribe"))

    def handle(self, *args: Any, **options: Any) -> None:
        action: str = options["action"]
        try:
            client = build_client()
            if action == "subscribe":
                subscription.event_dest()  # refuses a missing token or address before calling
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        try:
            with client:
                getattr(self, f"_{action}")(client)
        except HikCentralError as exc:
            raise CommandError(f"HCP refused or failed: {type(exc).__name__}: {exc}") from exc

    def _subscribe(self, client: Any) -> None:
        dest = subscription.subscribe(client)
        types = ", ".join(str(t) for t in subscription.SUBSCRIBED_EVENT_TYPES)
        self.stdout.write(f"Subscribed {dest} for event types {types}.")

    def _view(self, client: Any) -> None:
        subs = client.view_subscriptions()
        if not subs:
            self.stdout.write("HCP pushes no events anywhere.")
            return
        ours = subscription.ours(subs)
        for sub in subs:
            mark = " (ours)" if sub in ours else ""
            types = ", ".join(str(t) for t in sub.event_types)
            self.stdout.write(f"{subscription.mask(sub.event_dest)}{mark}: {types}")
        if not ours:
            self.stdout.write("None of these is ours (run `hcp_events subscribe`).")
        else:
            held = {t for sub in ours for t in sub.event_types}
            missing = sorted(set(subscription.SUBSCRIBED_EVENT_TYPES) - held)
            if missing:
                self.stdout.write(
                    "Not pushed to us: "
                    + ", ".join(str(t) for t in missing)
                    + " (run `hcp_events subscribe`)."
                )

    def _unsubscribe(self, client: Any) -> None:
        types = subscription.unsubscribe(client)
        if types:
            self.stdout.write("Unsubscribed event types " + ", ".join(str(t) for t in types) + ".")
        else:
            self.stdout.write("HCP pushed nothing to us; nothing to unsubscribe.")
