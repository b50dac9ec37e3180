"""The ``hcp_check`` management command against the simulator (needs Django settings)."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.simulator


@pytest.fixture
def hcp_settings(settings, site):
    settings.HCP_BASE_URL = site.base_url
    settings.HCP_APP_KEY = site.app_key
    settings.HCP_APP_SECRET = site.app_secret
    settings.HCP_APP_SECRET_FILE = ""
    settings.HCP_USER_ID = "admin"
    settings.HCP_VERIFY_TLS = True
    settings.HCP_CA_BUNDLE = ""
    settings.HCP_CONNECT_TIMEOUT = 2.0
    settings.HCP_READ_TIMEOUT = 2.0
    settings.HCP_UTC_OFFSET = "+05:00"
    return settings


def test_prints_version_levels_and_doors(hcp_settings):
    out = io.StringIO()
    call_command("hcp_check", stdout=out)
    text = out.getvalue()
    assert f"HCP: {hcp_settings.HCP_BASE_URL} (TLS verification: system CA store)" in text
    assert "Version: HikCentral Professional V2.6.0" in text
    assert "Access levels: 2" in text
    assert "  10: Main entrance" in text
    assert "Doors: 12" in text
    assert "  12: Turnstile 12" in text
    assert "HCP connection OK" in text


def test_fails_loudly_on_a_rejected_signature(hcp_settings):
    hcp_settings.HCP_APP_SECRET = "not-the-secret"
    with pytest.raises(CommandError) as info:
        call_command("hcp_check", stdout=io.StringIO())
    message = str(info.value)
    assert "HCPSignatureRejected" in message
    assert "permanent" in message
    assert "HCP_APP_KEY / HCP_APP_SECRET" in message
    assert "clock" in message  # a skewed clock is rejected the same way (stale X-Ca-Timestamp)
    assert "not-the-secret" not in message


def test_fails_loudly_on_missing_settings(hcp_settings):
    hcp_settings.HCP_BASE_URL = ""
    with pytest.raises(CommandError, match="HCP_BASE_URL is not set"):
        call_command("hcp_check", stdout=io.StringIO())


def test_transient_failure_is_reported_as_such(hcp_settings, site):
    site.control.add_fault("http", path="/api/common/v1/version", count=1, status=503)
    with pytest.raises(CommandError, match=r"HCPServerError, transient"):
        call_command("hcp_check", stdout=io.StringIO())
