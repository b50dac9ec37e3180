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
from hcp_simulator.config import SimulatorConfig
from hcp_simulator.quirks import (
    APPLICATION_RESULT_SHAPES,
    PICTURE_FORMATS,
    PRESETS,
    Quirks,
)

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
        "--org",
        action="append",
        default=[],
        metavar="NAME",
        help="an organisation under the root that the site always has (repeatable); added at"
        " start, after loading --state-file and on reset if none has that name",
    )
    add(
        "--apply-delay",
        type=float,
        default=1.0,
        help="seconds from reapplication to the change reaching devices (default 1.0; 0 = at once)",
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
    _add_quirk_options(parser)
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
        orgs=tuple(args.org),
        apply_delay=args.apply_delay,
        timestamp_window=args.timestamp_window,
        auth_failure_status=args.auth_failure_status,
        quota_rps=args.quota_rps or None,
        latency_ms=args.latency_ms,
        admin_password=args.admin_password,
        quirks=quirks_from_args(args),
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


# The switchable behaviours (quirks.py): option name -> (Quirks field, help).
_QUIRK_OPTIONS: dict[str, tuple[str, str]] = {
    "--numeric-code-paths": (
        "numeric_code_paths",
        "comma-separated globs of API paths answering a numeric code (beyond subscriptions)",
    ),
    "--total-num-paths": (
        "total_num_paths",
        "comma-separated globs of API paths whose pages say totalNum instead of total",
    ),
    "--empty-page-without-list": (
        "empty_page_without_list",
        "an empty page has no `list` and says pageNo/pageSize 0 (default: off)",
    ),
    "--numeric-person-ids": (
        "numeric_person_ids",
        "personIds are short numbers like a live server's, not GUIDs (default: on)",
    ),
    "--empty-pic-uri-without-face": (
        "empty_pic_uri_without_face",
        'a person without a face has personPhoto {"picUri": ""}, not none (default: on)',
    ),
    "--omit-empty-cards": (
        "omit_empty_cards",
        "a person without cards has no `cards` key, not [] (default: on)",
    ),
    "--delete-answers-remain-lock-number": (
        "delete_answers_remain_lock_number",
        'person delete answers {"remainLockNumber": 5}, not "" (default: on)',
    ),
    "--empty-string-for-null": (
        "empty_string_for_null",
        'person update and reapplication answer "" instead of "null" (default: off)',
    ),
    "--ignore-event-type-filter": (
        "ignore_event_type_filter",
        "door/events ignores eventType/eventTypes (default: off)",
    ),
    "--application-result-shape": (
        "application_result_shape",
        "applicationResult type 1 answer (default counts; no public source shows it)",
    ),
    "--denial-event-type": (
        "denial_event_type",
        "one event type for every denied passage (default: the code of each reason)",
    ),
    "--picture-format": (
        "picture_format",
        "picture_data/event pictures as image/jpeg bytes or as a base64 data URI",
    ),
    "--strict-door-events": (
        "strict_door_events",
        "door/events requires doorIndexCodes and an eventType or personName (older guides)",
    ),
    "--max-persons-per-level-call": (
        "max_persons_per_level_call",
        "most persons per access-level addPersons/deletePersons call (default 20; 0: no limit)",
    ),
    "--face-check-absent": (
        "face_check_absent",
        "/api/acs/v1/faceCheck answers HTTP 404, as on HCP versions without it (default: off)",
    ),
    "--element-detail-refused": (
        "element_detail_refused",
        "visitor/v1/person/{id}/elementDownloadDetail refuses every person with code 128, as "
        "an HCP serving it only for the visitor module's persons would (default: off)",
    ),
}
_QUIRK_CHOICES: dict[str, tuple[str, ...]] = {
    "application_result_shape": APPLICATION_RESULT_SHAPES,
    "picture_format": PICTURE_FORMATS,
}


def _add_quirk_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "switchable behaviours",
        "Defaults follow public sources (docs/hcp-simulator.md); --quirks picks a preset that "
        "the options after it change; the control API changes them at run time.",
    )
    group.add_argument(
        "--quirks",
        choices=PRESETS,
        default="default",
        help="off: every answer in its textbook shape; on: every variation at once",
    )
    defaults = Quirks()
    for option, (name, help_text) in _QUIRK_OPTIONS.items():
        current = getattr(defaults, name)
        if isinstance(current, bool):
            group.add_argument(
                option,
                dest=name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=help_text,
            )
        elif isinstance(current, tuple):
            group.add_argument(option, dest=name, default=None, metavar="GLOBS", help=help_text)
        elif name == "denial_event_type" or isinstance(current, int):
            group.add_argument(
                option, dest=name, type=int, default=None, metavar="N", help=help_text
            )
        else:
            group.add_argument(
                option, dest=name, choices=_QUIRK_CHOICES[name], default=None, help=help_text
            )


def quirks_from_args(args: argparse.Namespace) -> Quirks:
    """The preset named by --quirks, changed by every quirk option given."""
    changes: dict[str, Any] = {}
    for name, _help in _QUIRK_OPTIONS.values():
        value = getattr(args, name)
        if value is None:
            continue
        if name in ("numeric_code_paths", "total_num_paths"):
            value = tuple(glob.strip() for glob in value.split(",") if glob.strip())
        changes[name] = value
    try:
        return replace(Quirks().preset(args.quirks), **changes)
    except ValueError as exc:
        raise SystemExit(f"hcp-simulator: {exc}") from exc


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    logging.basicConfig(
        level=config.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs every request's whole URL at INFO: a push destination's path may hold the
    # receiver's secret (Propusk's webhook token). Pushes are logged by push.py, without it.
    logging.getLogger("httpx").setLevel(logging.WARNING)
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
