"""The production files in deploy/ run as shipped: nginx with deploy/nginx/propusk.conf in front
of gunicorn with deploy/gunicorn.conf.py serving ``propusk.wsgi:application``, configured
from deploy/propusk.env.example's values (only ports, paths and secrets replaced).

Checked over real HTTP(S): pages over TLS, plain HTTP redirected, static files served by
nginx, nothing under /media/, the webhook reachable over plain HTTP from HCP's address only -
a client forging X-Forwarded-For cannot pass for HCP - and no token in nginx's access log.
Needs nginx (Debian's nginx-light): skipped without it, unless PROPUSK_REQUIRE_NGINX=1 (CI,
which installs it), where it fails."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from propusk.core.env import read_env_file

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
HOST = "propusk.example.kz"
HCP_ADDRESS = "10.20.0.10"  # PROPUSK_HCP_EVENTS_ALLOWED_IPS in the example
TOKEN = "deploy-test-token-0123456789abcdef"
METRICS_TOKEN = "deploy-test-metrics-token-0123456789"

pytestmark = pytest.mark.timeout(180)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(url: str, *, process: subprocess.Popen[bytes], log: Path, **kwargs: object) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited:\n{log.read_text()[-3000:]}")
        try:
            httpx.get(url, timeout=2, **kwargs)  # type: ignore[arg-type]
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer:\n{log.read_text()[-3000:]}")


@dataclass
class Stack:
    https: str
    http: str
    access_log: Path
    certificate: Path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else "")
    if not nginx:
        reason = "no nginx on this machine (apt-get install nginx-light)"
        if os.environ.get("PROPUSK_REQUIRE_NGINX") == "1":
            pytest.fail(f"{reason}; PROPUSK_REQUIRE_NGINX=1 makes this a failure", pytrace=False)
        pytest.skip(f"deployment test skipped: {reason}")
    tmp = tmp_path_factory.mktemp("deploy")
    var = tmp / "var"
    (tmp / "secrets").mkdir()
    web_port, http_port, https_port = _free_port(), _free_port(), _free_port()

    # The example's settings, with this machine's paths, ports and throw-away secrets.
    ours = ("DJANGO_", "PROPUSK_", "HCP_", "CELERY_", "DATABASE_URL", "CACHE_URL")
    env = {key: value for key, value in os.environ.items() if not key.startswith(ours)}
    env.update(read_env_file(DEPLOY / "propusk.env.example"))
    secrets = {
        "DJANGO_SECRET_KEY_FILE": "deploy-test-secret-key-" + "x" * 40,
        "PROPUSK_FIELD_ENCRYPTION_KEYS_FILE": "Z2l2ZS1tZS1hLXRlc3Qta2V5LW9mLTMyLWJ5dGVzISE=",
        "PROPUSK_LOOKUP_HASH_KEY_FILE": "deploy-test-lookup-hash-key",
        "HCP_APP_SECRET_FILE": "deploy-test-hcp-secret",
        "PROPUSK_HCP_EVENTS_TOKEN_FILE": TOKEN,
        "PROPUSK_METRICS_TOKEN_FILE": METRICS_TOKEN,
    }
    example = read_env_file(DEPLOY / "propusk.env.example")
    assert {name for name in example if name.endswith("_FILE")} == set(secrets)
    for name, value in secrets.items():
        path = tmp / "secrets" / name.lower()
        path.write_text(value)
        env[name] = str(path)
    env.update(
        PROPUSK_ENV_FILE=os.devnull,
        PROPUSK_VAR_DIR=str(var),
        DJANGO_STATIC_ROOT=str(var / "static"),
        DJANGO_MEDIA_ROOT=str(var / "media"),
        DATABASE_URL=f"sqlite:///{tmp / 'propusk.sqlite3'}",
        CELERY_BROKER_URL="filesystem://localhost/",
        CACHE_URL="locmemcache://",
        HCP_BASE_URL="",
        PROPUSK_GUNICORN_BIND=f"127.0.0.1:{web_port}",
        PROPUSK_GUNICORN_WORKERS="1",
        PYTHONPATH=str(ROOT / "src"),
    )
    manage = [sys.executable, str(ROOT / "src" / "manage.py")]
    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
        done = subprocess.run(
            [*manage, *command], env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr[-3000:]
    # The production checks pass on the example's settings (HSTS preload: a site's choice).
    done = subprocess.run(
        [*manage, "check", "--deploy", "--fail-level", "WARNING"],
        env={**env, "DJANGO_HSTS_PRELOAD": "true"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr

    web_log = tmp / "gunicorn.log"
    gunicorn = Path(sys.executable).with_name("gunicorn")
    with web_log.open("wb") as out:
        web = subprocess.Popen(
            [str(gunicorn), "-c", str(DEPLOY / "gunicorn.conf.py"), "propusk.wsgi:application"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    # nginx as shipped, but for ports, certificate, log and static paths.
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", f"/CN={HOST}", "-addext", f"subjectAltName=DNS:{HOST},IP:127.0.0.1",
            "-keyout", str(tmp / "key.pem"), "-out", str(tmp / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    site = (DEPLOY / "nginx" / "propusk.conf").read_text()
    for old, new in {
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen [::]:80;": "",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "listen [::]:443 ssl http2;": "",
        "127.0.0.1:8001": f"127.0.0.1:{web_port}",
        "/etc/ssl/propusk/fullchain.pem": str(tmp / "cert.pem"),
        "/etc/ssl/propusk/privkey.pem": str(tmp / "key.pem"),
        "/var/log/nginx/": f"{tmp}/",
        "/var/lib/propusk/static/": f"{var / 'static'}/",
    }.items():
        assert old in site, old
        site = site.replace(old, new)
    (tmp / "site.conf").write_text(site)
    (tmp / "nginx.conf").write_text(
        # Root (CI): its workers would run as nobody, who cannot read pytest's 0700 tmp dirs.
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"pid {tmp}/nginx.pid;\nerror_log {tmp}/nginx-error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n"
        + "".join(
            f"  {kind}_temp_path {tmp}/{kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        + f"  include {tmp}/site.conf;\n}}\n"
    )
    nginx_log = tmp / "nginx-start.log"
    with nginx_log.open("wb") as out:
        proxy = subprocess.Popen(
            [nginx, "-c", str(tmp / "nginx.conf"), "-p", str(tmp), "-g", "daemon off;"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_for(f"http://127.0.0.1:{web_port}/login/", process=web, log=web_log)
        _wait_for(f"http://127.0.0.1:{http_port}/", process=proxy, log=nginx_log)
        yield Stack(
            https=f"https://127.0.0.1:{https_port}",
            http=f"http://127.0.0.1:{http_port}",
            access_log=tmp / "propusk.access.log",
            certificate=tmp / "cert.pem",
        )
    finally:
        for process in (proxy, web):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in (proxy, web):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def _client(base: str, stack: Stack) -> httpx.Client:
    trust = ssl.create_default_context(cafile=str(stack.certificate))
    return httpx.Client(base_url=base, headers={"Host": HOST}, verify=trust, timeout=10)


def _push(event_id: str) -> bytes:
    event = {
        "eventId": event_id,
        "eventType": 196893,
        "happenTime": "2026-03-02T09:15:04+05:00",
        "srcIndex": "1",
        "srcName": "Turnstile 1",
        "data": {"personCode": "PV7Q2K9D", "personId": "17", "checkInAndOutType": 1},
    }
    return json.dumps(
        {"method": "OnEventNotify", "params": {"ability": "event_acs", "events": [event]}}
    ).encode()


def test_pages_are_served_over_tls_and_plain_http_is_redirected(stack: Stack) -> None:
    with _client(stack.https, stack) as client:
        page = client.get("/login/")
        assert page.status_code == 200
        assert "csrfmiddlewaretoken" in page.text
        assert page.headers["strict-transport-security"].startswith("max-age=31536000")
        assert client.get("/visits/").status_code == 302  # behind the sign-in
    with _client(stack.http, stack) as client:
        redirect = client.get("/login/")
        assert redirect.status_code == 301
        assert redirect.headers["location"] == f"https://{HOST}/login/"


def test_static_files_come_from_nginx_and_media_never(stack: Stack) -> None:
    with _client(stack.https, stack) as client:
        css = client.get("/static/propusk/app.css")
        assert css.status_code == 200, "collectstatic's files are served"
        assert "expires" in css.headers
        assert client.get("/media/faces/1/face.jpg").status_code == 404


def test_only_hcp_may_push_and_a_forged_forwarded_for_does_not_pass_for_it(stack: Stack) -> None:
    url = f"/hcp/events/{TOKEN}/"
    with _client(stack.http, stack) as client:
        # A client on the network (here 127.0.0.1) that claims to be HCP's address.
        forged = client.post(
            url,
            content=_push("deploy-forged"),
            headers={"Content-Type": "application/json", "X-Forwarded-For": HCP_ADDRESS},
        )
    assert forged.status_code == 403
    # The log names neither the webhook's nor an invitation's token.
    with _client(stack.https, stack) as client:
        client.get("/invitations/i/secret-invitation-token-abc/")
    # nginx writes the line once the request is done, maybe just after the client has the
    # answer.
    deadline = time.monotonic() + 10
    logged = stack.access_log.read_text()
    while "/invitations/i/" not in logged and time.monotonic() < deadline:
        time.sleep(0.05)
        logged = stack.access_log.read_text()
    assert "/hcp/events/<token>/" in logged
    assert "/invitations/i/<token>/" in logged
    assert TOKEN not in logged
    assert "secret-invitation-token-abc" not in logged


def test_prometheus_reads_the_metrics_with_its_token_only(stack: Stack) -> None:
    with _client(stack.https, stack) as client:
        assert client.get("/metrics").status_code == 401
        wrong = client.get("/metrics", headers={"Authorization": "Bearer " + "x" * 32})
        assert wrong.status_code == 401
        scraped = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert scraped.status_code == 200
    assert "propusk_build_info" in scraped.text
