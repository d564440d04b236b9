import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from tests.traces.factories import trace_payload
from traces.models import Trace, TraceStatus

URL = "/api/traces/"

pytestmark = pytest.mark.django_db


def post(client, body, **extra):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(URL, data=data, content_type="application/json", **extra)


def test_it_stores_one_posted_trace_as_received(agent_client, agent):
    response = post(agent_client, trace_payload(external_id="t-1"))

    assert response.status_code == 201, response.content
    result = response.json()["results"][0]
    assert result["status"] == "accepted"
    trace = Trace.objects.get(pk=result["id"])
    assert (trace.agent, trace.external_id, trace.status) == (agent, "t-1", TraceStatus.RECEIVED)
    assert trace.occurred_at == datetime(2026, 12, 1, 15, 2, 11, tzinfo=UTC)
    assert abs(trace.received_at - timezone.now()) < timedelta(minutes=1)
    assert (trace.secrets_redacted, trace.scrubbed_context, trace.pii_found, trace.quarantined) == (0, None, {}, False)
    assert trace.tool_calls[1]["args"]["event_id"] == "evt_1"
    assert trace.task_category == "scheduling"


def test_it_takes_the_modality_from_the_agent(db):
    from rest_framework.test import APIClient

    from traces.services import agent_create

    agent, token = agent_create(name="texter", modality="sms")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    response = post(client, trace_payload())

    assert Trace.objects.get(pk=response.json()["results"][0]["id"]).modality == "sms"


def test_it_stores_a_batch_and_answers_each_item(agent_client):
    batch = [trace_payload() for _ in range(3)]

    response = post(agent_client, {"traces": batch})

    assert response.status_code == 201
    body = response.json()
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (3, 0, 0)
    assert [r["external_id"] for r in body["results"]] == [t["external_id"] for t in batch]
    assert Trace.objects.count() == 3


def test_it_fills_optional_fields_with_defaults(agent_client):
    response = post(agent_client, {"external_id": "min", "conversation_id": "c", "user_message": "hi"})

    assert response.status_code == 201, response.content
    trace = Trace.objects.get(external_id="min")
    assert (trace.tool_calls, trace.context, trace.final_response, trace.task_category) == ([], {}, "", "other")
    assert trace.occurred_at is not None


def test_a_repeated_external_id_answers_duplicate_with_the_same_id(agent_client):
    payload = trace_payload()
    first = post(agent_client, payload).json()["results"][0]

    response = post(agent_client, payload)

    assert response.status_code == 200
    result = response.json()["results"][0]
    assert result == {"index": 0, "external_id": payload["external_id"], "status": "duplicate", "id": first["id"]}
    assert Trace.objects.count() == 1


def test_the_same_external_id_twice_in_one_batch_is_stored_once(agent_client):
    payload = trace_payload()

    response = post(agent_client, {"traces": [payload, payload]})

    results = response.json()["results"]
    assert [r["status"] for r in results] == ["accepted", "duplicate"]
    assert results[0]["id"] == results[1]["id"]
    assert response.status_code == 207
    assert Trace.objects.count() == 1


def test_external_ids_are_scoped_per_agent(agent_client, db):
    from rest_framework.test import APIClient

    from traces.services import agent_create

    _other, token = agent_create(name="scheduler")
    other_client = APIClient()
    other_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    payload = trace_payload()

    assert post(agent_client, payload).status_code == 201
    assert post(other_client, payload).status_code == 201
    assert Trace.objects.filter(external_id=payload["external_id"]).count() == 2


def test_a_mixed_batch_stores_the_valid_items_and_answers_207(agent_client):
    good, bad, dup = trace_payload(), trace_payload(user_message=42), trace_payload()
    post(agent_client, dup)

    response = post(agent_client, {"traces": [good, bad, dup]})

    assert response.status_code == 207
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected", "duplicate"]
    assert results[1]["errors"] == {"user_message": ["Must be a string, got a number."]}
    assert results[1]["id"] is None
    assert Trace.objects.filter(external_id=good["external_id"]).exists()
    assert not Trace.objects.filter(external_id=bad["external_id"]).exists()


def test_accepted_and_duplicate_together_answer_207(agent_client):
    old = trace_payload()
    post(agent_client, old)

    response = post(agent_client, {"traces": [old, trace_payload()]})

    assert response.status_code == 207
    assert [r["status"] for r in response.json()["results"]] == ["duplicate", "accepted"]


def test_it_counts_redacted_secrets_in_the_answer(agent_client):
    response = post(agent_client, trace_payload(user_message="my password is Tr0ub4dor&3x, keep it"))

    result = response.json()["results"][0]
    assert result["secrets_redacted"] == 1
    trace = Trace.objects.get(pk=result["id"])
    assert trace.secrets_redacted == 1
    assert trace.user_message == "my password is <SECRET:PASSWORD>, keep it"


def test_a_batch_costs_a_few_queries_not_one_per_trace(agent_client, django_assert_max_num_queries):
    batch = [trace_payload() for _ in range(200)]

    # PostgreSQL: ~6 (COPY + one INSERT); SQLite: bulk_create splits by its 999-parameter limit.
    with django_assert_max_num_queries(20):
        response = post(agent_client, {"traces": batch})

    assert response.status_code == 201
