"""Reading /metrics as Prometheus does: over HTTP, parsed by prometheus_client's parser."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from propusk.metrics import views
from tests.passages.conftest import (  # noqa: F401 - fixtures
    _no_face_check,
    make_visit,
)

TOKEN = "metrics-token-Zq8vW3kP0sLr7TnY2bXe"


@dataclass
class Scrape:
    """One scrape's samples: ``value(name, **labels)`` is the one sample that matches."""

    text: str
    samples: dict[str, list[tuple[dict[str, str], float]]]
    families: dict[str, str]  # family name -> type

    def value(self, name: str, **labels: str) -> float:
        found = [
            value
            for sample_labels, value in self.samples.get(name, [])
            if all(sample_labels.get(key) == wanted for key, wanted in labels.items())
        ]
        assert len(found) == 1, (name, labels, self.samples.get(name))
        return found[0]

    def names(self) -> set[str]:
        return set(self.samples)


def parse(text: str) -> Scrape:
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    families = {}
    for family in text_string_to_metric_families(text):
        families[family.name] = family.type
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return Scrape(text=text, samples=samples, families=families)


@pytest.fixture(autouse=True)
def _no_cache(settings: Any) -> None:
    """Every scrape reads the database (the cache's own test turns it on)."""
    settings.PROPUSK_METRICS_CACHE_SECONDS = 0
    views.exposition.clear()


@pytest.fixture
def metrics_token(settings: Any) -> str:
    settings.PROPUSK_METRICS_TOKEN = TOKEN
    return TOKEN


@pytest.fixture
def scrape(metrics_token: str) -> Callable[[], Scrape]:
    """Prometheus' scrape: GET /metrics with the bearer token; asserts 200."""

    def run() -> Scrape:
        response = Client().get("/metrics", headers={"authorization": f"Bearer {metrics_token}"})
        assert response.status_code == 200, response.content
        assert response["Content-Type"].startswith("text/plain; version=0.0.4")
        return parse(response.content.decode())

    return run
