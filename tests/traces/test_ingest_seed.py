"""The seed's trace schema (tool_args/tool_results, latency, flags as an object), extra fields, agent rewards."""

import io
import json
from datetime import date

import pandas as pd
import pytest

from labeling.models import RewardEvent, RewardSource
from traces.filtering import filter_run
from traces.models import Trace
from traces.partitions import partition_export, partition_key
from zeke_rft.storage import get_storage

URL = "/api/traces/"

pytestmark = pytest.mark.django_db


def post(client, body):
    return client.post(URL, data=json.dumps(body), content_type="application/json")


def seed_trace(**overrides) -> dict:
    """A trace exactly in the seed's shape (plus the external_id every trace needs)."""
    trace = {
        "external_id": "seed-1",
        "conversation_id": "conv-seed",
        "user_message": "What's on my calendar tomorrow, and text Sam I'm late?",
        "context": {"timezone": "America/Chicago"},
        "selected_tools": ["calendar.list_events", "sms.send"],
        "tool_args": [{"day": "2026-12-02"}, {"to": "contact_42", "body": "Running late"}],
        "tool_results": [{"events": [{"title": "Standup", "start": "09:00"}]}, {"status": "sent"}],
        "final_response": "You have standup at 9:00. I told Sam you're running late.",
        "latency": 2310,
        "flags": {"safety": False, "quality": "low"},
        "occurred_at": "2026-11-30T10:00:00Z",
    }
    trace.update(overrides)
    return trace


def test_a_trace_in_the_seeds_shape_is_stored_with_its_tool_calls_latency_and_flags(agent_client):
    response = post(agent_client, seed_trace())

    assert response.status_code == 201, response.content
    trace = Trace.objects.get()
    assert trace.tool_calls == [
        {"name": "calendar.list_events", "args": {"day": "2026-12-02"},
         "result": {"events": [{"title": "Standup", "start": "09:00"}]}, "error": None, "latency_ms": None},
        {"name": "sms.send", "args": {"to": "contact_42", "body": "Running late"}, "result": {"status": "sent"},
         "error": None, "latency_ms": None},
    ]  # fmt: skip
    assert (trace.latency_ms, trace.flags, trace.extra) == (2310, ["quality:low"], {})


def test_tool_args_keyed_by_tool_name_become_calls_in_selected_tools_order(agent_client):
    post(agent_client, seed_trace(tool_args={"sms.send": {"to": "sam"}, "calendar.list_events": {}},
                                  tool_results={"calendar.list_events": [], "sms.send": "ok"}))  # fmt: skip

    calls = Trace.objects.get().tool_calls
    assert [(call["name"], call["args"], call["result"]) for call in calls] == [
        ("calendar.list_events", {}, []),
        ("sms.send", {"to": "sam"}, "ok"),
    ]


def test_a_tool_result_with_an_error_marks_the_call_failed(agent_client):
    post(agent_client, seed_trace(tool_results=[{"error": "calendar API 503"}]))

    calls = Trace.objects.get().tool_calls
    assert [call["error"] for call in calls] == ["calendar API 503", None]
    assert calls[0]["result"] == {"error": "calendar API 503"}


@pytest.mark.parametrize(
    ("flags", "stored"),
    [
        ({"safety": True}, ["safety"]),
        ({"safety": "self_harm", "quality": "low"}, ["safety:self_harm", "quality:low"]),
        ({"safety": None, "timeout": True, "retries": 2}, ["timeout", "retries:2"]),
        (["tool_error"], ["tool_error"]),
    ],
)
def test_flags_as_an_object_or_a_list_become_the_stored_list(agent_client, flags, stored):
    post(agent_client, seed_trace(flags=flags))

    assert Trace.objects.get().flags == stored


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"tool_calls": []}, "tool_args", "not both"),
        ({"latency_ms": 5}, "latency", "not both"),
        ({"tool_results": {"sms.send": "ok"}}, "tool_results", "use one shape"),
        ({"tool_args": [{}, {}, {}]}, "tool_args", "selected_tools names 2 tools"),
        ({"selected_tools": None}, "selected_tools", "array of tool names"),
        ({"tool_args": "day=2026-12-02"}, "tool_args", "parallel to selected_tools"),
        ({"latency": "2310"}, "latency", "number of milliseconds"),
        ({"latency": -1}, "latency", "between 0"),
        ({"flags": {"safety": ["a"]}}, "flags", "'safety'"),
    ],
    ids=[
        "tool_calls+tool_args",
        "latency+latency_ms",
        "array+object",
        "too many args",
        "no selected_tools",
        "args not json",
        "latency string",
        "latency negative",
        "flag value a list",
    ],  # fmt: skip
)
def test_a_bad_or_mixed_seed_shape_is_a_400_naming_the_field(agent_client, overrides, field, message):
    response = post(agent_client, seed_trace(**overrides))

    assert response.status_code == 400
    assert message in response.json()["results"][0]["errors"][field][0]
    assert not Trace.objects.exists()


