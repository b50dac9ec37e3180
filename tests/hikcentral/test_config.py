"""HikCentralConfig.from_env: strict parsing, loud failures, no secret in repr."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hikcentral import ConfigError, HikCentralClient, HikCentralConfig

BASE = {
    "HCP_BASE_URL": "https://hcp.example.org",
    "HCP_APP_KEY": "24845963",
    "HCP_APP_SECRET": "tDi4kZ4lHEYMNqCW7uxY",
    "HCP_UTC_OFFSET": "+05:00",
}


def env(**changes: str | None) -> dict[str, str]:
    result = dict(BASE)
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def test_minimal_environment():
    config = HikCentralConfig.from_env(env())
    assert config.base_url == "https://hcp.example.org"
    assert config.app_key == "24845963"
    assert config.app_secret == "tDi4kZ4lHEYMNqCW7uxY"
    assert config.utc_offset.utcoffset(None) == timedelta(hours=5)
    assert config.verify is True
    assert config.user_id is None
    assert (config.connect_timeout, config.read_timeout) == (5.0, 15.0)
    assert config.batch_size == 20  # the catalogue: up to 20 persons per membership call
    assert config.admin_password is None


def test_full_environment(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    config = HikCentralConfig.from_env(
        env(
            HCP_BASE_URL="https://10.0.0.5:8443/artemis/",
            HCP_USER_ID="admin",
            HCP_CA_BUNDLE=str(bundle),
            HCP_CONNECT_TIMEOUT="2.5",
            HCP_READ_TIMEOUT="10",
            HCP_UTC_OFFSET="-03:30",
            HCP_BATCH_SIZE="5",
            HCP_ADMIN_PASSWORD="Adm1n-pass",
        )
    )
    assert config.base_url == "https://10.0.0.5:8443"
    assert config.batch_size == 5
    assert config.admin_password == "Adm1n-pass"
    assert config.user_id == "admin"
    assert config.verify == str(bundle)
    assert (config.connect_timeout, config.read_timeout) == (2.5, 10.0)
    assert config.utc_offset.utcoffset(None) == -timedelta(hours=3, minutes=30)


def test_secret_from_file(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-a-file\n")
    config = HikCentralConfig.from_env(
        env(HCP_APP_SECRET=None, HCP_APP_SECRET_FILE=str(secret_file))
    )
    assert config.app_secret == "from-a-file"


def test_admin_password_from_file(tmp_path):
    password_file = tmp_path / "admin"
    password_file.write_text("Adm1n-pass\n")
    config = HikCentralConfig.from_env(env(HCP_ADMIN_PASSWORD_FILE=str(password_file)))
    assert config.admin_password == "Adm1n-pass"


def test_secrets_never_in_repr():
    config = HikCentralConfig.from_env(env(HCP_ADMIN_PASSWORD="Adm1n-pass"))
    assert "tDi4kZ4lHEYMNqCW7uxY" not in repr(config)
    assert "Adm1n-pass" not in repr(config)
    client = HikCentralClient(config)
    try:
        assert "tDi4kZ4lHEYMNqCW7uxY" not in repr(client)
        assert "Adm1n-pass" not in repr(client)
    finally:
        client.close()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"HCP_BASE_URL": None}, "HCP_BASE_URL is not set"),
        ({"HCP_BASE_URL": "hcp.example.org"}, "HCP_BASE_URL"),
        ({"HCP_BASE_URL": "ftp://hcp.example.org"}, "HCP_BASE_URL"),
        ({"HCP_BASE_URL": "https://hcp.example.org/api"}, "path"),
        ({"HCP_BASE_URL": "https://hcp.example.org:99999"}, "port"),
        ({"HCP_APP_KEY": ""}, "HCP_APP_KEY is not set"),
        ({"HCP_APP_SECRET": None}, "HCP_APP_SECRET"),
        ({"HCP_APP_SECRET_FILE": "/nonexistent/secret"}, "not both"),
        ({"HCP_UTC_OFFSET": None}, "HCP_UTC_OFFSET is not set"),
        ({"HCP_UTC_OFFSET": "Asia/Almaty"}, "HCP_UTC_OFFSET"),
        ({"HCP_VERIFY_TLS": "maybe"}, "HCP_VERIFY_TLS"),
        ({"HCP_CA_BUNDLE": "/nonexistent/ca.pem"}, "file not found"),
        ({"HCP_CONNECT_TIMEOUT": "fast"}, "HCP_CONNECT_TIMEOUT"),
        ({"HCP_READ_TIMEOUT": "0"}, "HCP_READ_TIMEOUT"),
        ({"HCP_READ_TIMEOUT": "nan"}, "HCP_READ_TIMEOUT"),
        ({"HCP_USER_ID": "a" * 33}, "userId"),
        ({"HCP_USER_ID": "ad/min"}, "userId"),
        ({"HCP_BATCH_SIZE": "0"}, "HCP_BATCH_SIZE"),
        ({"HCP_BATCH_SIZE": "501"}, "HCP_BATCH_SIZE"),
        ({"HCP_BATCH_SIZE": "twenty"}, "HCP_BATCH_SIZE"),
        ({"HCP_ADMIN_PASSWORD": "x", "HCP_ADMIN_PASSWORD_FILE": "/nonexistent/a"}, "not both"),
    ],
)
def test_bad_values_fail_loudly(changes, message):
    with pytest.raises(ConfigError, match=message):
        HikCentralConfig.from_env(env(**changes))


def test_missing_secret_file(tmp_path):
    with pytest.raises(ConfigError, match="HCP_APP_SECRET_FILE cannot be read"):
        HikCentralConfig.from_env(
            env(HCP_APP_SECRET=None, HCP_APP_SECRET_FILE=str(tmp_path / "missing"))
        )
    with pytest.raises(ConfigError, match="HCP_ADMIN_PASSWORD_FILE cannot be read"):
        HikCentralConfig.from_env(env(HCP_ADMIN_PASSWORD_FILE=str(tmp_path / "missing")))


def test_bundle_and_opt_out_contradict(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("x")
    with pytest.raises(ConfigError, match="choose one"):
        HikCentralConfig.from_env(env(HCP_VERIFY_TLS="false", HCP_CA_BUNDLE=str(bundle)))


@pytest.mark.parametrize(("text", "expected"), [("true", True), ("FALSE", False), ("0", False)])
def test_verify_flag(text, expected):
    assert HikCentralConfig.from_env(env(HCP_VERIFY_TLS=text)).verify is expected


def test_direct_construction_accepts_timedelta():
    config = HikCentralConfig(
        base_url="http://127.0.0.1:8080",
        app_key="k",
        app_secret="s",
        utc_offset=timedelta(hours=6),  # type: ignore[arg-type]
    )
    assert config.utc_offset.utcoffset(None) == timedelta(hours=6)
