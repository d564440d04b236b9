import socket
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from traces.models import Trace
from traces.services import agent_create

URL = "/api/agents/status"

pytestmark = pytest.mark.django_db


def make_trace(agent, number: int, received_ago: timedelta):
    trace = Trace.objects.create(
        agent=agent, external_id=f"s-{number}", conversation_id="c", user_message="hi", occurred_at=timezone.now()
    )
    Trace.objects.filter(pk=trace.pk).update(received_at=timezone.now() - received_ago)
    return trace


def test_it_reports_database_broker_agents_policies_and_alerts(agent_client, agent, settings):
    settings.CELERY_BROKER_URL = ""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    idle, _token = agent_create(name="idle-agent", modality="voice")
    make_trace(agent, 1, timedelta(hours=30))
    make_trace(agent, 2, timedelta(hours=2))
    newest = make_trace(agent, 3, timedelta(minutes=5))

    response = agent_client.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["database"]["reachable"] is True
    assert body["broker"] == {"mode": "eager", "reachable": True}
    by_name = {row["name"]: row for row in body["agents"]}
    assert by_name["conductor"]["traces_24h"] == 2
    newest.refresh_from_db()
    assert by_name["conductor"]["last_trace_at"].replace("Z", "+00:00") == newest.received_at.isoformat()
    assert by_name["idle-agent"] == {
        "name": "idle-agent",
        "modality": "voice",
        "active": True,
        "last_trace_at": None,
        "traces_24h": 0,
    }
    assert body["active_policies"] == {}
    assert body["alerts"] == []


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens on it once the socket closes


@pytest.mark.parametrize("eager", [False, True])
def test_a_broker_that_is_down_makes_it_503_and_still_reports_the_rest(agent_client, agent, settings, eager):
    port = closed_port()
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{port}/0"
    settings.CELERY_TASK_ALWAYS_EAGER = eager
    make_trace(agent, 1, timedelta(minutes=5))

    response = agent_client.get(URL)

    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False
    assert body["broker"]["mode"] == "broker"
    assert body["broker"]["reachable"] is False
    assert f"127.0.0.1:{port}" in body["broker"]["error"]
    assert body["database"]["reachable"] is True
    assert [(row["name"], row["traces_24h"]) for row in body["agents"]] == [("conductor", 1)]


@pytest.mark.redis
def test_a_reachable_redis_broker_is_reported(agent_client, settings):
    import redis

    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/15"
    settings.CELERY_TASK_ALWAYS_EAGER = False

    body = agent_client.get(URL).json()

    assert body["broker"] == {"mode": "broker", "reachable": True}


def test_it_needs_a_token_or_a_login(db):
    assert APIClient().get(URL).status_code == 401


def test_a_logged_in_admin_can_read_it(admin_client, settings):
    settings.CELERY_BROKER_URL = ""
    settings.CELERY_TASK_ALWAYS_EAGER = True

    assert admin_client.get(URL).status_code == 200


def test_the_openapi_schema_documents_the_ingestion_api(client):
    response = client.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    schema = response.json()
    operation = schema["paths"]["/api/traces/"]["post"]
    assert set(operation["responses"]) >= {"200", "201", "207", "400", "401", "403", "413"}
    trace_input = schema["components"]["schemas"]["TraceInput"]
    assert {"external_id", "conversation_id", "user_message"} <= set(trace_input["required"])
    assert "tool_calls" in trace_input["properties"]
    assert "/api/agents/status" in schema["paths"]


def test_the_browsable_api_docs_load(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


@pytest.fixture
def database_down(monkeypatch):
    """Every new query fails as it does when PostgreSQL is gone (the connection is what crosses the network)."""
    from django.db import OperationalError, connection

    def refuse(*args, **kwargs):
        raise OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused")

    def down():
        monkeypatch.setattr(connection, "cursor", refuse)

    return down


def test_a_database_that_is_down_makes_it_503_not_500(agent_client, settings, database_down):
    settings.CELERY_BROKER_URL = ""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    database_down()

    response = agent_client.get(URL)

    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False
    assert body["database"]["reachable"] is False
    assert body["broker"] == {"mode": "eager", "reachable": True}
    assert "agents" not in body  # the token could not be checked, so nothing per agent is shown
