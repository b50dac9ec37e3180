"""The API's JSON parser: DRF's, with a body nested too deeply for Python's parser (a few
thousand ``[``) refused as a parse error (400) instead of a ``RecursionError`` (500) - the
guard the views taking JSON by hand use too (``core.jsonbody``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

from propusk.core.jsonbody import BadJSON, refusing_deep_nesting


class JSONParser(parsers.JSONParser):
    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        try:
            with refusing_deep_nesting():
                return super().parse(stream, media_type, parser_context)
        except BadJSON as exc:
            raise ParseError(str(exc)) from None
