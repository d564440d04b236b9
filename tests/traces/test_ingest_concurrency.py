"""Two requests racing with the same external_id store one row and answer the same id (PostgreSQL)."""

import json
import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from tests.traces.factories import trace_payload
from traces.models import Trace
from traces.services import agent_create

THREADS = 8


def _race(token: str, bodies: list[dict]) -> list:
    barrier = threading.Barrier(len(bodies))
    answers: list = [None] * len(bodies)

    def worker(slot: int):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        barrier.wait()
        try:
            answers[slot] = client.post("/api/traces/", data=json.dumps(bodies[slot]), content_type="application/json")
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(slot,)) for slot in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_of_one_external_id_store_exactly_one_row(on_postgres):
    _agent, token = agent_create(name="racer")
    payload = trace_payload(external_id="race-1")

    answers = _race(token, [payload] * THREADS)

    assert all(answer is not None and answer.status_code in (200, 201) for answer in answers)
    ids = {answer.json()["results"][0]["id"] for answer in answers}
    statuses = sorted(answer.json()["results"][0]["status"] for answer in answers)
    assert statuses == ["accepted"] + ["duplicate"] * (THREADS - 1)  # RETURNING tells exactly one request it won
    assert Trace.objects.filter(external_id="race-1").count() == 1
    assert ids == {Trace.objects.get(external_id="race-1").pk}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_overlapping_batches_store_each_trace_once(on_postgres):
    _agent, token = agent_create(name="batch-racer")
    shared = [trace_payload(external_id=f"shared-{n}") for n in range(50)]
    bodies = [{"traces": shared + [trace_payload(external_id=f"own-{slot}")]} for slot in range(THREADS)]

    answers = _race(token, bodies)

    assert Trace.objects.count() == 50 + THREADS
    for n in range(50):
        ids = {answer.json()["results"][n]["id"] for answer in answers}
        assert ids == {Trace.objects.get(external_id=f"shared-{n}").pk}
        assert [answer.json()["results"][n]["status"] for answer in answers].count("accepted") == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_of_one_agent_name_make_one_agent_and_name_the_clash(on_postgres):
    from django.core.exceptions import ValidationError

    from traces.models import Agent

    barrier = threading.Barrier(THREADS)
    outcomes: list = []

    def create():
        barrier.wait()
        try:
            agent_create(name="twin")
            outcomes.append("created")
        except ValidationError as exc:
            outcomes.append(exc.message_dict["name"][0])
        except Exception as exc:  # an IntegrityError here would be a 500 in admin and a traceback in the command
            outcomes.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=create) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes) == ["an agent named 'twin' already exists"] * (THREADS - 1) + ["created"]
    assert Agent.objects.filter(name="twin").count() == 1
