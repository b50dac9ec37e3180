"""Start the real HCP simulator for a test, and drive its control API.

This is the one way the project's tests and benchmarks start the simulator::

    from hcp_simulator.testing import running_simulator

    with running_simulator(seed_demo=True) as sim:
        client = MyHcpClient(sim.base_url, sim.app_key, sim.app_secret, verify=sim.verify)
        ...                                   # signed OpenAPI calls under sim.base_url/artemis
        sim.control.passage("1", person_code="G0001")
        sim.control.reset()                   # between tests sharing one simulator

`running_simulator` runs `python -m hcp_simulator` (the `hcp-simulator` program) as a
subprocess on a free 127.0.0.1 port, waits until it answers /simulator/v1/health, and on exit
terminates it. If the simulator died on its own, exiting raises `SimulatorCrashed` with its
stderr. Startup takes well under a second, so module- or session-scoped fixtures plus
`control.reset()` between tests are the intended shape.

Defaults differ from the CLI in one place: `apply_delay=0.0`, so a reapplication reaches the
devices before its response (changes still wait until reapplication is called). Pass e.g.
`apply_delay=0.5` to test the asynchronous window.

Fixture example::

    @pytest.fixture(scope="module")
    def simulator():
        with running_simulator(seed_demo=True) as sim:
            yield sim

    @pytest.fixture(autouse=True)
    def clean_site(simulator):
        simulator.control.reset()
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import secrets
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

_LISTENING = re.compile(r"^hcp-simulator listening on (\S+)$", re.MULTILINE)
_CA_CERT = re.compile(r"^hcp-simulator CA certificate (.+)$", re.MULTILINE)


class SimulatorCrashed(RuntimeError):
    """The simulator process failed to start or exited on its own."""


@dataclass(frozen=True)
class PassageResult:
    granted: bool
    reason: str
    event_id: str
    event_type: int
    person_id: str
    pic_uri: str
    event_time: str


class SimulatorControl:
    """A typed client of the control API (/simulator/v1), unsigned."""

    def __init__(
        self, base_url: str, *, verify: ssl.SSLContext | bool = True, timeout: float = 10.0
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url + "/simulator/v1", verify=verify, timeout=timeout
        )

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = self._http.request(method, path, json=body)
        if response.status_code >= 400:
            raise ValueError(f"{method} {path}: HTTP {response.status_code} {response.text}")
        return response.json()

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/health")
        return result

    def reset(self, *, seed_demo: bool | None = None) -> None:
        """A fresh site; `seed_demo` defaults to how the simulator was started."""
        self._call("POST", "/reset", {} if seed_demo is None else {"seedDemo": seed_demo})

    def add_org(self, org_index_code: str, org_name: str, parent: str = "1") -> None:
        body = {"orgIndexCode": org_index_code, "orgName": org_name, "parentOrgIndexCode": parent}
        self._call("POST", "/orgs", body)

    def add_door(
        self, door_index_code: str, door_name: str, *, acs_dev_index_code: str | None = None
    ) -> None:
        body = {"doorIndexCode": door_index_code, "doorName": door_name}
        if acs_dev_index_code is not None:
            body["acsDevIndexCode"] = acs_dev_index_code
        self._call("POST", "/doors", body)

    def add_access_level(
        self,
        level_id: str,
        name: str,
        door_codes: Sequence[str],
        *,
        level_type: int = 1,
        description: str = "",
    ) -> None:
        """Create or replace an access level (members are kept on replace)."""
        body = {
            "privilegeGroupId": level_id,
            "privilegeGroupName": name,
            "type": level_type,
            "description": description,
            "doorIndexCodes": list(door_codes),
        }
        self._call("POST", "/access-levels", body)

    def passage(
        self,
        door_index_code: str,
        *,
        person_code: str | None = None,
        person_id: str | None = None,
        face_jpeg: bytes | None = None,
        unknown_face: bool = False,
        direction: str = "in",
        at: datetime | None = None,
    ) -> PassageResult:
        """Someone presents a face at a door; exactly one way of identifying them.
        `at` back- or forward-dates the attempt (decision and event) without moving the clock."""
        body: dict[str, Any] = {"doorIndexCode": door_index_code, "direction": direction}
        if at is not None:
            if at.tzinfo is None:
                raise ValueError("`at` must be timezone-aware")
            body["time"] = at.isoformat()
        if unknown_face:
            body["unknownFace"] = True
        elif face_jpeg is not None:
            body["faceData"] = base64.b64encode(face_jpeg).decode()
        elif person_id is not None:
            body["personId"] = person_id
        elif person_code is not None:
            body["personCode"] = person_code
        else:
            raise ValueError("give person_code, person_id, face_jpeg or unknown_face=True")
        data = self._call("POST", "/passages", body)
        return PassageResult(
            granted=data["granted"],
            reason=data["reason"],
            event_id=data["eventId"],
            event_type=data["eventType"],
            person_id=data["personId"],
            pic_uri=data["picUri"],
            event_time=data["eventTime"],
        )

    def remove_face(self, person_code: str) -> None:
        """Remove a person's face, as someone could by hand in HCP's client."""
        self._call("DELETE", f"/persons/{person_code}/face")

    def state(self) -> dict[str, Any]:
        """Everything: persons with desired/applied state per door, levels, events, push..."""
        result: dict[str, Any] = self._call("GET", "/state")
        return result

    def add_fault(
        self, kind: str, *, path: str = "*", count: int | None = None, **params: Any
    ) -> int:
        """Inject a fault (see docs/hcp-simulator.md); returns the rule id."""
        body = {"kind": kind, "path": path, "count": count, **params}
        result = self._call("POST", "/faults", body)
        rule_id: int = result["added"][0]["id"]
        return rule_id

    def faults(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/faults")
        return result

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def now(self) -> datetime:
        return datetime.fromisoformat(self._call("GET", "/clock")["now"])

    def advance_clock(self, seconds: float) -> datetime:
        return datetime.fromisoformat(
            self._call("POST", "/clock", {"advanceSeconds": seconds})["now"]
        )

    def set_clock(self, moment: datetime) -> datetime:
        if moment.tzinfo is None:
            raise ValueError("the moment must be timezone-aware")
        return datetime.fromisoformat(
            self._call("POST", "/clock", {"set": moment.isoformat()})["now"]
        )

    def quirks(self) -> dict[str, Any]:
        """The switchable behaviours now in force (control API names)."""
        result: dict[str, Any] = self._call("GET", "/quirks")
        return result

    def set_quirks(self, *, preset: str | None = None, **changes: Any) -> dict[str, Any]:
        """Change switchable behaviours: `preset` ("default", "off", "on") first, then each
        change by its snake_case name, e.g. `numeric_code_paths=["/api/resource/*"]`,
        `application_result_shape="empty"`, `denial_event_type=None` (by reason)."""
        body: dict[str, Any] = {_camel(name): value for name, value in changes.items()}
        if preset is not None:
            body["preset"] = preset
        result: dict[str, Any] = self._call("PUT", "/quirks", body)
        return result

    def retry_push(self) -> int:
        """Retry failed pushes now; returns how many events are still queued."""
        buffered: int = self._call("POST", "/push/retry")["buffered"]
        return buffered


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


@dataclass
class SimulatorHandle:
    base_url: str
    app_key: str
    app_secret: str
    ca_cert_path: Path | None
    control: SimulatorControl
    process: subprocess.Popen[bytes]
    stderr_path: Path

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """What to give httpx as `verify`: a context trusting the simulator's CA under TLS,
        else True. Clients that take a CA bundle path use `ca_cert_path`."""
        if self.ca_cert_path is None:
            return True
        return ssl.create_default_context(cafile=str(self.ca_cert_path))

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")


@contextlib.contextmanager
def running_simulator(
    *,
    app_key: str = "test-app-key",
    app_secret: str | None = None,
    seed_demo: bool = False,
    apply_delay: float = 0.0,
    tls: bool = False,
    latency_ms: float = 0.0,
    quota_rps: float | None = None,
    state_file: Path | None = None,
    utc_offset: str = "+05:00",
    denial_event_type: int | None = None,
    timestamp_window: float | None = None,
    auth_failure_status: int | None = None,
    admin_password: str | None = None,
    strict_door_events: bool = False,
    quirks: str = "default",
    control_api: bool = True,
    extra_args: Sequence[str] = (),
    startup_timeout: float = 15.0,
) -> Iterator[SimulatorHandle]:
    """Run `hcp-simulator` in a subprocess for the duration of the block."""
    secret = app_secret or secrets.token_urlsafe(24)
    args = [
        sys.executable,
        "-m",
        "hcp_simulator",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--app-key",
        app_key,
        "--apply-delay",
        str(apply_delay),
        "--utc-offset",
        utc_offset,
        "--log-level",
        "info",
    ]
    optional: list[tuple[bool, list[str]]] = [
        (seed_demo, ["--seed-demo"]),
        (tls, ["--tls"]),
        (bool(latency_ms), ["--latency-ms", str(latency_ms)]),
        (quota_rps is not None, ["--quota-rps", str(quota_rps)]),
        (state_file is not None, ["--state-file", str(state_file)]),
        (denial_event_type is not None, ["--denial-event-type", str(denial_event_type)]),
        (timestamp_window is not None, ["--timestamp-window", str(timestamp_window)]),
        (auth_failure_status is not None, ["--auth-failure-status", str(auth_failure_status)]),
        (admin_password is not None, ["--admin-password", str(admin_password)]),
        (strict_door_events, ["--strict-door-events"]),
        (quirks != "default", ["--quirks", quirks]),
        (not control_api, ["--no-control-api"]),
    ]
    for enabled, flags in optional:
        if enabled:
            args.extend(flags)
    args.extend(extra_args)
    # The secret goes through the environment, not the command line (visible in `ps`).
    env = {**os.environ, "HCP_SIMULATOR_APP_SECRET": secret}
    with tempfile.TemporaryDirectory(prefix="hcp-simulator-run-") as workdir:
        stdout_path = Path(workdir) / "stdout"
        stderr_path = Path(workdir) / "stderr"
        with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
            process = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, env=env
            )
        try:
            base_url, ca_cert = _wait_until_listening(
                process, stdout_path, stderr_path, startup_timeout
            )
            verify = ssl.create_default_context(cafile=str(ca_cert)) if ca_cert else True
            control = SimulatorControl(base_url, verify=verify)
            handle = SimulatorHandle(
                base_url=base_url,
                app_key=app_key,
                app_secret=secret,
                ca_cert_path=ca_cert,
                control=control,
                process=process,
                stderr_path=stderr_path,
            )
            try:
                if control_api:
                    _wait_until_healthy(handle, startup_timeout)
                yield handle
            finally:
                control.close()
            crashed = process.poll() is not None
            if crashed:
                raise SimulatorCrashed(
                    f"hcp-simulator exited with {process.returncode} during the test:\n"
                    + handle.stderr()
                )
        finally:
            _stop(process)


def _wait_until_listening(
    process: subprocess.Popen[bytes], stdout_path: Path, stderr_path: Path, timeout: float
) -> tuple[str, Path | None]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = stdout_path.read_text(encoding="utf-8", errors="replace")
        listening = _LISTENING.search(text)
        if listening:
            ca = _CA_CERT.search(text)
            return listening.group(1), Path(ca.group(1).strip()) if ca else None
        if process.poll() is not None:
            break
        time.sleep(0.01)
    stderr = stderr_path.read_text(encoding="utf-8", errors="replace")
    raise SimulatorCrashed(f"hcp-simulator did not start (exit {process.poll()}):\n{stderr}")


def _wait_until_healthy(handle: SimulatorHandle, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            handle.control.health()
            return
        except httpx.TransportError:
            if time.monotonic() > deadline or handle.process.poll() is not None:
                raise SimulatorCrashed(
                    "hcp-simulator does not answer /simulator/v1/health:\n" + handle.stderr()
                ) from None
            time.sleep(0.02)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
