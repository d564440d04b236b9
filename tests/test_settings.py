import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from zeke_rft.settings import database_from_url, env_bool

ROOT = Path(__file__).resolve().parent.parent


def test_it_refuses_to_start_without_secret_key_when_debug_is_off():
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY",)}
    env.update(DEBUG="false", DJANGO_SETTINGS_MODULE="zeke_rft.settings")
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_it_parses_a_postgres_database_url():
    config = database_from_url("postgres://postgres:pw@127.0.0.1:5432/zeke")
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["NAME"], config["USER"], config["PASSWORD"], config["HOST"], config["PORT"]) == (
        "zeke",
        "postgres",
        "pw",
        "127.0.0.1",
        "5432",
    )


def test_it_rejects_an_unknown_database_scheme():
    with pytest.raises(ImproperlyConfigured, match="mysql"):
        database_from_url("mysql://root@localhost/x")


def test_it_rejects_a_boolean_it_cannot_read(monkeypatch):
    monkeypatch.setenv("SOME_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="SOME_FLAG"):
        env_bool("SOME_FLAG")


def test_an_in_memory_sqlite_url_is_not_a_file_at_the_root():
    assert database_from_url("sqlite:///:memory:")["NAME"] == ":memory:"
    assert database_from_url("sqlite:////tmp/x.sqlite3")["NAME"] == "/tmp/x.sqlite3"
