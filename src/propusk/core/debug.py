"""Django's error reports never show an ID number, a face or a secret.

The report is the technical 500 page (DEBUG on) and the mail to ADMINS (DEBUG off). Django
shows in it the request's GET, POST and FILES, the local variables of every frame and the
settings, and by itself cleanses only what ``sensitive_post_parameters`` and
``sensitive_variables`` name - and only with DEBUG off - plus settings with secret-sounding
names. Here (settings.DEFAULT_EXCEPTION_REPORTER_FILTER and DEFAULT_EXCEPTION_REPORTER):

- always, whatever DEBUG says, POST fields and frame variables whose names can hold an ID
  number, a face or a secret (``PERSONAL_NAMES``), every bytes value (a face is bytes) and
  every dataclass with such a field (``VisitorData``) are replaced by stars; uploaded files
  are shown by field name only;
- settings: Django's hidden names plus the project's keys and the URLs that carry passwords;
- every cookie's value (Django stars only the session's);
- last, the rendered report (HTML and text) is masked like a log line
  (``core.logging.mask_secrets``: twelve-digit numbers, invitation tokens in paths), which
  covers what is shown by value: a query string, a ``repr``, an exception message.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import ItemsView
from types import FrameType
from typing import Any

from django.http import HttpRequest, QueryDict
from django.utils.safestring import SafeString, mark_safe
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

from propusk.core.logging import mask_secrets

# Names of fields and variables that can hold an ID number, a face or a secret.
PERSONAL_NAMES = re.compile(
    r"national_id|iin|typed|photo|face|jpeg|image|upload|"
    r"API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|COOKIE",
    flags=re.IGNORECASE,
)


class PersonalDataReporterFilter(SafeExceptionReporterFilter):
    hidden_settings = re.compile(
        r"API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|"
        r"FIELD_ENCRYPTION_KEYS|LOOKUP_HASH_KEY|HCP_APP_SECRET|BROKER_URL|LOCATION",
        flags=re.IGNORECASE,
    )

    def is_active(self, request: HttpRequest | None) -> bool:
        # Django turns its filter off with DEBUG on; a debug page on a shared screen or in a
        # screenshot must not show an ID number either.
        return True

    def get_safe_cookies(self, request: HttpRequest) -> dict[str, Any]:
        # Every value starred: Django stars the session's only, and the messages cookie can
        # carry an API token just made in the admin (shown there once).
        return dict.fromkeys(getattr(request, "COOKIES", {}), self.cleansed_substitute)

    def get_post_parameters(self, request: HttpRequest | None) -> dict[str, Any]:
        if request is None:
            return {}
        return self.get_cleansed_multivaluedict(request, request.POST)

    def get_cleansed_multivaluedict(
        self, request: HttpRequest, multivaluedict: QueryDict
    ) -> QueryDict:
        marked = getattr(request, "sensitive_post_parameters", [])
        cleansed = multivaluedict.copy()
        for name in cleansed:
            if marked == "__ALL__" or name in marked or PERSONAL_NAMES.search(name):
                cleansed[name] = self.cleansed_substitute
        return cleansed

    def get_traceback_frame_variables(
        self, request: HttpRequest | None, tb_frame: FrameType
    ) -> ItemsView[str, Any]:
        variables = super().get_traceback_frame_variables(request, tb_frame)
        return {name: self._cleanse_variable(name, value) for name, value in variables}.items()

    def _cleanse_variable(self, name: str, value: Any) -> Any:
        if PERSONAL_NAMES.search(name) or isinstance(value, bytes | bytearray | memoryview):
            return self.cleansed_substitute
        if dataclasses.is_dataclass(value) and any(
            PERSONAL_NAMES.search(field.name) for field in dataclasses.fields(value)
        ):
            return self.cleansed_substitute
        return value


class PersonalDataExceptionReporter(ExceptionReporter):
    def get_traceback_data(self) -> dict[str, Any]:
        data = super().get_traceback_data()
        if "request_FILES_items" in data:
            substitute = self.filter.cleansed_substitute
            files = data["request_FILES_items"]
            data["request_FILES_items"] = [(name, substitute) for name, _file in files]
        return data

    def get_traceback_html(self) -> SafeString:
        html = mask_secrets(super().get_traceback_html(), html=True)
        return mark_safe(html)  # noqa: S308 - Django's escaped page, with escaped placeholders

    def get_traceback_text(self) -> SafeString:
        # Rendered from a template (autoescape off), as Django does; mail and text/plain only.
        return mark_safe(mask_secrets(super().get_traceback_text()))  # noqa: S308
