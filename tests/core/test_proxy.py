"""The client's address behind a reverse proxy (propusk.core.proxy): X-Forwarded-For is
believed only from PROPUSK_TRUSTED_PROXIES, so that per-address limits count each client and
a client cannot pick its own address."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections

from propusk.accounts.roles import Role
from propusk.core.proxy import TrustedProxies, client_address, parse_networks
from propusk.events.webhook import PushFastPath
from tests.conftest import PASSWORD, make_user

NGINX = "127.0.0.1"
TRUSTED = parse_networks(["127.0.0.1", "10.0.0.0/8", "::1"])
DESK = "203.0.113.5"  # a client on the internet
OFFICE = "198.51.100.23"
WRONG = ["Astana-2030", "qwerty123", "Aigerim1990!", "baiterek", "Almaty#7", "zhuldyz"]


# --- The pure rule ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("remote", "header", "expected"),
    [
        (NGINX, DESK, DESK),  # one proxy
        (NGINX, f"{DESK}, 10.1.2.3", DESK),  # a load balancer, then nginx
        (NGINX, f"6.6.6.6, {DESK}", DESK),  # the client forged a first hop: the nearest wins
        (NGINX, f"{DESK}:51234", DESK),  # a port
        (NGINX, "[2001:db8::7]:443", "2001:db8::7"),
        (NGINX, "2001:db8::7", "2001:db8::7"),
        (NGINX, "10.1.2.3, 10.4.5.6", "10.1.2.3"),  # every hop trusted: the farthest
        ("::ffff:127.0.0.1", DESK, DESK),  # IPv4 mapped into IPv6
        (DESK, OFFICE, DESK),  # not from a trusted proxy: the header is not believed
        (NGINX, "", NGINX),  # no header
        (NGINX, f"{DESK}, unknown", NGINX),  # malformed where the proxy wrote: not believed
        (NGINX, "not an address", NGINX),
        (NGINX, ",", NGINX),
        (NGINX, "1.1.1.1," * 400, NGINX),  # the nearest hop is empty
        # A proxy that appends: the client's own junk further left does not make the proxy
        # the client (a second budget for every per-address limit), however long it is.
        (NGINX, f"unknown, {DESK}", DESK),
        (NGINX, f"not an address, 6.6.6.6, {DESK}, 10.1.2.3", DESK),
        (NGINX, "x" * 5000 + f", {DESK}", DESK),
        (NGINX, "1.1.1.1, " * 400 + DESK, DESK),
        (NGINX, "x" * 5000 + ", 10.1.2.3", NGINX),  # every hop read trusted, then junk
        ("", DESK, ""),
    ],
)
def test_the_client_address(remote: str, header: str, expected: str) -> None:
    assert client_address(remote, header, TRUSTED) == expected


def test_nothing_is_believed_without_trusted_proxies() -> None:
    assert client_address(NGINX, DESK, ()) == NGINX


def test_a_bad_trusted_proxy_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'nginx'"):
        parse_networks(["127.0.0.1", "nginx"])
    # The settings module refuses it by name before anything runs.
    env = {
        **os.environ,
        "PROPUSK_ENV_FILE": os.devnull,
        "PROPUSK_VAR_DIR": str(tmp_path),
        "DJANGO_SECRET_KEY": "test-only-secret-key-not-for-production-0123456789",
        "PROPUSK_FIELD_ENCRYPTION_KEYS": "Z2l2ZS1tZS1hLXRlc3Qta2V5LW9mLTMyLWJ5dGVzISE=",
        "PROPUSK_LOOKUP_HASH_KEY": "test-only-lookup-hash-key",
        "PROPUSK_TRUSTED_PROXIES": "127.0.0.1,nginx",
    }
    done = subprocess.run(
        [sys.executable, "-c", "import propusk.settings"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert "ImproperlyConfigured: PROPUSK_TRUSTED_PROXIES: 'nginx'" in done.stderr


def test_the_wrapper_keeps_the_proxy_address_aside() -> None:
    seen: dict[str, str] = {}

    def app(environ, start_response):  # type: ignore[no-untyped-def]
        seen["remote"] = environ["REMOTE_ADDR"]
        seen["proxy"] = environ.get("propusk.proxy_addr", "")
        start_response("204 No Content", [])
        return [b""]

    with httpx.Client(
        transport=httpx.WSGITransport(app=TrustedProxies(app, TRUSTED), remote_addr=NGINX),
        base_url="http://localhost",
    ) as client:
        client.get("/", headers={"X-Forwarded-For": DESK})
    assert seen == {"remote": DESK, "proxy": NGINX}


# --- Over HTTP: sign-in limits per client behind nginx -------------------------------------


@pytest.fixture
def behind_nginx(settings, db):  # type: ignore[no-untyped-def]
    """The project's WSGI stack as propusk.wsgi builds it, reached through nginx (every
    request's socket peer is 127.0.0.1), with 8 failures per address."""
    settings.AXES_FAILURE_LIMIT = 50
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 8
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    settings.ALLOWED_HOSTS = ["propusk.example.kz"]
    # As Django's test client does: the test's transaction must outlive each request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)

    def client_from(address: str, *, trusted=TRUSTED) -> httpx.Client:  # type: ignore[no-untyped-def]
        app = TrustedProxies(PushFastPath(get_wsgi_application()), trusted)
        return httpx.Client(
            transport=httpx.WSGITransport(app=app, remote_addr=NGINX),
            base_url="https://propusk.example.kz",
            headers={"X-Forwarded-For": address},
        )

    yield client_from
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _sign_in(client: httpx.Client, username: str, password: str) -> httpx.Response:
    page = client.get("/login/")
    token = re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)[-1]
    return client.post(
        "/login/",
        data={"csrfmiddlewaretoken": token, "username": username, "password": password},
        headers={"Referer": "https://propusk.example.kz/login/"},
    )


def test_one_client_locked_out_behind_the_proxy_does_not_lock_out_another(behind_nginx) -> None:  # type: ignore[no-untyped-def]
    make_user("aigerim", Role.RECEPTION)
    make_user("dauren", Role.HOST)
    with behind_nginx(DESK) as desk:
        for number in range(8):
            _sign_in(desk, "aigerim", WRONG[number % len(WRONG)])
        assert _sign_in(desk, "aigerim", PASSWORD).status_code == 429
    # Another client behind the same nginx: its own address, its own count.
    with behind_nginx(OFFICE) as office:
        response = _sign_in(office, "dauren", PASSWORD)
        assert response.status_code == 302, response.text[:500]


def test_a_client_cannot_choose_its_address_when_the_proxy_is_not_trusted(behind_nginx) -> None:  # type: ignore[no-untyped-def]
    make_user("aigerim", Role.RECEPTION)
    make_user("dauren", Role.HOST)
    with behind_nginx(DESK, trusted=()) as desk:
        for number in range(8):
            _sign_in(desk, "aigerim", WRONG[number % len(WRONG)])
    # Everyone behind an untrusted proxy shares its address: the forged header changes nothing.
    with behind_nginx(OFFICE, trusted=()) as office:
        assert _sign_in(office, "dauren", PASSWORD).status_code == 429
