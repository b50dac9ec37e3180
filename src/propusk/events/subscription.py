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

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from hikcentral import ACCESS_EVENT_TYPES, HikCentralClient, Subscription

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
