"""``--org NAME``: an organisation the site always has (``make run`` keeps our persons there)."""

from __future__ import annotations

from pathlib import Path

from hcp_simulator.testing import running_simulator

ORG = "Propusk visitors"


def _orgs(sim) -> list[tuple[str, str, str]]:
    return [
        (org["orgIndexCode"], org["orgName"], org["parentOrgIndexCode"])
        for org in sim.control.state()["orgs"]
    ]


def test_the_org_is_there_at_start_after_a_restart_and_after_reset(tmp_path: Path) -> None:
    state_file = tmp_path / "site.json"
    with running_simulator(seed_demo=True, state_file=state_file, extra_args=["--org", ORG]) as sim:
        assert _orgs(sim) == [("1", "Root", "0"), ("2", ORG, "1")]
        sim.control.add_org("7", "Faculty of Physics")
        sim.control.reset()
        assert _orgs(sim) == [("1", "Root", "0"), ("2", ORG, "1")]
        sim.control.add_org("3", "Library")
    # A state file from an earlier run keeps its orgs; the named one is not added twice.
    with running_simulator(state_file=state_file, extra_args=["--org", ORG]) as sim:
        assert _orgs(sim) == [("1", "Root", "0"), ("2", ORG, "1"), ("3", "Library", "1")]
