"""Fixtures: one simulator process shared by the session (reset before each test), a signed
client for it, and face pictures."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import pytest
from PIL import Image

from hcp_simulator.testing import SimulatorHandle, running_simulator

from .artemis import Artemis


@pytest.fixture(scope="session")
def shared_simulator() -> Iterator[SimulatorHandle]:
    with running_simulator(seed_demo=True) as handle:
        yield handle


@pytest.fixture
def sim(shared_simulator: SimulatorHandle) -> SimulatorHandle:
    """The shared simulator, reset to the demo site."""
    shared_simulator.control.reset()
    return shared_simulator


@pytest.fixture(scope="session")
def shared_api(shared_simulator: SimulatorHandle) -> Iterator[Artemis]:
    client = Artemis(
        shared_simulator.base_url, shared_simulator.app_key, shared_simulator.app_secret
    )
    yield client
    client.close()


@pytest.fixture
def api(sim: SimulatorHandle, shared_api: Artemis) -> Artemis:
    """A signed client of the freshly reset shared simulator."""
    return shared_api


def face_jpeg(seed: int = 0, size: int = 64) -> bytes:
    image = Image.new("RGB", (size, size), (seed * 37 % 256, seed * 91 % 256, 120))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG")
    return buffer.getvalue()


def face_b64(seed: int = 0) -> str:
    return base64.b64encode(face_jpeg(seed)).decode()
