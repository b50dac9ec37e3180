"""Our subscription to HCP's event push: where HCP sends events (``eventDest``), with which
token, for which event types.

The token travels in the eventDest URL's path (``<base>/hcp/events/<token>/``) and is also
given to HCP as the subscription's ``token`` field. The receiver authenticates by the path
only: HCP calls the eventDest exactly as registered on every version, while whether (and in
which header) a given HCP version sends the ``token`` field is not settled by the public
sources (the simulator sends it as a ``token`` header, as one production receiver reads it).
The path is masked in every log line Django writes (events.logging).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from hikcentral import ACCESS_EVENT_TYPES, HikCentralClient, Subscription

logger = logging.getLogger(__name__)

# The event types the passage handler acts on: the granted face passage and the denials.
SUBSCRIBED_EVENT_TYPES: tuple[int, ...] = tuple(sorted(ACCESS_EVENT_TYPES))
MASK = "<token>"


def events_token() -> str:
    token: str = settings.PROPUSK_HCP_EVENTS_TOKEN
    if not token:
        raise ImproperlyConfigured(
            "PROPUSK_HCP_EVENTS_TOKEN is not set (or PROPUSK_HCP_EVENTS_TOKEN_FILE): the "
            "webhook refuses every push without it (docs/events.md)"
        )
    return token


def base_url() -> str:
    base = settings.PROPUSK_HCP_EVENTS_URL or getattr(settings, "PROPUSK_SITE_URL", "")
    if not base:
        raise ImproperlyConfigured(
            "set PROPUSK_HCP_EVENTS_URL to Propusk's address as HCP reaches it, e.g. "
            "https://propusk.example.kz (docs/events.md)"
        )
    return str(base).rstrip("/")


def event_dest() -> str:
    """The URL HCP pushes to, token included (a secret: never print it unmasked)."""
    return base_url() + reverse("events:hcp_push", kwargs={"token": events_token()})


def mask(url: str) -> str:
    """``url`` with our token replaced by a placeholder, for showing and logging."""
    token = settings.PROPUSK_HCP_EVENTS_TOKEN
    return url.replace(token, MASK) if token else url


_ANY_TOKEN = re.compile(r"(/hcp/events/)[^/?#]+")


def mask_any(url: str) -> str:
    """``url`` with any token of ours in it masked: the current one, and a webhook path's
    segment (an old token, after it was changed)."""
    return _ANY_TOKEN.sub(r"\1" + MASK, mask(url))


def subscribe(client: HikCentralClient) -> str:
    """Subscribe our eventDest for SUBSCRIBED_EVENT_TYPES; returns the masked eventDest."""
    dest = event_dest()
    client.subscribe_events(SUBSCRIBED_EVENT_TYPES, dest=dest, token=events_token())
    return mask(dest)


def ours(subscriptions: list[Subscription]) -> list[Subscription]:
    token = settings.PROPUSK_HCP_EVENTS_TOKEN
    return [sub for sub in subscriptions if token and token in sub.event_dest]


def unsubscribe(client: HikCentralClient) -> list[int]:
    """Remove the event types HCP pushes to our eventDest (types routed elsewhere, e.g. to
    another product, stay); returns them."""
    types = sorted({t for sub in ours(client.view_subscriptions()) for t in sub.event_types})
    if types:
        client.unsubscribe_events(types)
    return types


@dataclass(frozen=True)
class SubscriptionCheck:
    """What ``ensure_subscribed`` found: the types HCP did not push anywhere (``missing``),
    those it pushed to another destination (``elsewhere``: type -> masked destination), and
    whether it subscribed again."""

    missing: tuple[int, ...]
    elsewhere: dict[int, str]
    resubscribed: bool

    def summary(self) -> dict[str, object]:
        return {
            "resubscribed": self.resubscribed,
            "missing": list(self.missing),
            "elsewhere": {str(t): dest for t, dest in self.elsewhere.items()},
        }


def ensure_subscribed(client: HikCentralClient) -> SubscriptionCheck:
    """View HCP's subscriptions and subscribe again (our event types, our eventDest, the
    token) when one of our types is not pushed to us: HCP wiped or restored from a backup, a
    type moved to another destination by hand, our address or token changed. Nothing is
    called when all is in place. A re-subscription is audited (``events.subscription_restored``)
    and logged with the destinations masked (never the token)."""
    from propusk.audit.services import record
    from propusk.events.models import HcpEvent

    dest = event_dest()
    held: dict[int, str] = {}
    for sub in client.view_subscriptions():
        for event_type in sub.event_types:
            held[event_type] = sub.event_dest
    missing = tuple(t for t in SUBSCRIBED_EVENT_TYPES if t not in held)
    elsewhere = {
        t: mask_any(held[t]) for t in SUBSCRIBED_EVENT_TYPES if t in held and held[t] != dest
    }
    if not missing and not elsewhere:
        return SubscriptionCheck(missing=(), elsewhere={}, resubscribed=False)
    subscribe(client)
    check = SubscriptionCheck(missing=missing, elsewhere=elsewhere, resubscribed=True)
    record(
        actor=None,
        action="events.subscription_restored",
        target=HcpEvent,
        changes={**check.summary(), "event_dest": mask(dest)},
    )
    logger.warning(
        "HCP event push: subscribed again to %s (types HCP did not push: %s; pushed elsewhere: %s)",
        mask(dest),
        ", ".join(map(str, missing)) or "none",
        ", ".join(f"{t} -> {d}" for t, d in elsewhere.items()) or "none",
    )
    return check