def test_unknown_top_level_fields_are_kept_in_extra_and_named_back(agent_client):
    response = post(agent_client, seed_trace(session={"device": "pixel"}, turn=3))

    assert response.json()["results"][0]["extra_fields"] == ["session", "turn"]
    assert Trace.objects.get().extra == {"session": {"device": "pixel"}, "turn": 3}


def test_unknown_tool_call_fields_stay_in_the_call(agent_client):
    call = {"name": "sms.send", "args": {}, "id": "call_7", "attempt": 2}

    response = post(agent_client, seed_trace(tool_args=None, tool_results=None, tool_calls=[call]))

    assert response.json()["results"][0]["extra_fields"] == ["tool_calls[0].id", "tool_calls[0].attempt"]
    assert Trace.objects.get().tool_calls[0]["id"] == "call_7"


def test_secrets_in_extra_fields_are_redacted_before_storing(agent_client):
    key = "sk-proj-" + "Ab3dE5gH7jK9mN1pQ3sT5vX7zB9dF1hJ"
    response = post(agent_client, seed_trace(debug={"api_key": key, "note": f"Authorization: Bearer {key}"}))

    assert response.json()["results"][0]["secrets_redacted"] >= 2
    stored = Trace.objects.get().extra
    assert key not in json.dumps(stored)
    assert stored["debug"]["api_key"].startswith("<SECRET:")


def test_an_extra_field_holding_a_nul_is_a_400_naming_it(agent_client):
    response = post(agent_client, seed_trace(note="a\x00b"))

    assert response.status_code == 400
    assert "NUL" in response.json()["results"][0]["errors"]["note"][0]


def test_a_seed_trace_comes_back_intact_in_the_partition(agent_client, settings):
    settings.FILTER_RULES_DISABLED = ["low_signal"]
    post(agent_client, seed_trace(flags={"quality": "low"}, session={"device": "pixel"}))
    filter_run(trigger="command")

    partition_export(day=date(2026, 11, 30))

    frame = pd.read_parquet(io.BytesIO(get_storage().read_bytes(partition_key(date(2026, 11, 30)))))
    row = frame.iloc[0]
    assert [(call["name"], json.loads(call["args"]), json.loads(call["result"])) for call in row["tool_calls"]] == [
        ("calendar.list_events", {"day": "2026-12-02"}, {"events": [{"start": "09:00", "title": "Standup"}]}),
        ("sms.send", {"body": "Running late", "to": "contact_42"}, {"status": "sent"}),
    ]
    assert (row["latency_ms"], list(row["flags"]), list(row["selected_tools"])) == (
        2310, ["quality:low"], ["calendar.list_events", "sms.send"]
    )  # fmt: skip
    assert json.loads(row["context"]) == {"timezone": "America/Chicago"}
    assert json.loads(row["extra"]) == {"session": {"device": "pixel"}}


# --- the agent's own reward (issue 11, item 8) --------------------------------


def test_a_posted_reward_is_stored_as_an_agent_reward_event(agent_client):
    response = post(agent_client, seed_trace(reward=1, reward_source="thumbs_up"))

    event = RewardEvent.objects.get()
    assert (event.trace_id, event.source, event.reward, event.agent_source) == (
        response.json()["results"][0]["id"], RewardSource.AGENT, 1.0, "thumbs_up"
    )  # fmt: skip
    assert Trace.objects.get().extra == {}


def test_reposting_a_trace_with_a_reward_keeps_one_agent_event(agent_client):
    post(agent_client, seed_trace(reward=0.2, reward_source="thumbs_down"))

    response = post(agent_client, seed_trace(reward=0.9, reward_source="thumbs_up"))

    assert response.json()["results"][0]["status"] == "duplicate"
    assert list(RewardEvent.objects.values_list("reward", "agent_source")) == [(0.2, "thumbs_down")]


def test_a_reward_posted_later_with_the_same_external_id_is_recorded(agent_client):
    post(agent_client, seed_trace())

    post(agent_client, seed_trace(reward=0.0, reward_source="thumbs_down"))

    assert RewardEvent.objects.get().reward == 0.0


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"reward": 1.5}, "reward"),
        ({"reward": -0.1}, "reward"),
        ({"reward": "1"}, "reward"),
        ({"reward": True}, "reward"),
        ({"reward": 0.5, "reward_source": 7}, "reward_source"),
        ({"reward": 0.5, "reward_source": "x" * 51}, "reward_source"),
        ({"reward_source": "thumbs_up"}, "reward_source"),
    ],
)
def test_a_bad_reward_is_a_400_naming_the_field_and_stores_nothing(agent_client, overrides, field):
    response = post(agent_client, seed_trace(**overrides))

    assert response.status_code == 400
    assert field in response.json()["results"][0]["errors"]
    assert not Trace.objects.exists() and not RewardEvent.objects.exists()


def test_agent_rewards_are_listed_with_the_others_in_admin(agent_client, admin_client):
    post(agent_client, seed_trace(reward=1, reward_source="thumbs_up"))

    response = admin_client.get("/admin/labeling/rewardevent/?source=agent")

    assert response.status_code == 200
    assert b"thumbs_up" in response.content
