from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


class AccessLevelPolicy(models.Model):
    """Which HCP access levels a kind of visitor gets, and how much grace around the window.

    Every visit names one policy. The access engine grants the policy's access levels from
    ``planned_start - early_arrival_minutes`` until ``planned_end + late_leave_minutes``.
    """

    key = models.SlugField(_("key"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=200)
    hcp_access_level_ids = models.JSONField(
        _("HCP access level ids"),
        default=list,
        help_text=_('privilegeGroupId values of the HCP access levels, e.g. ["1", "3"]'),
    )
    early_arrival_minutes = models.PositiveIntegerField(
        _("early arrival grace, minutes"), default=15
    )
    late_leave_minutes = models.PositiveIntegerField(_("late leave grace, minutes"), default=15)
    single_pass_default = models.BooleanField(
        _("single pass by default"),
        default=False,
        help_text=_("Access ends at the first exit through a turnstile."),
    )
    reentry_grace_minutes = models.PositiveIntegerField(
        _("re-entry grace, minutes"),
        default=0,
        help_text=_(
            "Single-pass visits: after the first exit the visitor may come back in once "
            "within this many minutes; the visit is checked out when it ends. 0: off."
        ),
    )
    hosts_may_choose = models.BooleanField(
        _("hosts may choose it"),
        default=False,
        help_text=_(
            "Hosts may give this policy to their guests. Otherwise only reception and "
            "administrators may (e.g. a VIP policy)."
        ),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("access level policy")
        verbose_name_plural = _("access level policies")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        ids = self.hcp_access_level_ids
        if not isinstance(ids, list) or not ids:
            raise ValidationError(
                {"hcp_access_level_ids": _("Give a non-empty list of access level ids.")}
            )
        if not all(isinstance(item, str) and item.strip() for item in ids):
            raise ValidationError(
                {"hcp_access_level_ids": _("Every access level id must be a non-empty string.")}
            )


class WorkPriority(models.IntegerChoices):
    """Which pending work goes first: revocations, then grants, then syncs."""

    REVOKE = 0, _("revocation")
    GRANT = 1, _("grant")
    SYNC = 2, _("sync")


class WorkState(models.TextChoices):
    PENDING = "pending", _("pending")
    FAILED = "failed", _("failed")


class AccessWork(models.Model):
    """One HCP person whose state must be brought to the desired state.

    Written in the same transaction as the change that caused it (``access.work``), so a crash
    between the change and the reconciler loses nothing. One row per person (``person_code``):
    repeated changes coalesce, keeping the highest priority and the earliest due time; each
    request bumps ``generation``, so the reconciler removes the row only if nothing new came in
    while it worked. Keyed by the person code rather than the visitor, because a visitor row
    may be deleted (an identity merged at the desk) while its HCP person must still go.
    """

    person_code = models.CharField(_("HCP person code"), max_length=16, unique=True)
    visitor_id = models.BigIntegerField(_("visitor id"), null=True, blank=True)
    priority = models.PositiveSmallIntegerField(
        _("priority"), choices=WorkPriority.choices, default=WorkPriority.GRANT
    )
    state = models.CharField(
        _("state"), max_length=16, choices=WorkState.choices, default=WorkState.PENDING
    )
    due_at = models.DateTimeField(_("due at"))
    generation = models.PositiveIntegerField(default=1)
    reasons = models.JSONField(_("reasons"), default=list)
    # The earliest moment access should have ended among the revocations coalesced here:
    # the start of the time to revoke.
    revoke_due_at = models.DateTimeField(_("access should end at"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error_code = models.CharField(_("last error code"), max_length=64, blank=True)
    last_error_message = models.CharField(_("last error"), max_length=500, blank=True)
    # Failed with an error that may clear by itself (no organisation yet, HCP full): tried
    # again at ``due_at``, every PROPUSK_ACCESS_FAILED_RETRY_MINUTES (access/reconciler.py).
    retries_by_itself = models.BooleanField(_("retried by itself"), default=False)
    leased_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("pending access work")
        verbose_name_plural = _("pending access work")
        indexes = [models.Index(fields=["state", "priority", "due_at"])]

    def __str__(self) -> str:
        return f"{self.person_code} ({self.get_priority_display()}, {self.state})"


class AccessHold(models.Model):
    """A manual revoke: while it is active the visitor has no access, whatever their visits."""

    visitor = models.ForeignKey(
        "visitors.Visitor",
        on_delete=models.CASCADE,
        related_name="access_holds",
        verbose_name=_("visitor"),
    )
    reason = models.CharField(_("reason"), max_length=300)
    created_by = models.ForeignKey(
        "auth.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)
    released_by = models.ForeignKey(
        "auth.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("access hold")
        verbose_name_plural = _("access holds")

    def __str__(self) -> str:
        return f"hold on visitor {self.visitor_id}"


class ApplyState(models.TextChoices):
    """Whether HCP has applied a person's last change to the devices."""

    APPLIED = "applied", _("applied on devices")
    WAITING = "waiting", _("waiting for the devices")
    FAILED = "failed", _("failed on a device")
    UNKNOWN = "unknown", _("not known")


class HcpPerson(models.Model):
    """What HCP confirmed holding for one of our persons, as of the last reconcile.

    The reconciler writes it after each change HCP accepted; staff see it beside the desired
    state. ``person_id`` empty: no person in HCP (never created, or removed).
    """

    person_code = models.CharField(_("HCP person code"), max_length=16, unique=True)
    visitor_id = models.BigIntegerField(_("visitor id"), null=True, blank=True)
    person_id = models.CharField(_("HCP person id"), max_length=64, blank=True)
    begin_time = models.DateTimeField(_("valid from"), null=True, blank=True)
    end_time = models.DateTimeField(_("valid until"), null=True, blank=True)
    # Written before an addPersons call too, so a level whose answer was lost is still removed
    # on revocation: the levels HCP holds for the person, or may hold.
    access_level_ids = models.JSONField(_("access levels"), default=list)
    # The face file last sent; with ``face_rejected_reason`` set, HCP refused that one (the
    # person is in HCP without a face, and the same file is not sent again).
    face_version = models.CharField(_("face enrolled"), max_length=200, blank=True)
    face_rejected_reason = models.CharField(_("face rejected"), max_length=500, blank=True)
    apply_state = models.CharField(
        _("on devices"), max_length=16, choices=ApplyState.choices, default=ApplyState.UNKNOWN
    )
    applied_at = models.DateTimeField(_("applied at"), null=True, blank=True)
    reconciled_at = models.DateTimeField(_("reconciled at"), null=True, blank=True)
    # The reconciler's bookkeeping (access/reconciler.py). When it last asked HCP to apply this
    # person to the devices (the desired state it applied was read then), and when it last
    # asked HCP whether that is done.
    apply_requested_at = models.DateTimeField(_("applying requested at"), null=True, blank=True)
    apply_checked_at = models.DateTimeField(null=True, blank=True)
    apply_error = models.CharField(_("application error"), max_length=500, blank=True)
    # Changed in HCP, but the reapplication that carries the change to the devices failed:
    # the next reconcile asks again even if nothing else differs.
    needs_reapply = models.BooleanField(default=False)
    # Access revoked in HCP (no access level, validity ended) and the person not yet deleted:
    # the cleanup after the retention deletes it.
    revoked_at = models.DateTimeField(_("revoked in HCP at"), null=True, blank=True)
    # An add was sent for this code (set before the call): HCP may hold the person even with
    # ``person_id`` empty, so the next reconcile looks it up by personCode before adding.
    add_sent_at = models.DateTimeField(null=True, blank=True)
    # Deleted from HCP with its face after the retention (``person_id`` then empty).
    deleted_at = models.DateTimeField(_("deleted from HCP at"), null=True, blank=True)
    # personIds this code had that HCP no longer holds (deleted or made again by hand): the
    # devices keep such a person, face included, until a reapplication names it.
    stale_person_ids = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name = _("HCP person")
        verbose_name_plural = _("HCP persons")
        # Persons waiting for the devices or failed on them: the reconciler's looks, the
        # metrics and the dashboard read them by state.
        indexes = [models.Index(fields=["apply_state"], name="hcpperson_apply_state")]

    def __str__(self) -> str:
        return self.person_code
