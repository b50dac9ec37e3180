"""Forms of the staff pages. They parse and check input; the services decide and write."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from propusk.access.models import AccessLevelPolicy
from propusk.access.selectors import choosable_policies
from propusk.accounts.models import Department
from propusk.core.time import now as current_time
from propusk.visitors.national_id import FORMAT_KZ_IIN
from propusk.visits.models import VisitKind, VisitStatus
from propusk.visits.selectors import eligible_hosts, filterable_days
from propusk.visits.services import MAX_COURSE, validate_window

DATETIME_LOCAL_FORMAT = "%Y-%m-%dT%H:%M"
# datetime-local sends the first; the others are what people type where the browser shows a
# plain text box instead.
DATETIME_INPUT_FORMATS = (
    DATETIME_LOCAL_FORMAT,
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%d.%m.%Y %H:%M",
)


class SiteDateTimeField(forms.Field):
    """A ``datetime-local`` input read as wall-clock time in the site's time zone.

    Only the formats above are accepted (no offsets: the site's zone is the only one), and a
    wall-clock time that does not exist or is ambiguous there (a DST change) is refused.
    """

    widget = forms.DateTimeInput(format=DATETIME_LOCAL_FORMAT, attrs={"type": "datetime-local"})
    default_error_messages = {
        "invalid": _("Enter a date and time, e.g. 2030-03-12 14:30."),
        "nonexistent": _("This time does not exist or is ambiguous in the site's time zone."),
    }

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, datetime) and timezone.is_aware(value):
            local = timezone.localtime(value, timezone.get_default_timezone())
            return local.replace(tzinfo=None)
        return value

    def to_python(self, value: Any) -> datetime | None:
        if value in self.empty_values:
            return None
        if isinstance(value, datetime):
            if timezone.is_aware(value):
                return value
            naive: datetime | None = value
        else:
            naive = _parse_local(str(value).strip())
        if naive is None:
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        zone = timezone.get_default_timezone()
        earlier, later = naive.replace(tzinfo=zone, fold=0), naive.replace(tzinfo=zone, fold=1)
        if earlier.utcoffset() != later.utcoffset():
            raise ValidationError(self.error_messages["nonexistent"], code="nonexistent")
        return earlier


def _parse_local(text: str) -> datetime | None:
    for fmt in DATETIME_INPUT_FORMATS:
        try:
            return datetime.strptime(text, fmt)  # noqa: DTZ007 - made aware by the caller
        except ValueError:
            continue
    return None


def add_service_error(form: forms.Form, error: ValidationError) -> None:
    """Show a service's ``ValidationError`` on the matching fields (else above the form)."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


class HostChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: models.Model) -> str:
        assert isinstance(obj, User)  # noqa: S101 - the queryset holds users
        name = obj.get_full_name() or obj.get_username()
        profile = getattr(obj, "profile", None)
        department = profile.department if profile is not None else None
        return f"{name} ({department})" if department is not None else name


class RegistrationMode(models.TextChoices):
    NOW = "now", _("Now: the visitor is here")
    LATER = "later", _("Later: plan the time")


DURATION_CHOICES = [
    (30, _("30 minutes")),
    (60, _("1 hour")),
    (120, _("2 hours")),
    (180, _("3 hours")),
    (240, _("4 hours")),
    (480, _("8 hours")),
]

SINGLE_PASS_CHOICES = [
    ("", _("As the access policy says")),
    ("yes", _("Yes: access ends at the first exit")),
    ("no", _("No: the visitor may go out and come back")),
]


