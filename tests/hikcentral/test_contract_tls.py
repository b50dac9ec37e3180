"""Contract: TLS against the simulator's --tls mode (a self-signed CA, like most HCP sites)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hcp_simulator.testing import SimulatorHandle, running_simulator
from hikcentral import HCPTLSError, HikCentralClient

from .conftest import make_config, make_jpeg, seed_site, visitor

pytestmark = pytest.mark.simulator


@pytest.fixture(scope="module")
def tls_simulator() -> Iterator[SimulatorHandle]:
    with running_simulator(tls=True) as sim:
        assert sim.base_url.startswith("https://")
        assert sim.ca_cert_path is not None
        seed_site(sim)
        yield sim


def test_ca_bundle_verifies(tls_simulator):
    config = make_config(tls_simulator, verify=str(tls_simulator.ca_cert_path))
    with HikCentralClient(config) as client:
        assert client.version().soft_version
        person_id = client.add_person(visitor("TLS001"), face_jpeg=make_jpeg())
        assert client.get_person_by_code("TLS001").person_id == person_id


def test_default_verification_refuses_a_self_signed_server(tls_simulator):
    with (
        HikCentralClient(make_config(tls_simulator, verify=True)) as client,
        pytest.raises(HCPTLSError) as info,
    ):
        client.version()
    assert not info.value.retryable
    assert "certificate" in str(info.value).lower()


def test_default_verification_uses_the_system_ca_store(tls_simulator, monkeypatch):
    """verify=True trusts what OpenSSL's default paths hold (the OS store), not a bundled
    certifi copy: a site CA installed in the OS store is trusted. SSL_CERT_FILE is OpenSSL's
    own way to point at the store, which lets the test stand in for an installed CA."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_simulator.ca_cert_path))
    with HikCentralClient(make_config(tls_simulator, verify=True)) as client:
        assert client.version().soft_version


def test_explicit_opt_out(tls_simulator):
    with HikCentralClient(make_config(tls_simulator, verify=False)) as client:
        assert client.version().soft_version


def test_keep_alive_connection_is_reused(tls_simulator):
    """Many calls, one TLS handshake: the pool holds a single kept-alive connection."""
    config = make_config(tls_simulator, verify=str(tls_simulator.ca_cert_path))
    with HikCentralClient(config) as client:
        for _ in range(5):
            client.version()
        pool = client._transport._http._transport._pool  # type: ignore[attr-defined]  # httpx internals
        assert len(pool.connections) == 1
