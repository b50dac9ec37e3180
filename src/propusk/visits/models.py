from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from propusk.access.models import AccessLevelPolicy
from propusk.accounts.models import Department
from propusk.visitors.models import Visitor


class VisitKind(models.TextChoices):
    GUEST = "guest", _("Guest visit")
    STUDENT = "student", _("Student or applicant visit")
    GROUP = "group", _("Group visit")


class VisitStatus(models.TextChoices):
    PENDING = "pending", _("Awaiting confirmation")
    AWAITING = "awaiting", _("Expected")
    CHECKED_IN = "checked_in", _("Checked in")
    CHECKED_OUT = "checked_out", _("Checked out")
    CANCELLED = "cancelled", _("Cancelled")
    NO_SHOW = "no_show", _("No-show")


ACTIVE_STATUSES = frozenset({VisitStatus.AWAITING, VisitStatus.CHECKED_IN})
FINAL_STATUSES = frozenset({VisitStatus.CHECKED_OUT, VisitStatus.CANCELLED, VisitStatus.NO_SHOW})


class VisitGroup(models.Model):
    """A group visit: one host, one window, many visitors (one Visit row each)."""

    name = models.CharField(_("group name"), max_length=200)
    host = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="hosted_groups",
        verbose_name=_("host"),
    )
    department = models.ForeignKey(
        Department, on_delete=models.PROTECT, null=True, blank=True, verbose_name=_("department")
    )
    purpose = models.CharField(_("purpose"), max_length=300)
    planned_start = models.DateTimeField(_("planned start"))
    planned_end = models.DateTimeField(_("planned end"))
    access_policy = models.ForeignKey(
        AccessLevelPolicy, on_delete=models.PROTECT, verbose_name=_("access policy")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["-planned_start"]
        verbose_name = _("visit group")
        verbose_name_plural = _("visit groups")
        constraints = [
            models.CheckConstraint(
                condition=Q(planned_end__gt=F("planned_start")), name="group_window_ordered"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Visit(models.Model):
    """One visitor's visit, of any kind. Every kind has the same access fields.

    The status changes only through ``propusk.visits.services``; each change is audited and,
    in the same transaction, recorded as work for the access engine (``access.work``).
    """

    kind = models.CharField(_("kind"), max_length=16, choices=VisitKind.choices)
    status = models.CharField(
        _("status"), max_length=16, choices=VisitStatus.choices, default=VisitStatus.AWAITING
    )
    visitor = models.ForeignKey(
        Visitor, on_delete=models.PROTECT, related_name="visits", verbose_name=_("visitor")
    )
    host = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="hosted_visits",
        verbose_name=_("host"),
    )
    department = models.ForeignKey(
        Department, on_delete=models.PROTECT, null=True, blank=True, verbose_name=_("department")
    )
    purpose = models.CharField(_("purpose"), max_length=300, blank=True)
    planned_start = models.DateTimeField(_("planned start"))
    planned_end = models.DateTimeField(_("planned end"))
    group = models.ForeignKey(
        VisitGroup,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="visits",
        verbose_name=_("visit group"),
    )
    invitation = models.ForeignKey(
        "invitations.Invitation",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="visits",
        verbose_name=_("invitation"),
    )

    # Student / applicant details (kind == STUDENT).
    student_id = models.CharField(_("student ID"), max_length=32, blank=True)
    student_group = models.CharField(_("study group"), max_length=64, blank=True)
    course = models.PositiveSmallIntegerField(_("course"), null=True, blank=True)

    # Access: the same for every kind; read by the access engine.
    access_policy = models.ForeignKey(
        AccessLevelPolicy, on_delete=models.PROTECT, verbose_name=_("access policy")
    )
    single_pass = models.BooleanField(
        _("single pass"), default=False, help_text=_("Access ends at the first exit.")
    )

    # Lifecycle.
    checked_in_at = models.DateTimeField(_("checked in at"), null=True, blank=True)
    checked_out_at = models.DateTimeField(_("checked out at"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed as no-show at"), null=True, blank=True)
    cancel_reason = models.CharField(_("cancellation reason"), max_length=300, blank=True)
    # Time to revoke: when this visit stopped giving access (cancelled, checked out, over,
    # shortened to the past), and when HCP confirmed the visitor's access no longer relied on it.
    access_should_end_at = models.DateTimeField(_("access should end at"), null=True, blank=True)
    access_revoked_at = models.DateTimeField(_("access revoked in HCP at"), null=True, blank=True)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # One-time token of the form that created the visit: a double submit finds this row.
    submission_token = models.UUIDField(null=True, blank=True, unique=True, editable=False)

    class Meta:
        ordering = ["-planned_start"]
        verbose_name = _("visit")
        verbose_name_plural = _("visits")
        constraints = [
            models.CheckConstraint(
                condition=Q(planned_end__gt=F("planned_start")), name="visit_window_ordered"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "planned_end"]),
            models.Index(fields=["planned_start"]),
            models.Index(fields=["host", "planned_start"]),
            # Revocations not yet confirmed, and those confirmed lately: the metrics' and the
            # dashboard's reads (docs/metrics.md) stay bounded on a site with years of visits.
            models.Index(
                fields=["access_should_end_at"],
                condition=Q(access_revoked_at__isnull=True, access_should_end_at__isnull=False),
                name="visit_revocation_unconfirmed",
            ),
            models.Index(fields=["access_revoked_at"], name="visit_access_revoked_at"),
        ]

    def __str__(self) -> str:
        return f"{self.visitor} ({self.get_kind_display()}, {self.planned_start:%Y-%m-%d})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES
