"""A secret and a person planted in every field, key and tool name, and in what the reviewer types, are
absent from every store and export: database rows (history included), the review panel, the Parquet
partition, the dataset files and the files uploaded to the (fake) provider."""

import io
import json

import pandas as pd
import pytest
from django.urls import reverse

from tests.fakes.openai_server import FakeOpenAI

SECRET = "npm_Zq8Xw3Lk9Vb2Nm7Pq4Rs6Tu1Vw5Xy0Za3Bc8D9"
EMAIL = "zelda.quist@example.org"
NAME = "Zelda Quist"
PII = [EMAIL, "Zelda", "Quist"]


def planted_trace(i: int) -> dict:
    return {
        "external_id": f"e2e-{i}-{EMAIL}-{SECRET}",
        "conversation_id": f"conv-{i} {EMAIL} {SECRET}",
        "user_message": f"Please look up {NAME} ({EMAIL}) for case {i}; the registry token is {SECRET}",
        "context": {
            "customer": {"name": NAME, "email": EMAIL, "api_token": SECRET},
            EMAIL: {"note": f"token {SECRET}"},
            f"{SECRET}": "seen",
        },
        "selected_tools": ["crm.lookup", f"notify-{EMAIL}", f"tool-{SECRET}"],
        "tool_calls": [
            {
                "name": "crm.lookup",
                "args": {"email": EMAIL, EMAIL: NAME, "query": f"{NAME} {SECRET}"},
                "result": {"first_name": "Zelda", "last_name": "Quist", "status": "active", "tier": "gold"},
                "error": None,
                "latency_ms": 40,
            },
            {
                "name": f"notify-{EMAIL}",
                "args": {"channel": "ops"},
                "result": {"ok": True},
                "error": None,
                "latency_ms": 12,
            },
            {"name": f"tool-{SECRET}", "args": {}, "result": "done", "error": None, "latency_ms": 5},
        ],
        "final_response": f"{NAME} is an active gold customer; her email is {EMAIL}.",
        "flags": [f"followup-{EMAIL}", SECRET],
        "policy_id": f"policy-{EMAIL}-{SECRET}",
        "task_category": "research",
        "occurred_at": "2026-11-30T10:00:00Z",
    }


def reviewer_typed() -> dict:
    return {
        "correction": f"Tell {NAME} at {EMAIL} that her account is active (token {SECRET}).",
        "corrected_tool_calls": [
            {"name": f"notify-{EMAIL}", "args": {"to": EMAIL, "token": SECRET, EMAIL: NAME}, "result": {"ok": True}}
        ],
        "rationale": f"{NAME} asked; pw is {SECRET}",
        "safety_notes": f"mentions {EMAIL}",
    }


def assert_clean(text: str, where: str, *, pii: bool = True) -> None:
    assert SECRET not in text and SECRET[4:] not in text, f"the secret is in {where}"
    for value in PII if pii else []:
        assert value not in text, f"{value!r} is in {where}"


@pytest.fixture
def reviewer(django_user_model):
    from labeling.access import reviewers_group

    user = django_user_model.objects.create_user("zeke-reviewer", password="pw-12345678")
    reviewers_group().user_set.add(user)
    return user


@pytest.fixture
def fake_openai(settings):
    with FakeOpenAI() as fake:
        settings.OPENAI_API_KEY = "test-key"
        settings.OPENAI_BASE_URL = fake.base_url
        settings.OPENAI_AZURE_ENDPOINT = ""
        yield fake


@pytest.mark.django_db(transaction=True)
def test_a_planted_secret_and_person_reach_no_store_and_no_export(
    agent_client, client, reviewer, fake_openai, django_capture_on_commit_callbacks
):
    from labeling import services as labeling
    from labeling.models import LabelTask, ScoreCard
    from tests.labeling.conftest import SCORES
    from traces.filtering import filter_run
    from traces.models import Trace, TraceStatus
    from traces.partitions import partition_export, partition_key
    from training.services import dataset_build, training_run_create
    from zeke_rft.storage import get_storage

    body = json.dumps({"traces": [planted_trace(i) for i in range(8)]})
    response = agent_client.post("/api/traces/", data=body, content_type="application/json")
    assert response.status_code == 201, response.content
    filter_run(trigger="command")
    traces = list(Trace.objects.order_by("pk"))
    assert [t.status for t in traces] == [TraceStatus.ELIGIBLE] * 8, [(t.drop_reason, t.drop_detail) for t in traces]

    # the review panel shows only the scrubbed copy
    labeling.label_tasks_add(trace_ids=[t.pk for t in traces], reason="stratified")
    client.force_login(reviewer)
    task = LabelTask.objects.order_by("pk").first()
    page = client.get(reverse("labeling:item", args=[task.pk]))
    assert page.status_code == 200
    assert_clean(page.content.decode(), "the review panel")

    # what the reviewer types is scrubbed before it is stored
    for task in LabelTask.objects.order_by("pk"):
        labeling.scorecard_submit(task=task, reviewer=reviewer, **SCORES, **reviewer_typed())
    assert ScoreCard.objects.count() == 8

    # database: raw columns hold no secret; scrubbed columns, cards and their history hold no person either
    rows = json.dumps(list(Trace.objects.values()), default=str)
    assert_clean(rows, "the trace rows", pii=False)
    scrubbed = json.dumps(
        list(Trace.objects.values(*[f.name for f in Trace._meta.fields if f.name.startswith("scrubbed_")])),
        default=str,
    )
    assert_clean(scrubbed, "the scrubbed columns")
    assert_clean(json.dumps(list(ScoreCard.objects.values()), default=str), "the score cards")
    assert_clean(json.dumps(list(ScoreCard.history.values()), default=str), "the score cards' history")
    assert_clean(json.dumps(list(LabelTask.history.values()), default=str), "the tasks' history")

    # Parquet partition
    export = partition_export(day=traces[0].occurred_at.date())
    data = get_storage().read_bytes(partition_key(traces[0].occurred_at.date()))
    assert export.rows == 8
    assert_clean(pd.read_parquet(io.BytesIO(data)).to_json() + data.decode("latin-1"), "the Parquet partition")

    # dataset files, then the files uploaded to the provider
    build, _ = dataset_build(stage=3, modality="chat")
    assert build.status == "succeeded", build.error
    for name, stored in build.files.items():
        assert_clean(get_storage().read_bytes(stored["key"]).decode(), f"dataset file {name}")
    assert_clean(get_storage().read_bytes(f"datasets/{build.sha256}/manifest.json").decode(), "the manifest")
    with django_capture_on_commit_callbacks(execute=True):
        training_run_create(dataset=build)
    uploads = [record["_content"].decode() for record in fake_openai.files.values()]
    assert uploads
    for content in uploads:
        assert_clean(content, "a file uploaded to the provider")
    assert "<EMAIL_ADDRESS_" in "".join(uploads) and "<PERSON_" in "".join(uploads)
