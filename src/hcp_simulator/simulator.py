"""The running simulator: site state plus the clock, gateway check, faults, push and the
state file. One instance per process; the HTTP layer (app.py) and handlers use it."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from datetime import datetime
from pathlib import Path

from hcp_simulator.auth import SignatureVerifier
from hcp_simulator.clock import SimClock
from hcp_simulator.config import SimulatorConfig
from hcp_simulator.devices import run_due_applications
from hcp_simulator.faults import FaultBook
from hcp_simulator.push import PushDispatcher
from hcp_simulator.quirks import Quirks
from hcp_simulator.state import SiteState

log = logging.getLogger(__name__)

STATE_WRITE_DEBOUNCE_SECONDS = 0.5


class Simulator:
    def __init__(self, config: SimulatorConfig, state: SiteState | None = None) -> None:
        self.config = config
        self.state = state or SiteState.fresh(seed_demo=config.seed_demo)
        self.state.ensure_orgs(config.orgs)
        self.clock = SimClock(self.state.clock_offset)
        self.verifier = SignatureVerifier(
            {config.app_key: config.app_secret}, config.timestamp_window
        )
        self.faults = FaultBook(config.quota_rps)
        self.quirks: Quirks = config.quirks
        self.push = PushDispatcher(config, lambda: self.state, self.now)
        # Wrong adminPassword attempts per client address: (failures, locked until).
        self.admin_failures: dict[str, tuple[int, datetime | None]] = {}
        self._dirty = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None

    def now(self) -> datetime:
        return self.clock.now()

    def catch_up(self) -> None:
        """Let devices finish applications whose delay has elapsed. Called on every request:
        application state is only observable through requests, so this is exact."""
        if self.state.pending and run_due_applications(
            self.state, now=self.now(), offline_doors=self.faults.offline_doors()
        ):
            self.mark_dirty()

    def reset(self, *, seed_demo: bool | None = None) -> None:
        demo = self.config.seed_demo if seed_demo is None else seed_demo
        self.state = SiteState.fresh(seed_demo=demo)
        self.state.ensure_orgs(self.config.orgs)
        self.clock = SimClock(0.0)
        self.faults.clear()
        self.quirks = self.config.quirks
        self.push.reset()
        self.admin_failures.clear()
        self.mark_dirty()

    # State file: load at start, write debounced on change and at shutdown.
    def mark_dirty(self) -> None:
        if self.config.state_file is not None:
            self._dirty.set()

    async def start(self) -> None:
        await self.push.start()
        if self.config.state_file is not None:
            self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    async def stop(self) -> None:
        await self.push.stop()
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None
        if self.config.state_file is not None:
            _write_atomically(self.config.state_file, self._snapshot_text())

    def _snapshot_text(self) -> str:
        self.state.clock_offset = self.clock.offset_seconds
        return json.dumps(self.state.to_json(), ensure_ascii=False)

    async def _write_loop(self) -> None:
        path = self.config.state_file
        assert path is not None  # noqa: S101 - only started with a state file
        while True:
            await self._dirty.wait()
            await asyncio.sleep(STATE_WRITE_DEBOUNCE_SECONDS)
            self._dirty.clear()
            text = self._snapshot_text()
            try:
                await asyncio.to_thread(_write_atomically, path, text)
            except OSError:
                log.exception("could not write the state file %s", path)


def load_state(path: Path) -> SiteState | None:
    """The saved state, or None if the file does not exist yet."""
    if not path.exists():
        return None
    return SiteState.from_json(json.loads(path.read_text(encoding="utf-8")))


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
