"""No request body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (15 MB), files included.

Django checks that limit against a body without its files only: a multipart form's file is
streamed to a temporary file however large, before any view can look at its size - on the
public invitation page, for anyone. ``RequestSizeLimit`` is the first upload handler: a
multipart body whose Content-Length is over the limit is refused (``RequestDataTooBig``: 400,
413 in the API) before a byte of it is read. Django reads no further than Content-Length, so
that is the whole body.
"""

from __future__ import annotations

from typing import IO

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadhandler import FileUploadHandler


class RequestSizeLimit(FileUploadHandler):
    def handle_raw_input(
        self,
        input_data: IO[bytes],
        META: dict[str, str],
        content_length: int,
        boundary: str,
        encoding: str | None = None,
    ) -> None:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and content_length > limit:
            raise RequestDataTooBig(
                "Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE (files included)."
            )

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        return raw_data  # the next handler stores it

    def file_complete(self, file_size: int) -> None:
        return None
