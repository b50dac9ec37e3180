"""The alert rules (deploy/prometheus/propusk-alerts.yml) name only what /metrics exports,
with label values it really uses, and each has a severity and a runbook entry in
docs/metrics.md."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from hikcentral import OUTCOMES
from hikcentral.client import Paths
from propusk.integrations.hikcentral.call_metrics import call_recorder
from tests.metrics.conftest import Scrape

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "propusk-alerts.yml"
DOCS = ROOT / "docs" / "metrics.md"
METRIC = re.compile(r"\b(propusk_[a-z0-9_]+)\b(\{[^}]*\})?")
MATCHER = re.compile(r'([a-z_]+)\s*=\s*"([^"]*)"')
OUTCOME_REGEX = re.compile(r'outcome\s*[=!]~\s*"([^"]*)"')
REQUIRED = {
    "PropuskRevocationOverdue",
    "PropuskHikCentralUnreachable",
    "PropuskAccessWorkFailed",
    "PropuskEventPollingStale",
    "PropuskNotificationsFailing",
    "PropuskEventBacklogGrowing",
}


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def anchors() -> set[str]:
    """GitHub's anchors of the headings of docs/metrics.md."""
    headings = re.findall(r"^#+ (.+)$", DOCS.read_text(encoding="utf-8"), flags=re.MULTILINE)
    return {re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_the_rules_cover_what_must_wake_someone_up():
    names = [rule["alert"] for rule in rules()]
    assert len(names) == len(set(names))
    assert set(names) >= REQUIRED
    severities = {rule["alert"]: rule["labels"]["severity"] for rule in rules()}
    assert severities["PropuskRevocationOverdue"] == "critical"
    assert severities["PropuskHikCentralUnreachable"] == "critical"
    assert set(severities.values()) <= {"critical", "warning"}


def test_every_rule_has_a_runbook_entry():
    documented = anchors()
    for rule in rules():
        runbook = rule["annotations"]["runbook"]
        page, _, anchor = runbook.partition("#")
        assert page == "docs/metrics.md", rule["alert"]
        assert anchor in documented, (rule["alert"], anchor)


def test_every_expression_names_exported_metrics_and_labels(scrape: Callable[[], Scrape]):
    # The HCP call counts have a series once a call of that endpoint and outcome was made.
    recorder = call_recorder()
    recorder(Paths.VERSION, "ok", 0.02)
    recorder(Paths.VERSION, "quota", 0.02)
    exported = scrape()
    for rule in rules():
        expr = rule["expr"]
        found = METRIC.findall(expr)
        if rule["alert"] != "PropuskMetricsDown":
            assert found, rule["alert"]
        for name, selector in found:
            assert name in exported.names(), (rule["alert"], name)
            wanted = dict(MATCHER.findall(selector))
            matching = [
                labels
                for labels, _ in exported.samples[name]
                if all(labels.get(key) == value for key, value in wanted.items())
            ]
            assert matching, (rule["alert"], name, wanted)
        for alternatives in OUTCOME_REGEX.findall(expr):
            assert set(alternatives.split("|")) <= set(OUTCOMES), (rule["alert"], alternatives)


def test_the_hcp_call_rules_name_the_right_outcomes():
    """The failure and quota rules are there, and name the outcomes they must."""
    by_name = {rule["alert"]: rule for rule in rules()}
    failing = by_name["PropuskHikCentralCallsFailing"]["expr"]
    quota = by_name["PropuskHikCentralQuotaRefused"]["expr"]
    excluded = set(OUTCOME_REGEX.findall(failing)[0].split("|"))
    # Every failure a call can end with counts, except HCP's "not found" answer and the quota.
    assert excluded == {
        "ok",
        "hcp_not_found",
        "quota",
        "circuit_open",
        "rate_limit_wait",
        "not_sent",
    }
    assert 'outcome="quota"' in quota
