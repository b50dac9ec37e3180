"""The webhook as the servers serve it: propusk.wsgi.application answers /hcp/events/ before
Django's middleware (events.webhook.PushFastPath). The same answers as the URLconf's view
(tests/events/test_webhook.py), none of the staff middleware's effects (no session, no
cookie, no Vary, no language), every other path still Django's. Transactional: the fast
path checks the database connection after each push as Django does after a request, which a
test wrapped in a transaction would not let it."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Iterator
from socketserver import ThreadingMixIn
from typing import Any
from unittest import mock
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import pytest
from django.db import OperationalError, connection

from hcp_simulator.testing import SimulatorHandle
from propusk.core.proxy import TrustedProxies
from propusk.events import services
from propusk.events.models import EventSource, HcpEvent
from propusk.events.subscription import subscribe
from propusk.events.webhook import PushFastPath
from propusk.integrations.hikcentral.factory import build_client
from tests.events.conftest import TOKEN, WEBHOOK, hcp_event, push_body

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _application() -> Any:
    from propusk.wsgi import application

    return application


def _call(
    app: Any,
    path: str = WEBHOOK,
    *,
    method: str = "POST",
    body: bytes = b"",
    content_length: str | None = None,
    remote_addr: str = "127.0.0.1",
    terminated: bool = False,
    **extra: str,
) -> tuple[int, dict[str, str], bytes]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "testserver",
        "REMOTE_ADDR": remote_addr,
        "CONTENT_TYPE": "application/json",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.url_scheme": "http",
        "wsgi.input_terminated": terminated,
        **extra,
    }
    length = str(len(body)) if content_length is None else content_length
    if length != "absent":
        environ["CONTENT_LENGTH"] = length
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], *_: Any) -> None:
        seen["status"] = int(status.split(maxsplit=1)[0])
        seen["headers"] = dict(headers)

    chunks = app(environ, start_response)
    try:
        content = b"".join(chunks)
    finally:
        if hasattr(chunks, "close"):
            chunks.close()
    return seen["status"], seen["headers"], content


def test_propusk_wsgi_serves_the_webhook_through_the_fast_path() -> None:
    app = _application()
    # The trusted-proxy wrapper (propusk.core.proxy) comes first, then the fast path.
    assert isinstance(app, TrustedProxies)
    assert isinstance(app.app, PushFastPath)


def test_a_push_is_stored_and_answered_without_the_staff_middleware(events_settings: Any) -> None:
    django_app = mock.Mock(side_effect=AssertionError("Django's handler must not be called"))
    app = PushFastPath(django_app)
    body = push_body(hcp_event(event_id="ev-fast", person_name="Ерлан Сапаров"))

    status, headers, content = _call(app, body=body, HTTP_COOKIE="sessionid=abc; csrftoken=x")

    assert status == 200
    assert json.loads(content) == {"code": "0", "msg": "Success"}
    event = HcpEvent.objects.get(event_id="ev-fast")
    assert event.source == EventSource.PUSH
    assert event.person_code == "PV7Q2K9D"
    django_app.assert_not_called()
    # What the staff middleware would have added, deliberately absent: HCP is not a browser.
    assert "Set-Cookie" not in headers  # sessions, CSRF
    assert "Vary" not in headers  # sessions, locale
    assert "Content-Language" not in headers  # locale
    assert "X-Frame-Options" not in headers  # clickjacking (a JSON answer)
    # What is kept on purpose.
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Type"] == "application/json"


def test_the_same_event_twice_is_one_row(events_settings: Any) -> None:
    app = _application()
    body = push_body(hcp_event(event_id="ev-twice"))
    assert _call(app, body=body)[0] == 200
    assert _call(app, body=body)[0] == 200
    assert HcpEvent.objects.filter(event_id="ev-twice").count() == 1


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/hcp/events/wrong-token-wrong-token-wrong/", 403),
        ("/hcp/events/", 401),
        (f"/hcp/events/{TOKEN[:-1]}/", 403),
    ],
)
def test_a_wrong_or_missing_token_is_refused_and_logged_without_it(
    events_settings: Any, caplog: pytest.LogCaptureFixture, path: str, status: int
) -> None:
    with caplog.at_level(logging.INFO):
        answer = _call(_application(), path, body=push_body(hcp_event()))
    assert answer[0] == status
    assert not HcpEvent.objects.exists()
    assert "refused" in caplog.text
    assert "wrong-token" not in caplog.text
    assert TOKEN not in caplog.text


def test_no_token_configured_refuses_every_push(events_settings: Any) -> None:
    events_settings.PROPUSK_HCP_EVENTS_TOKEN = ""
    assert _call(_application(), body=push_body(hcp_event()))[0] == 403
    assert not HcpEvent.objects.exists()


def test_an_address_outside_the_allow_list_is_refused(events_settings: Any) -> None:
    events_settings.PROPUSK_HCP_EVENTS_ALLOWED_IPS = ["10.20.0.0/16"]
    app = _application()
    assert _call(app, body=push_body(hcp_event()), remote_addr="192.0.2.7")[0] == 403
    assert not HcpEvent.objects.exists()
    assert _call(app, body=push_body(hcp_event()), remote_addr="10.20.3.4")[0] == 200
    assert HcpEvent.objects.count() == 1


def test_other_methods_get_405_with_allow(events_settings: Any) -> None:
    for method in ("GET", "PUT", "DELETE"):
        status, headers, _ = _call(_application(), method=method)
        assert (status, headers["Allow"]) == (405, "POST")
    assert not HcpEvent.objects.exists()


def test_a_huge_body_is_refused_declared_or_read(events_settings: Any) -> None:
    events_settings.PROPUSK_HCP_EVENTS_MAX_BODY_BYTES = 4096
    app = _application()
    huge = push_body(hcp_event(padding="x" * 5000))
    assert _call(app, body=huge)[0] == 413  # declared
    # Not declared (chunked), the server ending the stream: read no further than the limit.
    assert _call(app, body=huge, content_length="absent", terminated=True)[0] == 413
    # Declaring less than it sends: only what it declared is read, which is no push.
    assert _call(app, body=huge, content_length="100")[0] == 400
    assert _call(app, body=huge, content_length="many")[0] == 400
    assert not HcpEvent.objects.exists()


def test_bad_json_and_bad_events_are_refused_naming_the_field(events_settings: Any) -> None:
    app = _application()
    assert _call(app, body=b"{not json")[0] == 400
    no_id = hcp_event()
    del no_id["eventId"]
    status, _, content = _call(app, body=push_body(hcp_event(event_id="fine"), no_id))
    assert status == 400
    assert "eventId" in json.loads(content)["msg"]
    assert _call(app, body=push_body(hcp_event(event_id="x" * 129)))[0] == 400
    assert not HcpEvent.objects.exists()  # the good event of the bad push is not stored


def test_a_database_failure_answers_500_and_the_next_push_is_stored(
    events_settings: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    app = _application()
    real = services._insert_new

    def broken(*args: Any, **kwargs: Any) -> Any:
        connection.errors_occurred = True  # as Django marks a connection after a DB error
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(services, "_insert_new", broken)
    with caplog.at_level(logging.ERROR):
        assert _call(app, body=push_body(hcp_event(event_id="ev-lost")))[0] == 500
    assert "answered 500" in caplog.text
    assert connection.connection is None  # the spoilt connection was closed

    monkeypatch.setattr(services, "_insert_new", real)
    assert _call(app, body=push_body(hcp_event(event_id="ev-lost")))[0] == 200  # HCP again
    assert HcpEvent.objects.filter(event_id="ev-lost").count() == 1


def test_every_other_path_is_left_to_django(events_settings: Any) -> None:
    django_app = mock.Mock(return_value=[b"django"])
    app = PushFastPath(django_app)
    for path in ("/login/", "/hcp/events", f"/hcp/events/{TOKEN}", f"/hcp/events/{TOKEN}/x/"):
        assert b"".join(app({"PATH_INFO": path}, mock.Mock())) == b"django"
    assert django_app.call_count == 4


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # the access log would print the token


@pytest.fixture
def served(hcp_settings: Any) -> Iterator[str]:
    """propusk.wsgi.application under a real HTTP server (wsgiref, threads)."""
    server = make_server(
        "127.0.0.1", 0, _application(), server_class=_ThreadingServer, handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    hcp_settings.PROPUSK_HCP_EVENTS_URL = url
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.simulator
def test_the_simulator_pushes_through_the_fast_path_over_http(
    site: SimulatorHandle, served: str
) -> None:
    with build_client() as client:
        subscribe(client)
    event_id = site.control.passage("2", unknown_face=True).event_id

    started = time.monotonic()
    while time.monotonic() - started < 15.0:
        if HcpEvent.objects.filter(event_id=event_id).exists():
            break
        time.sleep(0.05)
    event = HcpEvent.objects.get(event_id=event_id)
    assert (event.source, event.door_index_code, event.event_type) == (
        EventSource.PUSH,
        "2",
        197160,
    )
    # And the staff pages behind the same application are still Django's.
    page = httpx.get(f"{served}/", follow_redirects=False)
    assert page.status_code in (200, 302)
    assert httpx.get(f"{served}/hcp/events/", timeout=5).status_code == 401
