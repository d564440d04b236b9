"""JSON logs with the request id, and Sentry wired only when a DSN is set."""

import io
import json
import logging

import pytest
import sentry_sdk

from zeke_rft.observability import sentry_init


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.fixture
def log_output():
    """What the configured console handler (LOGGING, JSON in production) writes, one test at a time."""
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous)


def test_each_request_is_logged_as_one_json_line_with_its_request_id(client, db, log_output):
    client.get("/api/agents/status", HTTP_X_REQUEST_ID="follow-me-1")
    lines = [line for line in _json_lines(log_output.getvalue()) if line.get("logger") == "zeke_rft.requests"]
    assert lines[-1]["request_id"] == "follow-me-1"
    assert (lines[-1]["path"], lines[-1]["status"], lines[-1]["level"]) == ("/api/agents/status", 401, "INFO")


def test_django_s_own_error_log_line_carries_the_same_request_id(client, db, log_output):
    client.get("/api/agents/status", HTTP_X_REQUEST_ID="follow-me-2")
    lines = [line for line in _json_lines(log_output.getvalue()) if line.get("logger") == "django.request"]
    assert lines[-1]["request_id"] == "follow-me-2"


def test_sentry_is_not_started_without_a_dsn(settings):
    settings.SENTRY_DSN = ""
    assert sentry_init() is False


def test_sentry_is_started_with_the_dsn_and_sends_no_personal_data(settings):
    settings.SENTRY_DSN = "http://public@127.0.0.1:9/1"  # a closed port: nothing is sent unless an error is captured
    try:
        assert sentry_init() is True
        client = sentry_sdk.get_client()
        assert client.dsn == settings.SENTRY_DSN
        assert client.options["send_default_pii"] is False
    finally:
        sentry_sdk.init(dsn=None)
