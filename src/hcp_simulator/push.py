"""Event subscriptions and the OnEventNotify push.

One queue per destination, delivered in order, one event per POST, with the subscription's
token in a `token` header. While the receiver fails (network error or non-2xx), events stay
queued - at most `push_buffer_size` (oldest dropped first) and at most `push_buffer_seconds`
of simulator time from when they were queued (not from when they happened: a back-dated
passage is pushed like any other) - and delivery is retried with exponential backoff (1 s
doubling to 60 s, real time); `retry_now()` (control API) retries at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from hcp_simulator.config import SimulatorConfig
from hcp_simulator.events import notify_payload
from hcp_simulator.state import Event, SiteState, Subscription

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 60.0


def subscribe(
    state: SiteState, event_types: list[int], event_dest: str, token: str, pass_back: int
) -> None:
    """Route `event_types` to `event_dest`; a type has one destination at a time."""
    for sub in state.subscriptions.values():
        sub.event_types = [t for t in sub.event_types if t not in event_types]
    current = state.subscriptions.get(event_dest)
    types = sorted({*(current.event_types if current else []), *event_types})
    state.subscriptions[event_dest] = Subscription(event_dest, token, pass_back, types)
    _drop_empty(state)


def unsubscribe(state: SiteState, event_types: list[int]) -> None:
    for sub in state.subscriptions.values():
        sub.event_types = [t for t in sub.event_types if t not in event_types]
    _drop_empty(state)


def _drop_empty(state: SiteState) -> None:
    for dest in [d for d, sub in state.subscriptions.items() if not sub.event_types]:
        del state.subscriptions[dest]


def origin(url: str) -> str:
    """The scheme, host and port of a destination, for logs: its path may hold a secret (a
    receiver that takes its token in the path, as Propusk's webhook does)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/..." if parts.netloc else "<destination>"


@dataclass
class Delivery:
    event: Event
    token: str
    queued_at: datetime  # simulator time


@dataclass
class Destination:
    url: str
    queue: deque[Delivery] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    attempts: int = 0
    backing_off: bool = False
    delivered: int = 0
    dropped: int = 0
    last_error: str | None = None
    task: asyncio.Task[None] | None = None


class PushDispatcher:
    def __init__(
        self, config: SimulatorConfig, state: Callable[[], SiteState], now: Callable[[], datetime]
    ) -> None:
        self.config = config
        self._state = state
        self._now = now
        self.destinations: dict[str, Destination] = {}
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        timeout = httpx.Timeout(
            self.config.push_timeout, connect=min(2.0, self.config.push_timeout)
        )
        # Receivers commonly use self-signed certificates; HCP does not verify them either.
        self._client = httpx.AsyncClient(timeout=timeout, verify=False)  # noqa: S501

    async def stop(self) -> None:
        for dest in self.destinations.values():
            if dest.task is not None:
                dest.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await dest.task
        self.destinations.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def reset(self) -> None:
        """Forget every queue and counter (the site was reset)."""
        for dest in self.destinations.values():
            if dest.task is not None:
                dest.task.cancel()
        self.destinations.clear()

    def publish(self, event: Event) -> None:
        for sub in self._state().subscriptions.values():
            if event.event_type in sub.event_types:
                self._enqueue(sub.event_dest, Delivery(event, sub.token, self._now()))

    def _enqueue(self, url: str, delivery: Delivery) -> None:
        dest = self.destinations.get(url)
        if dest is None:
            dest = self.destinations[url] = Destination(url)
        dest.queue.append(delivery)
        while len(dest.queue) > self.config.push_buffer_size:
            dest.queue.popleft()
            dest.dropped += 1
        if dest.task is None or dest.task.done():
            dest.task = asyncio.get_running_loop().create_task(self._run(dest))
        if not dest.backing_off:
            dest.wake.set()

    def retry_now(self) -> int:
        """Retry every backed-off destination immediately; returns events still queued."""
        for dest in self.destinations.values():
            dest.backing_off = False
            dest.wake.set()
        return sum(len(dest.queue) for dest in self.destinations.values())

    def expire(self) -> None:
        cutoff = self._now() - timedelta(seconds=self.config.push_buffer_seconds)
        for dest in self.destinations.values():
            while dest.queue and dest.queue[0].queued_at < cutoff:
                dest.queue.popleft()
                dest.dropped += 1

    async def _run(self, dest: Destination) -> None:
        while True:
            self.expire()
            if not dest.queue:
                dest.wake.clear()
                await dest.wake.wait()
                continue
            delivery = dest.queue[0]
            error = await self._post(dest.url, delivery)
            if error is None:
                if dest.queue and dest.queue[0] is delivery:
                    dest.queue.popleft()
                dest.delivered += 1
                dest.attempts = 0
                dest.last_error = None
                continue
            dest.attempts += 1
            dest.last_error = error
            delay = min(MAX_BACKOFF_SECONDS, 2.0 ** (dest.attempts - 1))
            log.info("push to %s failed (%s); retry in %.0f s", origin(dest.url), error, delay)
            dest.backing_off = True
            dest.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(dest.wake.wait(), delay)
            dest.backing_off = False

    async def _post(self, url: str, delivery: Delivery) -> str | None:
        assert self._client is not None  # noqa: S101 - started in the lifespan
        payload = notify_payload(delivery.event, self.config.utc_offset, self._now())
        try:
            response = await self._client.post(url, json=payload, headers={"token": delivery.token})
        except httpx.HTTPError as exc:
            return type(exc).__name__
        if not response.is_success:
            return f"HTTP {response.status_code}"
        return None

    def status(self) -> list[dict[str, Any]]:
        return [
            {
                "eventDest": dest.url,
                "buffered": len(dest.queue),
                "bufferedEventIds": [d.event.event_id for d in dest.queue],
                "delivered": dest.delivered,
                "dropped": dest.dropped,
                "failedAttempts": dest.attempts,
                "lastError": dest.last_error,
            }
            for dest in self.destinations.values()
        ]
