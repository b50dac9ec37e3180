from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from propusk.access.models import AccessLevelPolicy
from propusk.accounts.models import Department


def new_invitation_token() -> str:
    return secrets.token_urlsafe(32)


class InvitationKind(models.TextChoices):
    SINGLE = "single", _("One visitor")
    GROUP = "group", _("Group")


class Invitation(models.Model):
    """A link a host sends to a visitor (or a group) to register themselves.

    A single invitation is used once. A group invitation is one link for a whole group, each
    member adding themselves, up to ``max_uses``. When the host did not fix the time, the visit
    created from the link waits in PENDING until the host or reception confirms the time.
    """

    kind = models.CharField(_("kind"), max_length=16, choices=InvitationKind.choices)
    token = models.CharField(
        max_length=64, unique=True, default=new_invitation_token, editable=False
    )
    host = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="invitations",
        verbose_name=_("host"),
    )
    department = models.ForeignKey(
        Department, on_delete=models.PROTECT, null=True, blank=True, verbose_name=_("department")
    )
    purpose = models.CharField(_("purpose"), max_length=300, blank=True)
    access_policy = models.ForeignKey(
        AccessLevelPolicy, on_delete=models.PROTECT, verbose_name=_("access policy")
    )
    planned_start = models.DateTimeField(_("planned start"), null=True, blank=True)
    planned_end = models.DateTimeField(_("planned end"), null=True, blank=True)
    group = models.OneToOneField(
        "visits.VisitGroup",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="invitation",
        verbose_name=_("visit group"),
    )
    max_uses = models.PositiveIntegerField(_("maximum registrations"), default=1)
    uses_count = models.PositiveIntegerField(_("registrations"), default=0)
    expires_at = models.DateTimeField(_("expires at"))
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} - {self.purpose or self.host}"
