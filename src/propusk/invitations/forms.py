"""The staff form that creates an invitation. It parses input; the service decides."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.models import User
from django.utils.translation import gettext_lazy as _

from propusk.access.models import AccessLevelPolicy
from propusk.access.selectors import choosable_policies
from propusk.accounts.models import Department
from propusk.core.text import clean_visible_text
from propusk.invitations.models import InvitationKind
from propusk.invitations.services import MAX_GROUP_USES
from propusk.visits.forms import HostChoiceField, SiteDateTimeField
from propusk.visits.selectors import eligible_hosts


class InvitationForm(forms.Form):
    """``fixed_host`` set (a host inviting their own guests) removes the host choice."""

    kind = forms.ChoiceField(
        label=_("Who is invited"),
        choices=InvitationKind.choices,
        initial=InvitationKind.SINGLE,
        widget=forms.RadioSelect,
    )
    host = HostChoiceField(label=_("Host"), queryset=User.objects.none())
    purpose = forms.CharField(
        label=_("Purpose of the visit"),
        max_length=300,
        help_text=_("The visitor sees it on the invitation page."),
    )
    access_policy = forms.ModelChoiceField(
        label=_("Access policy"), queryset=AccessLevelPolicy.objects.none()
    )
    department = forms.ModelChoiceField(
        label=_("Department"),
        queryset=Department.objects.none(),
        required=False,
        empty_label=_("The host's department"),
    )
    planned_start = SiteDateTimeField(label=_("Visit starts"), required=False)
    planned_end = SiteDateTimeField(label=_("Visit ends"), required=False)
    group_name = forms.CharField(
        label=_("Group name"),
        max_length=200,
        required=False,
        help_text=_("For a group; the purpose is used if empty."),
    )
    max_uses = forms.IntegerField(
        label=_("Maximum registrations"),
        min_value=1,
        max_value=MAX_GROUP_USES,
        initial=1,
        help_text=_("For a group: how many people may register with the link."),
    )
    expires_at = SiteDateTimeField(
        label=_("Link expires"),
        required=False,
        help_text=_("Leave empty for the default lifetime of a link."),
    )

    def __init__(
        self, *args: Any, chooser: User, fixed_host: User | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fixed_host = fixed_host
        if fixed_host is not None:
            del self.fields["host"]
        else:
            self.fields["host"].queryset = eligible_hosts()  # type: ignore[attr-defined]
        # Only the policies this user may give (create_invitation checks it again).
        policies = choosable_policies(chooser)
        self.fields["access_policy"].queryset = policies  # type: ignore[attr-defined]
        guest = policies.filter(key="guest").first()
        if guest is not None:
            self.fields["access_policy"].initial = guest.pk
        self.fields["department"].queryset = Department.objects.filter(  # type: ignore[attr-defined]
            is_active=True
        )
        self.fields["planned_start"].help_text = _(
            "For one visitor you may leave the time empty: the visitor registers, and you "
            "confirm the time later. A group needs the time."
        )

    # The visitor reads the purpose on the invitation page, and staff the group's name in
    # every list: no invisible or direction-changing characters (core.text).
    def clean_purpose(self) -> str:
        return clean_visible_text(self.cleaned_data["purpose"])

    def clean_group_name(self) -> str:
        return clean_visible_text(self.cleaned_data["group_name"])

    def chosen_host(self) -> User:
        if self.fixed_host is not None:
            return self.fixed_host
        host: User = self.cleaned_data["host"]
        return host
