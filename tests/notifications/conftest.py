"""Stand-ins for the outside services, over real HTTP on 127.0.0.1: the Telegram Bot API and
a Web Push service. Each records what it was sent and answers what the test tells it to."""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from propusk.celery import app as celery_app

BOT_TOKEN = "123456:TEST-token-never-logged"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class StandIn:
    """A local HTTP server; ``answers`` is a queue of (status, JSON body) given in turn, then
    ``default``. ``url`` is its base address."""

    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    answers: list[tuple[int, Any]] = field(default_factory=list)
    default: tuple[int, Any] = (200, {"ok": True, "result": {}})
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, request: Recorded) -> tuple[int, Any]:
        with self.lock:
            self.requests.append(request)
            if self.answers:
                return self.answers.pop(0)
            return self.default


def _serve(stand_in: StandIn) -> Iterator[StandIn]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = Recorded(
                "POST",
                self.path,
                {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(length),
            )
            status, body = stand_in.answer(request)
            payload = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stand_in.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield stand_in
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def telegram_api(settings) -> Iterator[StandIn]:
    """The Bot API stand-in, configured as the site's Telegram."""
    for stand_in in _serve(StandIn(default=(200, {"ok": True, "result": {"message_id": 1}}))):
        settings.PROPUSK_TELEGRAM_BOT_TOKEN = BOT_TOKEN
        settings.PROPUSK_TELEGRAM_API_URL = stand_in.url
        yield stand_in


@pytest.fixture
def push_service() -> Iterator[StandIn]:
    """A Web Push service stand-in: accepts pushes with 201 unless told otherwise."""
    yield from _serve(StandIn(default=(201, None)))


@dataclass
class Browser:
    """A browser's push keys: the test decrypts what it was pushed, as the browser would."""

    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    @property
    def p256dh(self) -> str:
        return b64url(
            self.private_key.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        )

    def decrypt(self, body: bytes) -> dict[str, Any]:
        import http_ece

        plain = http_ece.decrypt(
            body, private_key=self.private_key, auth_secret=self.auth, version="aes128gcm"
        )
        return json.loads(plain)


def new_browser() -> Browser:
    return Browser(ec.generate_private_key(ec.SECP256R1()), os.urandom(16))


@pytest.fixture
def vapid(settings) -> ec.EllipticCurvePrivateKey:
    """VAPID keys for the site (the private key as PEM, as `vapid --gen` writes it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    settings.PROPUSK_VAPID_PRIVATE_KEY = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    settings.PROPUSK_VAPID_PUBLIC_KEY = b64url(
        key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    )
    settings.PROPUSK_WEBPUSH_ALLOW_HTTP = True
    settings.PROPUSK_WEBPUSH_ALLOWED_HOSTS = [*settings.PROPUSK_WEBPUSH_ALLOWED_HOSTS, "127.0.0.1"]
    return key


@pytest.fixture
def eager_tasks() -> Iterator[None]:
    """Tasks run in the calling thread when queued (a retry's countdown is not waited for:
    its row is not due yet, so that run does nothing and the test moves the clock)."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = before


@dataclass
class SmtpStandIn:
    """A minimal SMTP server: takes messages (``received``), or refuses every recipient."""

    port: int = 0
    refuse_recipients: bool = False
    received: list[bytes] = field(default_factory=list)


@pytest.fixture
def smtp_server(settings) -> Iterator[SmtpStandIn]:
    import socketserver

    stand_in = SmtpStandIn()

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            def say(line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")

            say("220 stand-in ESMTP")
            while True:
                line = self.rfile.readline()
                if not line:
                    return
                command = line.decode().strip().upper()
                if command.startswith(("EHLO", "HELO")):
                    say("250 stand-in")
                elif command.startswith("MAIL FROM"):
                    say("250 OK")
                elif command.startswith("RCPT TO"):
                    say("550 No such user" if stand_in.refuse_recipients else "250 OK")
                elif command == "DATA":
                    say("354 End data with <CR><LF>.<CR><LF>")
                    data = b""
                    while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                        data += chunk
                    stand_in.received.append(data)
                    say("250 OK queued")
                elif command == "QUIT":
                    say("221 Bye")
                    return
                else:
                    say("250 OK")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stand_in.port = server.server_address[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = stand_in.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = ""
    try:
        yield stand_in
    finally:
        server.shutdown()
        server.server_close()
