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
