"""Fixtures for the contract suite: the real simulator process, a seeded site, clients.

The simulator runs once per session and quirk mode (``running_simulator``) and is reset
before each test that asks for ``site``. Every test that uses it runs twice: with every
switchable answer in its textbook shape (``quirks-off``) and with every variation at once
(``quirks-on``, docs/hcp-simulator.md). Clients talk to it over real HTTP; nothing here fakes
HCP.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from hcp_simulator.testing import SimulatorHandle, running_simulator
from hikcentral import HikCentralClient, HikCentralConfig, PersonInput, TransientError

SITE_TZ = timezone(timedelta(hours=5))
VISITOR_ORG = "2"
DOOR_CODES = [str(number) for number in range(1, 13)]
MAIN_LEVEL = "10"  # doors 1 and 2
ALL_DOORS_LEVEL = "11"  # all twelve doors
VISITOR_LEVEL = "20"  # type 2


def make_jpeg(color: tuple[int, int, int] = (120, 90, 60), side: int = 64) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (side, side), color).save(buffer, format="JPEG")
    return buffer.getvalue()


def visitor(code: str = "V0001", **changes: Any) -> PersonInput:
    now = datetime.now(UTC).replace(microsecond=0)
    values: dict[str, Any] = {
        "person_code": code,
        "org_index_code": VISITOR_ORG,
        "family_name": "Ivanova",
        "given_name": "Anna",
        "begin_time": now - timedelta(hours=1),
        "end_time": now + timedelta(hours=8),
        "phone_no": "+77010000001",
    }
    values.update(changes)
    return PersonInput(**values)


def make_config(sim: SimulatorHandle, **overrides: Any) -> HikCentralConfig:
    values: dict[str, Any] = {
        "base_url": sim.base_url,
        "app_key": sim.app_key,
        "app_secret": sim.app_secret,
        "utc_offset": SITE_TZ,
        "verify": str(sim.ca_cert_path) if sim.ca_cert_path else True,
        "connect_timeout": 2.0,
        "read_timeout": 2.0,
    }
    values.update(overrides)
    return HikCentralConfig(**values)


@dataclass
class CountingLimiter:
    """Records every acquire(): one per HTTP request the client sends."""

    priorities: list[str] = field(default_factory=list)

    def acquire(self, *, priority: str) -> None:
        self.priorities.append(priority)

    @property
    def calls(self) -> int:
        return len(self.priorities)


@dataclass
class RecordingBreaker:
    open: bool = False
    events: list[str] = field(default_factory=list)

    def before_call(self) -> None:
        from hikcentral import CircuitOpenError

        self.events.append("before")
        if self.open:
            raise CircuitOpenError("HCP is paused")

    def record_success(self) -> None:
        self.events.append("success")

    def record_failure(self, exc: TransientError) -> None:
        self.events.append(f"failure:{type(exc).__name__}")


def seed_site(sim: SimulatorHandle) -> None:
    control = sim.control
    control.reset(seed_demo=False)
    control.add_org(VISITOR_ORG, "Visitors")
    for code in DOOR_CODES:
        control.add_door(code, f"Turnstile {code}")
    control.add_access_level(MAIN_LEVEL, "Main entrance", ["1", "2"])
    control.add_access_level(ALL_DOORS_LEVEL, "All doors", DOOR_CODES)
    control.add_access_level(VISITOR_LEVEL, "Visitors", ["1"], level_type=2)


QUIRK_MODES = ["off", "on"]


@pytest.fixture(scope="session", params=QUIRK_MODES, ids=[f"quirks-{m}" for m in QUIRK_MODES])
def quirk_mode(request: pytest.FixtureRequest) -> str:
    mode: str = request.param
    return mode


@pytest.fixture(scope="session")
def quirks_on(quirk_mode: str) -> bool:
    return quirk_mode == "on"


@pytest.fixture(scope="session")
def simulator(quirk_mode: str) -> Iterator[SimulatorHandle]:
    with running_simulator(quirks=quirk_mode) as sim:
        yield sim


@pytest.fixture
def site(simulator: SimulatorHandle) -> SimulatorHandle:
    """A fresh site: root org, a visitor org, 12 doors, three access levels, no faults."""
    seed_site(simulator)
    return simulator


@pytest.fixture
def limiter() -> CountingLimiter:
    return CountingLimiter()


@pytest.fixture
def client(site: SimulatorHandle, limiter: CountingLimiter) -> Iterator[HikCentralClient]:
    with HikCentralClient(make_config(site), rate_limiter=limiter) as hcp:
        yield hcp
