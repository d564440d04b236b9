import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from zeke_rft.settings import database_from_url, env_bool

ROOT = Path(__file__).resolve().parent.parent


def _environment_without(*names, **values) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in names}
    env.update(DJANGO_SETTINGS_MODULE="zeke_rft.settings", **values)
    return env


def _django_setup(env) -> subprocess.CompletedProcess:
    code = "import django; django.setup(); from django.conf import settings; print('DEBUG', settings.DEBUG)"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)


def test_it_refuses_to_start_without_secret_key_when_debug_is_off():
    result = _django_setup(_environment_without("SECRET_KEY", DEBUG="false"))
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_it_refuses_to_start_without_allowed_hosts_when_debug_is_off():
    result = _django_setup(_environment_without("ALLOWED_HOSTS", DEBUG="false"))
    assert result.returncode != 0
    assert "ALLOWED_HOSTS is not set" in result.stderr


def test_debug_is_off_when_the_environment_does_not_set_it():
    result = _django_setup(_environment_without("DEBUG"))
    assert result.returncode == 0, result.stderr
    assert "DEBUG False" in result.stdout


def test_debug_starts_without_secret_key_or_allowed_hosts_as_make_run_does():
    result = _django_setup(_environment_without("SECRET_KEY", "ALLOWED_HOSTS", DEBUG="true"))
    assert result.returncode == 0, result.stderr
    assert "DEBUG True" in result.stdout


def _production_environment() -> dict:
    """The documented production variables (deploy/zeke-rft.env) with a real secret key filled in."""
    values = {}
    for line in (ROOT / "deploy" / "zeke-rft.env").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    # Local engines and folders stay those of this test run: `check --deploy` does not connect to them.
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "TRACE_STORAGE_URL", "ZEKE_VAR_DIR"):
        values.pop(name)
    values["SECRET_KEY"] = secrets.token_urlsafe(50)
    names = ("SECRET_KEY", "ALLOWED_HOSTS", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE")
    names += ("DJANGO_ALLOW_ASYNC_UNSAFE",)  # set for the browser tests only (tests/conftest.py)
    return _environment_without(*names, **values)


def test_check_deploy_is_clean_with_the_documented_production_variables():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=_production_environment(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_when_hsts_is_left_out():
    env = _production_environment()
    env["SECURE_HSTS_SECONDS"] = "0"
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "security.W004" in result.stderr


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
