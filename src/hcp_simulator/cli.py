"""`hcp-simulator`: run the HikCentral Professional OpenAPI simulator.

Once it accepts connections it prints, on stdout (the only stdout output; logs go to stderr):

    hcp-simulator listening on http://127.0.0.1:8900
    hcp-simulator CA certificate /tmp/hcp-simulator-tls-xxxx/ca.pem     (with --tls)

`--port 0` picks a free port; hcp_simulator.testing relies on these lines.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Coroutine, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import uvicorn

from hcp_simulator.clock import parse_offset
from hcp_simulator.config import DEFAULT_DENIAL_EVENT_TYPE, SimulatorConfig

log = logging.getLogger("hcp_simulator")

SECRET_ENV = "HCP_SIMULATOR_APP_SECRET"  # noqa: S105 - a variable name


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hcp-simulator",
        description="HikCentral Professional OpenAPI simulator (see docs/hcp-simulator.md).",
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    add("--port", type=int, default=8900, help="port (default 8900; 0 picks a free one)")
    add("--app-key", default="simulator-key", help="the partner's AppKey")
    add(
        "--app-secret",
        default=os.environ.get(SECRET_ENV, "simulator-secret"),
        help=f"the partner's AppSecret (default: ${SECRET_ENV} or 'simulator-secret')",
    )
    add(
        "--app-secret-file",
        type=Path,
        default=None,
        help="read the AppSecret from this file instead (keeps it out of the process list)",
    )
    add("--utc-offset", default="+05:00", help="site offset used in every time (default +05:00)")
    add("--seed-demo", action="store_true", help="start with the demo doors and access levels")
    add(
        "--apply-delay",
        type=float,
        default=1.0,
        help="seconds from reapplication to the change reaching devices (default 1.0; 0 = at once)",
    )
    add(
        "--denial-event-type",
        type=int,
        default=DEFAULT_DENIAL_EVENT_TYPE,
        help=f"event type of denied passages (default {DEFAULT_DENIAL_EVENT_TYPE}; unknown on HCP)",
    )
    add(
        "--timestamp-window",
        type=float,
        default=900.0,
        help="accepted X-Ca-Timestamp skew and nonce memory, seconds (default 900)",
    )
    add(
        "--auth-failure-status",
        type=int,
        choices=(200, 401),
        default=200,
        help="HTTP status of gateway authentication failures (default 200)",
    )
    add("--quota-rps", type=float, default=None, help="call quota, requests per second")
    add("--latency-ms", type=float, default=0.0, help="added to every OpenAPI call")
    add("--admin-password", default=None, help="require adminPassword on person delete")
    add(
        "--strict-door-events",
        action="store_true",
        help="door/events requires doorIndexCodes and an eventType or personName (older guides)",
    )
    add(
        "--picture-format",
        choices=("binary", "base64"),
        default="binary",
        help="picture_data/event pictures as image/jpeg bytes or as a base64 data URI",
    )
    add(
        "--total-num-paths",
        default="",
        help="comma-separated globs of API paths whose pages say totalNum instead of total",
    )
    add(
        "--numeric-code-paths",
        default="",
        help="comma-separated globs of API paths answering a numeric code (beyond subscriptions)",
    )
    add("--max-face-bytes", type=int, default=200 * 1024, help="largest accepted face JPEG")
    add("--soft-version", default="V2.6.0", help="softVersion answered by common/v1/version")
    add("--state-file", type=Path, default=None, help="JSON snapshot loaded at start, kept saved")
    add("--max-events", type=int, default=100_000, help="events kept in memory")
    add("--push-buffer-size", type=int, default=500, help="events kept per failing receiver")
    add("--no-control-api", action="store_true", help="disable /simulator/v1/...")
    add("--tls", action="store_true", help="serve HTTPS with a generated certificate")
    add(
        "--tls-cert",
        type=Path,
        default=None,
        help="serve HTTPS with this certificate chain (PEM); no CA line is printed",
    )
    add("--tls-key", type=Path, default=None, help="the key of --tls-cert (PEM)")
    add("--access-log", action="store_true", help="log every request (slower)")
    add(
        "--log-level",
        default="info",
        choices=("debug", "info", "warning", "error"),
        help="default info",
    )
    return parser


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    if (args.tls_cert is None) != (args.tls_key is None):
        raise SystemExit("hcp-simulator: --tls-cert and --tls-key go together")
    try:
        offset = parse_offset(args.utc_offset)
    except ValueError as exc:
        raise SystemExit(f"hcp-simulator: {exc}") from exc
    if args.apply_delay < 0:
        raise SystemExit("hcp-simulator: --apply-delay must be >= 0")
    app_secret = args.app_secret
    if args.app_secret_file is not None:
        try:
            app_secret = args.app_secret_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SystemExit(f"hcp-simulator: cannot read --app-secret-file: {exc}") from exc
        if not app_secret:
            raise SystemExit("hcp-simulator: --app-secret-file is empty")
    return SimulatorConfig(
        host=args.host,
        port=args.port,
        app_key=args.app_key,
        app_secret=app_secret,
        utc_offset=offset,
        seed_demo=args.seed_demo,
        apply_delay=args.apply_delay,
        denial_event_type=args.denial_event_type,
        timestamp_window=args.timestamp_window,
        auth_failure_status=args.auth_failure_status,
        quota_rps=args.quota_rps or None,
        latency_ms=args.latency_ms,
        admin_password=args.admin_password,
        strict_door_events=args.strict_door_events,
        picture_format=args.picture_format,
        total_num_paths=_globs(args.total_num_paths),
        numeric_code_paths=_globs(args.numeric_code_paths),
        max_face_bytes=args.max_face_bytes,
        soft_version=args.soft_version,
        state_file=args.state_file,
        max_events=args.max_events,
        push_buffer_size=args.push_buffer_size,
        control_api=not args.no_control_api,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        access_log=args.access_log,
        log_level=args.log_level,
    )


def _globs(text: str) -> tuple[str, ...]:
    return tuple(glob.strip() for glob in text.split(",") if glob.strip())


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    logging.basicConfig(
        level=config.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    tls_dir: Path | None = None
    try:
        if args.tls and config.tls_cert is None:
            from hcp_simulator.tls import generate_certificates

            tls_dir = Path(tempfile.mkdtemp(prefix="hcp-simulator-tls-"))
            ca, cert, key = generate_certificates(tls_dir, config.host)
            config = replace(config, tls_cert=cert, tls_key=key, ca_cert=ca)
        return run(config)
    finally:
        if tls_dir is not None:
            shutil.rmtree(tls_dir, ignore_errors=True)


def run(config: SimulatorConfig) -> int:
    from hcp_simulator.app import create_app
    from hcp_simulator.simulator import Simulator, load_state

    state = None
    if config.state_file is not None:
        try:
            state = load_state(config.state_file)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("cannot load the state file %s: %s", config.state_file, exc)
            return 2
    sim = Simulator(config, state)
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((config.host, config.port))
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", config.host, config.port, exc)
        return 2
    sock.listen(512)
    sock.setblocking(False)
    port = sock.getsockname()[1]
    uv_config = uvicorn.Config(
        create_app(sim),
        http="httptools",
        lifespan="on",
        log_config=None,
        log_level=config.log_level,
        access_log=config.access_log,
        timeout_keep_alive=30,
        proxy_headers=False,
        server_header=False,
        ssl_certfile=str(config.tls_cert) if config.tls_cert else None,
        ssl_keyfile=str(config.tls_key) if config.tls_key else None,
    )
    server = uvicorn.Server(uv_config)
    scheme = "https" if config.tls_cert else "http"
    host = f"[{config.host}]" if family == socket.AF_INET6 else config.host
    ready = [f"hcp-simulator listening on {scheme}://{host}:{port}"]
    if config.ca_cert is not None:
        ready.append(f"hcp-simulator CA certificate {config.ca_cert}")
    log.info(
        "AppKey %s, site offset %s, apply delay %.3gs%s%s",
        config.app_key,
        config.utc_offset,
        config.apply_delay,
        ", demo site" if config.seed_demo else "",
        "" if config.control_api else ", control API disabled",
    )
    _event_loop_runner(_serve(server, sock, ready))
    return 0


async def _serve(server: uvicorn.Server, sock: socket.socket, ready: list[str]) -> None:
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.005)
    if server.started:
        print("\n".join(ready), flush=True)
    await task


def _event_loop_runner(coro: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] installs it
        asyncio.run(coro)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(coro)


if __name__ == "__main__":
    sys.exit(main())
