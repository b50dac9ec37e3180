"""Passages (one per HikCentral door event that concerns us) and incidents (what someone at
the site must look at: a refused guest, a face the turnstile did not recognise, an exit
without an entry, repeated failures at a door, a visitor still inside after the visit).

A passage is written by the handler (``propusk.passages.handler``) in the same transaction
as what the event does to the visit, so the visit's passages are the record it acts on.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from propusk.events.models import Direction, HcpEvent
from propusk.visitors.models import PrivateFileSystemStorage


# Camera pictures of passages are biometric data, like faces: outside MEDIA_URL, files 0600,
# served only by an audited view to those who may see the visitor's face.
def picture_storage() -> PrivateFileSystemStorage:
    return PrivateFileSystemStorage(location=str(settings.MEDIA_ROOT / "passages"))


def picture_upload_to(instance: Passage, filename: str) -> str:
    return f"{instance.happened_at:%Y/%m}/{secrets.token_hex(10)}.jpg"


class DenialReason(models.TextChoices):
    """Why the door refused a person (the notification's ``reason`` uses the same keys)."""

    TOO_EARLY = "too_early", _("before the visit's time")
    TOO_LATE = "too_late", _("after the visit's time")
    VISIT_ENDED = "visit_ended", _("the visit has ended")
    NO_ACCESS = "no_access", _("no access to this door")
    NOT_RECOGNISED = "not_recognised", _("face not recognised")


class PictureState(models.TextChoices):
    NONE = "none", _("no picture")
    PENDING = "pending", _("being fetched")
    STORED = "stored", _("stored")
    FAILED = "failed", _("could not be fetched")
    DELETED = "deleted", _("deleted")


class Passage(models.Model):
    """One door event about one of our visitors, or a face nobody recognised.

    ``visit`` is the visit the event was matched to (by person and time); ``visitor`` the
    person, also when no visit matched. Both empty: a face the turnstile did not recognise.
    """

    event = models.OneToOneField(
        HcpEvent, on_delete=models.PROTECT, related_name="passage", verbose_name=_("event")
    )
    visit = models.ForeignKey(
        "visits.Visit",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="passages",
        verbose_name=_("visit"),
    )
    visitor = models.ForeignKey(
        "visitors.Visitor",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="passages",
        verbose_name=_("visitor"),
    )
    happened_at = models.DateTimeField(_("happened at"))
    door_index_code = models.CharField(_("door"), max_length=64, blank=True)
    door_name = models.CharField(_("door name"), max_length=200, blank=True)
    direction = models.SmallIntegerField(
        _("direction"), choices=Direction.choices, default=Direction.UNKNOWN
    )
    granted = models.BooleanField(_("granted"))
    denial_reason = models.CharField(
        _("denial reason"), max_length=16, choices=DenialReason.choices, blank=True
    )
    picture = models.FileField(
        _("camera picture"),
        storage=picture_storage,
        upload_to=picture_upload_to,
        blank=True,
        max_length=200,
    )
    picture_state = models.CharField(
        _("picture"), max_length=8, choices=PictureState.choices, default=PictureState.NONE
    )
    picture_attempts = models.PositiveSmallIntegerField(default=0)
    picture_error = models.CharField(max_length=300, blank=True)
    # The picture's fetch schedule (tasks.fetch_pending_pictures): while pending, when the next
    # attempt may run - and while one runs, the end of the drain's lease, so that a drain that
    # died leaves it to be taken again then. Empty when there is nothing to fetch.
    picture_due_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        ordering = ["happened_at", "pk"]
        verbose_name = _("passage")
        verbose_name_plural = _("passages")
        indexes = [
            models.Index(fields=["door_index_code", "happened_at"]),
            models.Index(fields=["visit", "happened_at"]),
            models.Index(fields=["happened_at"]),
            models.Index(
                fields=["picture_due_at"],
                name="passage_picture_due",
                condition=models.Q(picture_state="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.door_name or self.door_index_code} {self.get_direction_display()}"

    @property
    def is_entry(self) -> bool:
        return self.direction != Direction.OUT

    @property
    def has_picture(self) -> bool:
        return self.picture_state == PictureState.STORED and bool(self.picture)


class IncidentKind(models.TextChoices):
    FACE_NOT_RECOGNISED = "face_not_recognised", _("Face not recognised")
    DENIED = "denied", _("Visitor refused at a door")
    EXIT_WITHOUT_ENTRY = "exit_without_entry", _("Exit without an entry")
    OVERSTAY = "overstay", _("Still inside after the visit")
    REPEATED_FAILURES = "repeated_failures", _("Repeated failures at a door")


class IncidentState(models.TextChoices):
    OPEN = "open", pgettext_lazy("incident", "Open")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    RESOLVED = "resolved", _("Resolved")


class Incident(models.Model):
    """Something staff must look at. ``key`` makes each one once: the passage it comes from,
    the visit of an overstay, the burst of failures at a door."""

    key = models.CharField(max_length=120, unique=True, editable=False)
    kind = models.CharField(_("kind"), max_length=24, choices=IncidentKind.choices)
    door_index_code = models.CharField(_("door"), max_length=64, blank=True)
    door_name = models.CharField(_("door name"), max_length=200, blank=True)
    happened_at = models.DateTimeField(_("happened at"))
    visit = models.ForeignKey(
        "visits.Visit",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="incidents",
        verbose_name=_("visit"),
    )
    passage = models.ForeignKey(
        Passage,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="incidents",
        verbose_name=_("passage"),
    )
    denial_reason = models.CharField(
        _("denial reason"), max_length=16, choices=DenialReason.choices, blank=True
    )
    # Repeated failures: how many failures the burst holds, and the last one.
    count = models.PositiveIntegerField(_("count"), default=1)
    last_seen_at = models.DateTimeField(_("last seen at"))
    state = models.CharField(
        _("state"), max_length=16, choices=IncidentState.choices, default=IncidentState.OPEN
    )
    note = models.CharField(_("note"), max_length=300, blank=True)
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("acknowledged by"),
    )
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("resolved by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["-happened_at", "-pk"]
        verbose_name = _("incident")
        verbose_name_plural = _("incidents")
        indexes = [
            models.Index(fields=["state", "happened_at"]),
            models.Index(fields=["kind", "door_index_code", "last_seen_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.door_name or self.door_index_code})"
