from __future__ import annotations

from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import User
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from propusk.accounts.forms import AdminSignInForm
from propusk.accounts.models import Department, EmployeeProfile
from propusk.accounts.roles import roles_of
from propusk.audit.admin_audit import AuditedAdminMixin


@admin.register(Department)
class DepartmentAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "is_active", "employee_count")
    list_filter = ("is_active",)
    search_fields = ("name",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Department]:
        return super().get_queryset(request).annotate(employee_total=Count("employees"))

    @admin.display(description=_("employees"), ordering="employee_total")
    def employee_count(self, obj: Department) -> int:
        return getattr(obj, "employee_total", 0)


class EmployeeProfileInline(admin.StackedInline):
    model = EmployeeProfile
    can_delete = False
    extra = 0
    max_num = 1
    autocomplete_fields = ("department",)
    verbose_name_plural = _("employee profile")


admin.site.unregister(User)
# The admin's sign-in is throttled like the site's (propusk.accounts.signin).
admin.site.login_form = AdminSignInForm


@admin.register(AccessAttempt)
class SignInFailureAdmin(AuditedAdminMixin, AccessAttemptAdmin):
    """django-axes' counters of failed sign-ins, one row per username, address and browser.
    Deleting the rows of an account or an address unlocks it (written to the audit log)."""


@admin.register(User)
class UserAdmin(AuditedAdminMixin, DjangoUserAdmin):
    """Django's user admin plus the employee profile; roles are the groups of the same name."""

    inlines = (EmployeeProfileInline,)
    list_display = (
        "username",
        "last_name",
        "first_name",
        "email",
        "roles",
        "department",
        "is_active",
        "is_staff",
    )
    list_filter = ("groups", "is_active", "is_staff", "is_superuser", "profile__department")
    search_fields = ("username", "first_name", "last_name", "email")
    list_select_related = ("profile__department",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description=_("roles"))
    def roles(self, obj: User) -> str:
        return ", ".join(sorted(role.label for role in roles_of(obj))) or "-"

    @admin.display(description=_("department"), ordering="profile__department__name")
    def department(self, obj: User) -> str:
        profile = getattr(obj, "profile", None)
        if profile is None or profile.department is None:
            return "-"
        return profile.department.name
