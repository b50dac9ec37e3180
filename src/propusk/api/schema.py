"""What drf-spectacular needs to describe the API's own authentication."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "propusk.api.authentication.TokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token from an administrator: Authorization: Bearer pk_...",
        }


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "example": "invalid"},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "description": "Input errors by (dotted) field name.",
                    "additionalProperties": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "code": {"type": "string", "example": "no_face"},
                                "message": {"type": "string"},
                            },
                        },
                    },
                },
                "retry_after": {"type": "integer", "description": "429 only: seconds."},
            },
        }
    },
}

_ERRORS = {
    "400": "Invalid input (`fields`)",
    "401": "No token, or an unknown, revoked or expired one",
    "403": "The user's roles do not allow it (the reason in `message`)",
    "404": "Not found, or not visible to this user",
    "429": "Too many requests (`Retry-After`)",
}


def add_error_responses(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """Every operation may answer the API's one error shape (docs/api.md#errors)."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for code, description in _ERRORS.items():
                responses.setdefault(code, {"description": description, "content": reference})
    return result
