"""Settings from the environment: strict parsing, secrets from files, the env file."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from propusk.core.env import Env, read_env_file


def make(tmp_path, **values):
    """An Env over exactly these values (no env file)."""
    return Env({"PROPUSK_ENV_FILE": "/dev/null", **values})


def test_defaults_apply_when_unset_or_empty(tmp_path):
    env = make(tmp_path, EMPTY="")
    assert env.get_str("MISSING", "d") == "d"
    assert env.get_str("EMPTY", "d") == "d"
    assert env.get_bool("MISSING", True) is True
    assert env.get_int("MISSING", 3) == 3
    assert env.get_list("MISSING", ["a"]) == ["a"]


@pytest.mark.parametrize(
    ("raw", "expected"), [("true", True), ("Yes", True), ("0", False), ("off", False)]
)
def test_booleans(tmp_path, raw, expected):
    assert make(tmp_path, FLAG=raw).get_bool("FLAG", not expected) is expected


@pytest.mark.parametrize(
    ("method", "raw", "message"),
    [
        ("get_bool", "maybe", "FLAG='maybe' is not a boolean"),
        ("get_int", "12x", "FLAG='12x' is not an integer"),
        ("get_float", "fast", "FLAG='fast' is not a number"),
    ],
)
def test_malformed_values_stop_the_process_naming_the_variable(tmp_path, method, raw, message):
    env = make(tmp_path, FLAG=raw)
    with pytest.raises(ImproperlyConfigured, match=message):
        getattr(env, method)("FLAG", 1)


def test_lists_are_comma_separated_and_trimmed(tmp_path):
    assert make(tmp_path, HOSTS=" a.example , b.example,,").get_list("HOSTS", []) == [
        "a.example",
        "b.example",
    ]


def test_secret_from_a_file(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("s3cret\n")
    env = make(tmp_path, HCP_APP_SECRET_FILE=str(secret_file))
    assert env.secret("HCP_APP_SECRET") == "s3cret"


def test_secret_refuses_both_forms_a_missing_file_and_an_empty_file(tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(ImproperlyConfigured, match="not both"):
        make(tmp_path, KEY="a", KEY_FILE=str(empty)).secret("KEY")
    with pytest.raises(ImproperlyConfigured, match="KEY_FILE="):
        make(tmp_path, KEY_FILE=str(tmp_path / "absent")).secret("KEY")
    with pytest.raises(ImproperlyConfigured, match="is empty"):
        make(tmp_path, KEY_FILE=str(empty)).secret("KEY")


def test_required_secret_missing_is_an_error_optional_is_empty(tmp_path):
    env = make(tmp_path)
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRET_KEY is not set"):
        env.secret("DJANGO_SECRET_KEY")
    assert env.secret("HCP_APP_SECRET", required=False) == ""


def test_env_file_supplies_defaults_and_the_environment_wins(tmp_path):
    env_file = tmp_path / "dev.env"
    env_file.write_text("# comment\nA=from-file\nB='quoted value'\n")
    env = Env({"PROPUSK_ENV_FILE": str(env_file), "A": "from-env"})
    assert env.get_str("A", "") == "from-env"
    assert env.get_str("B", "") == "quoted value"


def test_env_file_named_but_missing_is_an_error(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="does not exist"):
        Env({"PROPUSK_ENV_FILE": str(tmp_path / "absent.env")})


def test_env_file_with_a_bad_line_names_the_line(tmp_path):
    env_file = tmp_path / "bad.env"
    env_file.write_text("A=1\nnot a pair\n")
    with pytest.raises(ImproperlyConfigured, match=r"bad.env:2"):
        read_env_file(env_file)


def test_database_urls(tmp_path):
    sqlite = make(tmp_path).db("DATABASE_URL", "sqlite:////tmp/x.sqlite3")
    assert sqlite["ENGINE"] == "django.db.backends.sqlite3"
    postgres = make(tmp_path, DATABASE_URL="postgres://u:p@db:5432/propusk").db("DATABASE_URL", "")
    assert postgres["ENGINE"] == "django.db.backends.postgresql"
    assert (postgres["HOST"], postgres["NAME"]) == ("db", "propusk")
    assert postgres["CONN_HEALTH_CHECKS"] is True
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL is not a valid database URL"):
        make(tmp_path, DATABASE_URL="nonsense://x").db("DATABASE_URL", "")


def test_cache_url(tmp_path):
    default = make(tmp_path).cache("CACHE_URL")
    assert default["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"
    redis = make(tmp_path, CACHE_URL="redis://cache.internal:6379/1").cache("CACHE_URL")
    assert redis == {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://cache.internal:6379/1",
    }
    with pytest.raises(ImproperlyConfigured, match="CACHE_URL is not a valid cache URL"):
        make(tmp_path, CACHE_URL="mysql://nope").cache("CACHE_URL")
