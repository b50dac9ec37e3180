"""Admin changelists refuse dates out of range in their query string with a message.

A date hierarchy or a date filter takes its dates from the address (``?created_at__year=9999
&created_at__month=12&created_at__day=31``, ``?created_at__gte=0001-01-01``). Django refuses
malformed ones but not those whose next day or year, or whose UTC time, does not exist: that
was an ``OverflowError`` (or a ``ValueError``) and a 500. Here it clears the filter and says
why.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.translation import gettext as _


class _DateOutOfRange(Exception):
    pass


class DateRangeSafeAdminMixin(admin.ModelAdmin):
    def get_changelist_instance(self, request: HttpRequest) -> ChangeList:
        # Building the changelist reads the filters and counts the rows: where a date overflows
        # (Django turns the other errors of a lookup into IncorrectLookupParameters here).
        try:
            return super().get_changelist_instance(request)
        except (OverflowError, ValueError) as exc:
            raise _DateOutOfRange from exc

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        try:
            return super().changelist_view(request, extra_context)
        except _DateOutOfRange:
            messages.error(
                request, _("A date in the filter is out of range: the filter was cleared.")
            )
            return HttpResponseRedirect(request.path)