class RegisterVisitForm(forms.Form):
    """The visit part of the registration page (the visitor part is ``VisitorForm``).

    ``fixed_host`` set (a host registering their own guest) removes the host choice.
    """

    submission_token = forms.UUIDField(widget=forms.HiddenInput)
    mode = forms.ChoiceField(
        label=_("When"), choices=RegistrationMode.choices, widget=forms.RadioSelect
    )
    kind = forms.ChoiceField(
        label=_("Kind of visit"),
        choices=[
            (VisitKind.GUEST.value, VisitKind.GUEST.label),
            (VisitKind.STUDENT.value, VisitKind.STUDENT.label),
        ],
        initial=VisitKind.GUEST.value,
        widget=forms.RadioSelect,
    )
    duration = forms.TypedChoiceField(
        label=_("Duration"),
        choices=DURATION_CHOICES,
        coerce=int,
        initial=60,
        required=False,
        help_text=_("For a visit that starts now, unless you give the end time below."),
    )
    planned_start = SiteDateTimeField(label=_("Start"), required=False)
    planned_end = SiteDateTimeField(label=_("End"), required=False)
    host = HostChoiceField(
        label=_("Host"),
        queryset=User.objects.none(),
        error_messages={"invalid_choice": _("Choose a host from the list.")},
    )
    department = forms.ModelChoiceField(
        label=_("Department"),
        queryset=Department.objects.filter(is_active=True),
        required=False,
        empty_label=_("The host's department"),
    )
    purpose = forms.CharField(label=_("Purpose"), max_length=300, required=False)
    access_policy = forms.ModelChoiceField(
        label=_("Access policy"),
        queryset=AccessLevelPolicy.objects.filter(is_active=True),
        required=False,
        empty_label=_("By the kind of visit"),
    )
    single_pass = forms.TypedChoiceField(
        label=_("Single pass"),
        choices=SINGLE_PASS_CHOICES,
        coerce=lambda value: value == "yes",
        empty_value=None,
        required=False,
    )
    student_id = forms.CharField(label=_("Student ID"), max_length=32, required=False)
    student_group = forms.CharField(label=_("Study group"), max_length=64, required=False)
    course = forms.IntegerField(
        label=_("Course"), min_value=1, max_value=MAX_COURSE, required=False
    )

    def __init__(
        self,
        *args: Any,
        fixed_host: User | None = None,
        default_mode: RegistrationMode = RegistrationMode.LATER,
        chooser: User | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("initial", {"submission_token": uuid.uuid4(), "mode": default_mode.value})
        super().__init__(*args, **kwargs)
        self.fixed_host = fixed_host
        if chooser is not None:
            # Only the policies this user may give (the services check it again).
            self.fields["access_policy"].queryset = choosable_policies(chooser)  # type: ignore[attr-defined]
        if fixed_host is not None:
            del self.fields["host"]
        else:
            self.fields["host"].queryset = eligible_hosts()  # type: ignore[attr-defined]
            # Typing a name finds the host on the server (static/propusk/host-search.js);
            # without script the plain list stays.
            self.fields["host"].widget.attrs.update(
                {
                    "data-host-search": reverse("visits:host_search"),
                    "data-placeholder": _("Type a name or a department"),
                }
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        moment = current_time()
        start, end = data.get("planned_start"), data.get("planned_end")
        if data.get("mode") == RegistrationMode.NOW:
            start = moment
            if end is None and "planned_end" not in self.errors:
                end = moment + timedelta(minutes=data.get("duration") or 60)
            data["planned_start"], data["planned_end"] = None, end
        else:
            for name, value in (("planned_start", start), ("planned_end", end)):
                if value is None and name not in self.errors:
                    self.add_error(name, _("Give the start and the end of a planned visit."))
        if start is not None and end is not None:
            try:
                validate_window(planned_start=start, planned_end=end, now=moment)
            except ValidationError as exc:
                add_service_error(self, exc)
        kind = data.get("kind")
        if kind != VisitKind.STUDENT:
            # The student block is on the page for every kind; it only counts for students.
            data["student_id"], data["student_group"], data["course"] = "", "", None
        if data.get("access_policy") is None and kind:
            choosable = self.fields["access_policy"].queryset  # type: ignore[attr-defined]
            policy = choosable.filter(key=kind).first()
            if policy is None:
                self.add_error(
                    "access_policy",
                    _("There is no default access policy for this kind of visit: choose one."),
                )
            data["access_policy"] = policy
        return data

    def chosen_host(self) -> User:
        return self.fixed_host if self.fixed_host is not None else self.cleaned_data["host"]

    @classmethod
    def as_typed(cls, data: Mapping[str, Any], **kwargs: Any) -> RegisterVisitForm:
        """An unbound form showing what was typed, without errors (the page after a look-up)."""
        return cls(
            initial=_typed_initial(cls, data, default_mode=kwargs.get("default_mode")), **kwargs
        )


class GroupMemberForm(forms.Form):
    """The visit part of registering a member of a group at the desk.

    Everything else (host, window, department, purpose, access policy) is the group's, shown
    read-only on the page; the visitor part is ``VisitorForm``.
    """

    submission_token = forms.UUIDField(widget=forms.HiddenInput)
    single_pass = forms.TypedChoiceField(
        label=_("Single pass"),
        choices=SINGLE_PASS_CHOICES,
        coerce=lambda value: value == "yes",
        empty_value=None,
        required=False,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"submission_token": uuid.uuid4()})
        super().__init__(*args, **kwargs)

    @classmethod
    def as_typed(cls, data: Mapping[str, Any]) -> GroupMemberForm:
        return cls(initial=_typed_initial(cls, data))


def _typed_initial(
    form_class: type[forms.Form],
    data: Mapping[str, Any],
    *,
    default_mode: RegistrationMode | None = None,
) -> dict[str, Any]:
    """What was typed into a form, as the initial values of an unbound copy of it."""
    initial = {name: data[name] for name in form_class.base_fields if name in data}
    try:
        initial["submission_token"] = uuid.UUID(str(initial.get("submission_token", "")))
    except ValueError:
        initial["submission_token"] = uuid.uuid4()
    if "mode" in form_class.base_fields and "mode" not in initial:
        initial["mode"] = (default_mode or RegistrationMode.LATER).value
    return initial


class WindowForm(forms.Form):
    """New start and end of a visit (change of time, or confirmation of a pending one)."""

    planned_start = SiteDateTimeField(label=_("Start"), required=False)
    planned_end = SiteDateTimeField(label=_("End"))

    def __init__(self, *args: Any, start_locked: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.start_locked = start_locked
        if start_locked:
            self.fields["planned_start"].disabled = True
            self.fields["planned_start"].help_text = _(
                "The visitor is inside: only the end can change."
            )
        else:
            self.fields["planned_start"].required = True


class IdentityDecision(models.TextChoices):
    SAME_KEEP_STORED = "same_keep", _("The same person: keep the photo and details on file")
    SAME_TAKE_SUBMITTED = "same_take", _("The same person: take the new photo and details instead")
    DIFFERENT = "different", _("Not this person: the ID number is not theirs")


class IdentityDecisionForm(forms.Form):
    decision = forms.ChoiceField(
        label=_("The identity document shows"),
        choices=IdentityDecision.choices,
        widget=forms.RadioSelect,
    )


class CancelForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=300, required=False)


class VisitFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"),
        choices=[("", _("Any status")), *VisitStatus.choices],
        required=False,
    )
    day = forms.DateField(
        label=_("Date"),
        required=False,
        widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}),
    )
    q = forms.CharField(
        label=_("Name or phone"),
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"type": "search", "autocomplete": "off"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        earliest, latest = filterable_days()
        self.fields["day"].widget.attrs.update(min=earliest.isoformat(), max=latest.isoformat())

    def clean_day(self) -> date | None:
        day: date | None = self.cleaned_data["day"]
        earliest, latest = filterable_days()
        if day is not None and not earliest <= day <= latest:
            raise ValidationError(
                _("Choose a date between %(earliest)s and %(latest)s."),
                code="out_of_range",
                params={"earliest": earliest.isoformat(), "latest": latest.isoformat()},
            )
        return day


class TodaySearchForm(forms.Form):
    """The search on "today": the visitor's name or phone (a GET: no ID number here)."""

    q = forms.CharField(
        label=_("Name or phone"),
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"type": "search", "autocomplete": "off"}),
    )


class IdSearchForm(forms.Form):
    """Visits of the visitor with an ID number: a POST (``visits.views.search_by_id``), so the
    number is never in a URL; ``on`` says which page answers."""

    ON_TODAY = "today"
    ON_LIST = "list"

    national_id = forms.CharField(
        label=_("ID number"),
        max_length=64,
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "spellcheck": "false", "inputmode": "numeric"}
        ),
    )
    on = forms.ChoiceField(
        choices=[(ON_TODAY, ON_TODAY), (ON_LIST, ON_LIST)],
        widget=forms.HiddenInput,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Named as on the registration form, so the desk reads one word for one number
        # ("ИИН" there, and in the errors this search gives).
        if settings.NATIONAL_ID_FORMAT == FORMAT_KZ_IIN:
            self.fields["national_id"].label = _("National ID number (IIN)")
        else:
            self.fields["national_id"].label = _("ID document number")
