"""The inbox of HikCentral events: every access-control event, pushed by HCP (OnEventNotify)
or read back by the polling backfill (door/events), is stored here once, by its eventId,
before anything acts on it. The passage handler (propusk.passages) processes each row."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class EventSource(models.TextChoices):
    PUSH = "push", _("Pushed by HikCentral")
    POLL = "poll", _("Read back by polling")


class EventState(models.TextChoices):
    PENDING = "pending", _("Waiting to be processed")
    DONE = "done", _("Processed")
    IGNORED = "ignored", _("Kept, nothing to do")
    FAILED = "failed", _("Failed")


class Direction(models.IntegerChoices):
    """HCP's ``checkInAndOutType`` of a door event."""

    UNKNOWN = 0, _("Unknown")
    IN = 1, _("Entry")
    OUT = 2, _("Exit")


class HcpEvent(models.Model):
    """One HCP event as received. ``event_id`` is HCP's eventId: a push and a poll of the same
    passage are one row. Personal data HCP sends with an event (the person's name, a card
    number) is not kept: the person is known by ``person_code``/``person_id``."""

    event_id = models.CharField(_("HCP event id"), max_length=128, unique=True)
    event_type = models.IntegerField(_("event type"))
    happened_at = models.DateTimeField(_("happened at"))
    door_index_code = models.CharField(_("door"), max_length=64, blank=True)
    door_name = models.CharField(_("door name"), max_length=200, blank=True)
    person_id = models.CharField(_("HCP person id"), max_length=64, blank=True)
    person_code = models.CharField(_("person code"), max_length=64, blank=True)
    direction = models.SmallIntegerField(
        _("direction"), choices=Direction.choices, default=Direction.UNKNOWN
    )
    pic_uri = models.CharField(_("picture URI"), max_length=500, blank=True)
    source = models.CharField(_("source"), max_length=8, choices=EventSource.choices)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    state = models.CharField(
        _("state"), max_length=8, choices=EventState.choices, default=EventState.PENDING
    )
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    # Processing order: events that may concern a visit first (a person code of ours, or
    # a face nobody recognised - a guest stuck at the turnstile), then the rest (staff and
    # students, most of a turnstile's traffic); oldest passage first within each.
    priority = models.PositiveSmallIntegerField(_("priority"), default=0)
    # A failed attempt's next try (exponential backoff); None: as soon as possible.
    retry_at = models.DateTimeField(_("next try at"), null=True, blank=True)
    # Set while a worker processes the event, so that no other worker takes it meanwhile; a
    # worker that died leaves it to expire (events.processing).
    leased_until = models.DateTimeField(_("leased until"), null=True, blank=True)

    class Meta:
        ordering = ["happened_at", "pk"]
        verbose_name = _("HikCentral event")
        verbose_name_plural = _("HikCentral events")
        indexes = [
            models.Index(fields=["state", "received_at"]),
            models.Index(fields=["state", "priority", "happened_at"]),
            models.Index(fields=["person_code", "happened_at"]),
            models.Index(fields=["happened_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"


class PollCursor(models.Model):
    """How far the polling backfill has read HCP's door events completely (one row per
    ``name``). Each poll re-reads an overlap before ``read_until`` (events HCP recorded late),
    and moves it forward only after reading every page up to the new end."""

    name = models.CharField(_("name"), max_length=40, unique=True)
    read_until = models.DateTimeField(_("read until"))
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    last_run_at = models.DateTimeField(_("last run at"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("event polling cursor")
        verbose_name_plural = _("event polling cursors")

    def __str__(self) -> str:
        return f"{self.name}: {self.read_until.isoformat()}"
