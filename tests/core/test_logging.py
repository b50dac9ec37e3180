"""Invitation tokens and ID numbers never reach the logs, whichever logger prints the path,
with DEBUG on or off: Django's request log, runserver's access log, the error mail."""

from __future__ import annotations

import io
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr
from typing import Any, NoReturn

import httpx
import pytest
from django.conf import settings
from django.core import mail
from django.core.servers.basehttp import WSGIRequestHandler
from django.db import connections
from django.test import override_settings
from django.test.testcases import LiveServerThread
from django.urls import reverse
from django.utils.log import configure_logging

from propusk.core.logging import MaskSecretsFilter, mask_secrets
from propusk.invitations import views as invitation_views
from propusk.invitations.models import InvitationKind
from propusk.invitations.services import create_invitation, revoke_invitation
from tests.factories import make_iin

TOKEN = "x58WUhyBwGdcRMvMdJpJLl9oYnV3Apoe5ExMRzTsmSE"


def test_mask_secrets_hides_the_token_and_id_numbers_only():
    line = f'"GET /invitations/i/{TOKEN}/?lang=ru HTTP/1.1" 404 17'
    assert mask_secrets(line) == '"GET /invitations/i/<token>/?lang=ru HTTP/1.1" 404 17'
    assert mask_secrets("/visits/12/") == "/visits/12/"
    iin = make_iin()
    assert mask_secrets(f"GET /admin/visitors/visitor/?q={iin}&p=2") == (
        "GET /admin/visitors/visitor/?q=<national-id>&p=2"
    )
    # Not a part of a longer number or word: timestamps, ids and hashes stay as they are.
    for text in ("1733123456789", "20301231235959", "a900101300015", "visit 42 at 10:00"):
        assert mask_secrets(text) == text


@contextmanager
def configured_logging() -> Iterator[io.StringIO]:
    """Configure logging as Django does at start (its DEFAULT_LOGGING, then settings.LOGGING)
    with stderr captured; restored afterwards."""
    output = io.StringIO()
    with redirect_stderr(output):
        configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)
    try:
        yield output
    finally:
        with redirect_stderr(sys.__stderr__):
            configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)


def _handlers() -> Iterator[tuple[str, logging.Handler]]:
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        if not isinstance(logger, logging.Logger):  # a PlaceHolder has no handlers
            continue
        for handler in logger.handlers:
            # pytest's capture, and libraries' NullHandlers (they print nothing).
            if isinstance(handler, logging.NullHandler):
                continue
            if not type(handler).__module__.startswith("_pytest"):
                yield logger.name, handler


def test_every_handler_masks_django_default_ones_included():
    with configured_logging():
        unmasked = [
            (name, type(handler).__name__)
            for name, handler in _handlers()
            if not any(isinstance(f, MaskSecretsFilter) for f in handler.filters)
        ]
        names = {name for name, _handler in _handlers()}

    assert not unmasked
    assert {"root", "django", "django.server"} <= names


@pytest.fixture
def invitation(host, guest_policy):
    return create_invitation(
        host=host,
        actor=host,
        kind=InvitationKind.SINGLE,
        access_policy=guest_policy,
        purpose="Защита диссертации",
        department=None,
    )


def _public(token: str) -> str:
    return reverse("invitations:public", args=[token])


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [True, False])
def test_request_warnings_and_errors_never_show_the_token(
    client, monkeypatch, host, invitation, debug
):
    client.raise_request_exception = False
    with override_settings(DEBUG=debug), configured_logging() as output:
        assert client.get(_public(TOKEN)).status_code == 404  # unknown link
        revoke_invitation(invitation=invitation, actor=host)
        assert client.get(_public(invitation.token)).status_code == 410  # withdrawn link

        def broken(token: str) -> NoReturn:
            raise RuntimeError(f"cannot open /invitations/i/{token}/")

        monkeypatch.setattr(invitation_views, "open_invitation_by_token", broken)
        assert client.get(_public(invitation.token)).status_code == 500

    logged = output.getvalue()
    assert "Not Found: /invitations/i/<token>/" in logged
    assert "Gone: /invitations/i/<token>/" in logged
    assert "Internal Server Error: /invitations/i/<token>/" in logged
    assert "RuntimeError: cannot open /invitations/i/<token>/" in logged  # the traceback
    assert TOKEN not in logged
    assert invitation.token not in logged


@pytest.mark.django_db
def test_the_error_mail_never_carries_the_token(client, monkeypatch, invitation):
    client.raise_request_exception = False

    def broken(token: str) -> NoReturn:
        raise RuntimeError(f"cannot open /invitations/i/{token}/")

    monkeypatch.setattr(invitation_views, "open_invitation_by_token", broken)
    with (
        override_settings(DEBUG=False, ADMINS=[("Ops", "ops@example.org")]),
        configured_logging(),
    ):
        assert client.get(_public(invitation.token)).status_code == 500

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    alternatives = getattr(message, "alternatives", [])
    html = str(alternatives[0][0]) if alternatives else ""
    for text in (message.subject, message.body, html):
        assert invitation.token not in text
    assert "/invitations/i/<token>/" in message.subject
    assert "RuntimeError" in message.body


class _RunserverThread(LiveServerThread):
    """The live server with runserver's own request handler, which writes the access log."""

    def _create_server(self, connections_override=None):
        return self.server_class(
            (self.host, self.port),
            WSGIRequestHandler,
            allow_reuse_address=False,
            connections_override=connections_override,
        )


def _without_static_files(app: Any) -> Any:
    return app


@contextmanager
def runserver() -> Iterator[str]:
    override = {
        conn.alias: conn
        for conn in connections.all()
        if conn.vendor == "sqlite" and conn.is_in_memory_db()  # type: ignore[attr-defined]
    }
    no_static_files: Any = _without_static_files
    thread = _RunserverThread("127.0.0.1", no_static_files, connections_override=override)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    try:
        yield f"http://127.0.0.1:{thread.port}"
    finally:
        thread.terminate()


# The server thread needs committed rows; serialized_rollback brings back what the flush after
# a transactional test removes (the role groups).
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("debug", [True, False])
def test_the_runserver_access_log_never_shows_the_token_or_an_id_number(host, guest_policy, debug):
    invitation = create_invitation(
        host=host,
        actor=host,
        kind=InvitationKind.SINGLE,
        access_policy=guest_policy,
        purpose="Семинар",
        department=None,
    )
    iin = make_iin()
    with override_settings(DEBUG=debug), configured_logging() as output, runserver() as url:
        assert httpx.get(url + _public(invitation.token)).status_code == 200
        assert httpx.get(url + _public(TOKEN)).status_code == 404
        # An ID number in a query string (an old bookmark of the admin's search).
        found = httpx.get(f"{url}/admin/visitors/visitor/?q={iin}")
        assert found.status_code == 302
        # The server logs each request just after sending the answer.
        deadline = time.monotonic() + 10
        while output.getvalue().count("HTTP/1.1") < 3 and time.monotonic() < deadline:
            time.sleep(0.02)

    logged = output.getvalue()
    assert '"GET /invitations/i/<token>/ HTTP/1.1" 200' in logged
    assert '"GET /invitations/i/<token>/ HTTP/1.1" 404' in logged
    assert '"GET /admin/visitors/visitor/?q=<national-id> HTTP/1.1" 302' in logged
    assert invitation.token not in logged
    assert TOKEN not in logged
    assert iin not in logged
