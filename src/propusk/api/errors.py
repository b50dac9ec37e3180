"""One JSON shape for every error of the API::

    {"error": {"code": "invalid", "message": "Check the data entered.", "fields": {
        "visitor.photo": [{"code": "no_face", "message": "..."}]}}}

``fields`` is there for input errors only (dotted names for nested fields); their ``message``
is then a general sentence and each field's own errors are in ``fields``. Messages are in
the language of the request (``Accept-Language``: Russian or English, as the pages).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from propusk.visits.services import VisitTransitionError

Fields = dict[str, list[dict[str, str]]]


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


def error_body(code: str, message: str, fields: Fields | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {"error": body}


def django_fields(error: DjangoValidationError, prefix: str = "") -> Fields:
    """A Django ``ValidationError`` keyed by field (a form's, a service's) as ``fields``."""
    fields: Fields = {}
    if hasattr(error, "error_dict"):
        for name, errors in error.error_dict.items():
            key = prefix + name if name != "__all__" else (prefix.rstrip(".") or "non_field")
            for item in errors:
                for message in item.messages:
                    fields.setdefault(key, []).append(
                        {"code": str(item.code or "invalid"), "message": str(message)}
                    )
    else:
        key = prefix.rstrip(".") or "non_field"
        for item in error.error_list:
            for message in item.messages:
                fields.setdefault(key, []).append(
                    {"code": str(item.code or "invalid"), "message": str(message)}
                )
    return fields


def _drf_fields(detail: Any, prefix: str = "") -> Fields:
    fields: Fields = {}
    if isinstance(detail, dict):
        for name, value in detail.items():
            key = "non_field" if name in ("non_field_errors", "__all__") and not prefix else name
            fields.update(_drf_fields(value, f"{prefix}{key}." if key else prefix))
    elif isinstance(detail, list):
        for item in detail:
            if isinstance(item, dict | list):
                fields.update(_drf_fields(item, prefix))
            else:
                key = prefix.rstrip(".") or "non_field"
                code = getattr(item, "code", None) or "invalid"
                fields.setdefault(key, []).append({"code": str(code), "message": str(item)})
    else:
        key = prefix.rstrip(".") or "non_field"
        code = getattr(detail, "code", None) or "invalid"
        fields.setdefault(key, []).append({"code": str(code), "message": str(detail)})
    return fields


def _input_error(fields: Fields) -> dict[str, Any]:
    """400 for input with errors: one general sentence; what is wrong with which field is in
    ``fields`` beside it (repeating the first field's message would read as the whole story,
    e.g. "This field is required." with no field named)."""
    return error_body("invalid", _("Check the data entered."), fields)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, each answer reshaped into ``{"error": ...}``; a service's refusal
    (``ValidationError``, ``PermissionDenied``) becomes 400/409 or 403 with its message."""
    if isinstance(exc, VisitTransitionError):
        return Response(
            error_body(str(exc.code or "invalid_transition"), " ".join(exc.messages)),
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, DjangoValidationError):
        fields = django_fields(exc)
        if list(fields) == ["non_field"]:
            first = fields["non_field"][0]
            return Response(error_body(first["code"], first["message"]), status=400)
        return Response(_input_error(fields), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, RequestDataTooBig):
        # Over DATA_UPLOAD_MAX_MEMORY_SIZE (the whole body, files included: core.uploads).
        megabytes = f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE / (1024 * 1024):.3g}"
        return Response(
            error_body(
                "too_large", _("The request is too large (at most %(mb)s MB).") % {"mb": megabytes}
            ),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, PermissionDenied) and not str(exc):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = _drf_fields(exc.detail)
        response.data = _input_error(fields)
        return response
    if isinstance(exc, Http404):
        response.data = error_body("not_found", _("Not found."))
        return response
    if isinstance(exc, PermissionDenied):  # Django's, with the service's sentence
        response.data = error_body("permission_denied", str(exc))
        return response
    if isinstance(exc, exceptions.APIException):
        detail = exc.detail
        message = str(detail) if not isinstance(detail, dict | list) else _("Request refused.")
        code = exc.get_codes()
        response.data = error_body(code if isinstance(code, str) else exc.default_code, message)
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            response.data["error"]["retry_after"] = int(exc.wait)
        return response
    return response


def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Any other address under /api/: 404 in the same shape."""
    return JsonResponse(error_body("not_found", _("Not found.")), status=404)


API_PREFIX = "/api/"


def server_error(request: HttpRequest) -> HttpResponse:
    """The site's ``handler500`` (urls.py): an unexpected error under /api/ in the API's shape,
    elsewhere the 500 page. Django has logged it (and mailed ADMINS) before calling this."""
    if request.path.startswith(API_PREFIX):
        message = _(
            "Something went wrong on our side. Please try again in a minute; if it happens "
            "again, tell the administrator."
        )
        return JsonResponse(error_body("server_error", message), status=500)
    return defaults.server_error(request)
