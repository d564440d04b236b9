"""Every class of bad input gets a clear 4xx naming the problem, never a 5xx."""

import json

import pytest
from rest_framework.test import APIClient

from tests.traces.factories import trace_payload
from traces.models import Trace
from traces.serializers import TOOL_CALL_FIELDS, TRACE_FIELDS
from traces.services import agent_create, agent_revoke_token, agent_rotate_token

URL = "/api/traces/"

pytestmark = pytest.mark.django_db


def post(client, body, content_type="application/json", **extra):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(URL, data=data, content_type=content_type, **extra)


def client_with(token: str | None, scheme: str = "Bearer") -> APIClient:
    client = APIClient()
    if token is not None:
        client.credentials(HTTP_AUTHORIZATION=f"{scheme} {token}".strip())
    return client


# --- JSON and envelope ------------------------------------------------------


def test_malformed_json_is_a_400_that_says_where(agent_client):
    response = post(agent_client, '{"external_id": "x", ')

    assert response.status_code == 400
    assert response.json()["detail"].startswith("Malformed JSON: Expecting property name")
    assert "line 1 column" in response.json()["detail"]


def test_a_body_that_is_not_utf8_is_a_400(agent_client):
    response = post(agent_client, b'{"external_id": "\xff\xfe"}')

    assert response.status_code == 400
    assert "UTF-8" in response.json()["detail"]


def test_an_empty_body_is_a_400(agent_client):
    response = post(agent_client, "")

    assert response.status_code == 400
    assert "empty" in response.json()["detail"]


def test_a_json_array_at_the_top_is_a_400_naming_the_expected_shape(agent_client):
    response = post(agent_client, [trace_payload()])

    assert response.status_code == 400
    assert '{"traces": [...]}' in response.json()["detail"]


def test_traces_that_is_not_an_array_is_a_400(agent_client):
    response = post(agent_client, {"traces": {"external_id": "x"}})

    assert response.status_code == 400
    assert '"traces" must be an array' in response.json()["detail"]


def test_an_empty_batch_is_a_400(agent_client):
    assert post(agent_client, {"traces": []}).status_code == 400


def test_a_body_that_is_not_json_is_a_415(agent_client):
    response = post(agent_client, "external_id=x", content_type="application/x-www-form-urlencoded")

    assert response.status_code == 415
    assert "application/json" in response.json()["detail"]


# --- fields -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("user_message", 42, "Must be a string, got a number."),
        ("external_id", True, "Must be a string, got a boolean."),
        ("context", "tz=UTC", "Must be a JSON object, got a string."),
        ("tool_calls", {"name": "x"}, "Must be an array of tool calls, got an object."),
        ("tool_calls", [{"args": {}}], "Item 0: name: This field is required."),
        ("tool_calls", [{"name": "x", "latency_ms": "fast"}], "Item 0: latency_ms: Must be an integer, got a string."),
        ("latency_ms", "1800", "Must be an integer, got a string."),
        ("latency_ms", -5, "Must be between 0 and 2147483647."),
        ("flags", "timeout", "Must be an array of strings, got a string."),
        ("flags", [1], "Item 0 must be a string, got a number."),
        ("task_category", "gardening", "'gardening' is not one of"),
        ("occurred_at", "yesterday", "'yesterday' is not an ISO 8601 date-time"),
        ("occurred_at", 1733000000, "Must be an ISO 8601 date-time string, got a number."),
        ("user_message", None, "May not be null."),
        ("user_message", "   ", "May not be blank."),
        ("external_id", "x" * 201, "At most 200 characters (got 201)."),
    ],
)
def test_a_wrong_type_is_a_400_naming_the_field(agent_client, field, value, message):
    response = post(agent_client, trace_payload(**{field: value}))

    assert response.status_code == 400
    result = response.json()["results"][0]
    assert result["status"] == "rejected"
    assert result["errors"][field][0].startswith(message)
    assert Trace.objects.count() == 0


@pytest.mark.parametrize("field", ["external_id", "conversation_id", "user_message"])
def test_a_missing_required_field_is_a_400_naming_it(agent_client, field):
    payload = trace_payload()
    del payload[field]

    response = post(agent_client, payload)

    assert response.status_code == 400
    assert response.json()["results"][0]["errors"] == {field: ["This field is required."]}


def test_a_batch_item_that_is_not_an_object_is_rejected_alone(agent_client):
    response = post(agent_client, {"traces": ["just text", trace_payload()]})

    assert response.status_code == 207
    first = response.json()["results"][0]
    assert first["errors"] == {"non_field_errors": ["Each trace must be a JSON object, got a string."]}
    assert Trace.objects.count() == 1


def test_unknown_fields_are_kept_in_extra_and_named_back(agent_client):
    response = post(agent_client, trace_payload(externalId="typo", sentiment="happy"))

    assert response.status_code == 201
    assert response.json()["results"][0]["extra_fields"] == ["externalId", "sentiment"]
    assert Trace.objects.get().extra == {"externalId": "typo", "sentiment": "happy"}


def test_unknown_top_level_keys_of_a_batch_are_named_back(agent_client):
    response = post(agent_client, {"traces": [trace_payload()], "agent": "conductor"})

    assert response.status_code == 201
    assert response.json()["ignored_fields"] == ["agent"]


def test_a_modality_in_the_payload_is_ignored_for_the_agents_own(agent_client, agent):
    response = post(agent_client, trace_payload(modality="voice"))

    assert response.json()["results"][0]["extra_fields"] == ["modality"]
    assert Trace.objects.get().modality == agent.modality


# --- sizes ------------------------------------------------------------------------


def test_a_request_over_the_byte_limit_is_a_413_before_it_is_parsed(agent_client, settings):
    settings.INGEST_MAX_REQUEST_BYTES = 1000

    response = post(agent_client, "x" * 1001)  # not even JSON: the size is checked first

    assert response.status_code == 413
    assert response.json()["detail"] == (
        "Request body is 1,001 bytes; the limit is 1,000 bytes (INGEST_MAX_REQUEST_BYTES)."
    )


def test_a_text_field_over_the_limit_is_a_413_naming_field_and_limit(agent_client, settings):
    settings.INGEST_MAX_FIELD_CHARS = 100

    response = post(agent_client, trace_payload(final_response="y" * 101))

    assert response.status_code == 413
    assert response.json()["results"][0]["errors"] == {
        "final_response": ["final_response is 101 characters; the limit is 100 (INGEST_MAX_FIELD_CHARS)."]
    }
    assert Trace.objects.count() == 0


def test_a_json_field_over_the_limit_is_a_413(agent_client, settings):
    settings.INGEST_MAX_FIELD_CHARS = 200

    response = post(agent_client, trace_payload(context={"notes": "z" * 300}))

    assert response.status_code == 413
    assert "context is" in response.json()["results"][0]["errors"]["context"][0]


def test_an_oversize_item_in_a_batch_does_not_stop_the_others(agent_client, settings):
    settings.INGEST_MAX_FIELD_CHARS = 1000

    response = post(agent_client, {"traces": [trace_payload(user_message="u" * 1001), trace_payload()]})

    assert response.status_code == 207
    assert Trace.objects.count() == 1


def test_a_batch_over_the_limit_is_a_413_naming_the_limit(agent_client, settings):
    response = post(agent_client, {"traces": [trace_payload() for _ in range(settings.INGEST_MAX_BATCH + 1)]})

    assert response.status_code == 413
    assert "at most 1,000 traces (INGEST_MAX_BATCH); this one has 1,001" in response.json()["detail"]
    assert Trace.objects.count() == 0


# --- tokens ------------------------------------------------------------------------


def test_a_missing_token_is_a_401_with_a_bearer_challenge(db):
    response = post(client_with(None), trace_payload())

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="agents"'


def test_an_unknown_token_is_a_401(db):
    response = post(client_with("zk_not-a-real-token"), trace_payload())

    assert response.status_code == 401
    assert response.json()["detail"] == "Unknown agent token."


def test_a_revoked_token_is_a_401(db):
    agent, token = agent_create(name="revoked")
    agent_revoke_token(agent=agent)

    response = post(client_with(token), trace_payload())

    assert response.status_code == 401
    assert response.json()["detail"] == "This agent token has been revoked."


def test_a_rotated_out_token_stops_working_and_the_new_one_works(db):
    agent, old_token = agent_create(name="rotated")
    new_token = agent_rotate_token(agent=agent)

    assert post(client_with(old_token), trace_payload()).status_code == 401
    assert post(client_with(new_token), trace_payload()).status_code == 201


def test_an_inactive_agents_token_is_a_403(db):
    agent, token = agent_create(name="sleepy")
    agent.active = False
    agent.save()

    response = post(client_with(token), trace_payload())

    assert response.status_code == 403
    assert "inactive" in response.json()["detail"]


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "   "])
def test_a_malformed_authorization_header_is_a_401(db, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    assert post(client, trace_payload()).status_code == 401


def test_a_logged_in_admin_without_a_token_is_a_401(admin_client):
    response = admin_client.post(URL, data=json.dumps(trace_payload()), content_type="application/json")

    assert response.status_code == 401


# --- text the database cannot store ---------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("user_message", "hello\u0000world", "Contains a NUL character"),
        ("context", {"note": "a\u0000b"}, "Contains a NUL character"),
        ("flags", ["ok\u0000"], "Item 0: Contains a NUL character"),
        ("final_response", "broken \ud800 pair", "Contains an unpaired surrogate"),
        ("tool_calls", [{"name": "x", "args": {"q": "\udfff"}}], "Contains an unpaired surrogate"),
    ],
)
def test_text_that_cannot_be_stored_is_a_400_not_a_500(agent_client, field, value, message):
    response = post(agent_client, json.dumps(trace_payload(**{field: value})))

    assert response.status_code == 400
    assert response.json()["results"][0]["errors"][field][0].startswith(message)


def test_a_literal_backslash_u0000_is_ordinary_text(agent_client):
    response = post(agent_client, trace_payload(context={"code": "printf('\\u0000')"}))

    assert response.status_code == 201


def test_json_nested_too_deeply_in_a_field_is_a_400(agent_client):
    deep: dict = {}
    node = deep
    for _ in range(40):
        node["a"] = {}
        node = node["a"]

    response = post(agent_client, trace_payload(context=deep))

    assert response.status_code == 400
    assert response.json()["results"][0]["errors"]["context"] == ["Nested deeper than 32 levels."]


def test_a_body_nested_beyond_the_parser_is_a_400(agent_client):
    response = post(agent_client, "[" * 100_000 + "]" * 100_000)

    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]


# --- numbers and dates JSON or the database cannot hold ----------------------------------


def raw_trace(**raw_fields: str) -> str:
    """A valid trace body with some fields spliced in as raw JSON text (for what json.dumps cannot write)."""
    payload = trace_payload()
    for name in raw_fields:
        payload.pop(name, None)
    extra = "".join(f', "{name}": {text}' for name, text in raw_fields.items())
    return json.dumps(payload)[:-1] + extra + "}"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"context": '{"score": NaN}'}, "NaN is not a JSON number"),
        ({"context": '{"score": -Infinity}'}, "-Infinity is not a JSON number"),
        ({"tool_calls": '[{"name": "t", "args": {}, "result": Infinity, "error": null, "latency_ms": 1}]'}, "Infinity"),
        ({"context": '{"score": 1e400}'}, "the number 1e400 is too large to store"),
        ({"latency_ms": "1" * 5000}, "Malformed JSON: Exceeds the limit"),
    ],
)
def test_numbers_json_does_not_allow_are_a_400_not_a_500(agent_client, raw, message):
    response = post(agent_client, raw_trace(**raw))

    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert Trace.objects.count() == 0


def test_a_long_but_finite_number_in_a_json_field_is_stored(agent_client):
    response = post(agent_client, raw_trace(context='{"big": ' + "9" * 200 + "}"))

    assert response.status_code == 201
    assert Trace.objects.get().context == {"big": int("9" * 200)}


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"])
def test_a_date_time_out_of_range_in_utc_is_a_400(agent_client, value):
    response = post(agent_client, trace_payload(occurred_at=value))

    assert response.status_code == 400
    assert response.json()["results"][0]["errors"]["occurred_at"] == [
        f"{value!r} is out of range once converted to UTC."
    ]


@pytest.mark.parametrize("value", ["2026-02-30T00:00:00Z", "2026-12-01T09:30:00+25:00", "2026-13-45"])
def test_an_impossible_date_time_is_a_400(agent_client, value):
    response = post(agent_client, trace_payload(occurred_at=value))

    assert response.status_code == 400
    assert "is not an ISO 8601 date-time" in response.json()["results"][0]["errors"]["occurred_at"][0]


def test_a_date_without_a_time_is_midnight_utc(agent_client):
    assert post(agent_client, trace_payload(occurred_at="2026-12-01")).status_code == 201

    assert Trace.objects.get().occurred_at.isoformat() == "2026-12-01T00:00:00+00:00"


def test_a_batch_of_non_objects_rejects_each_item_with_a_400(agent_client):
    response = post(agent_client, {"traces": [1, "a", None, [], True]})

    assert response.status_code == 400
    assert [result["errors"]["non_field_errors"][0] for result in response.json()["results"]] == [
        f"Each trace must be a JSON object, got {kind}."
        for kind in ("a number", "a string", "null", "an array", "a boolean")
    ]


# Values of every JSON type (and edge values of each) in every field: each is stored or named, never a 5xx.
ODD_VALUES = [None, True, -1, 1.5, 2**63, 10**30, "", " ", "日本語 🙂", "x" * 300, [], [None], [{}], {}, {"a": 1}]


@pytest.mark.parametrize("field", sorted(TRACE_FIELDS))
def test_odd_values_in_any_trace_field_never_reach_a_500(agent_client, field):
    for value in ODD_VALUES:
        response = post(agent_client, trace_payload(**{field: value}))

        assert response.status_code in (200, 201, 400), (field, value, response.content[:300])
        if response.status_code == 400:
            assert field in response.json()["results"][0]["errors"], (field, value)


@pytest.mark.parametrize("field", sorted(TOOL_CALL_FIELDS))
def test_odd_values_in_any_tool_call_field_never_reach_a_500(agent_client, field):
    for value in ODD_VALUES:
        call = {"name": "t", "args": {}, "result": None, "error": None, "latency_ms": 1, field: value}
        response = post(agent_client, trace_payload(tool_calls=[call]))

        assert response.status_code in (201, 400), (field, value, response.content[:300])
        if response.status_code == 400:
            assert response.json()["results"][0]["errors"]["tool_calls"][0].startswith(f"Item 0: {field}:")


@pytest.mark.parametrize(
    ("payload", "escaped"),
    [
        (trace_payload(external_id="ext-\ud83d"), "ext-\\ud83d"),
        (trace_payload(**{"note-\udfff": 1}), "note-\\udfff"),
        (trace_payload(tool_calls=[{"name": "t", "args": {}, "\ud800": 1}]), "tool_calls[0].\\ud800"),
    ],
    ids=["external_id", "unknown field", "unknown tool call field"],
)
def test_a_lone_surrogate_echoed_back_is_escaped_not_a_500(agent_client, payload, escaped):
    response = post(agent_client, payload)  # json.dumps writes it as a \ud83d escape: valid JSON, not valid UTF-8

    assert response.status_code in (201, 400)
    result = response.json()["results"][0]
    assert escaped in (result["external_id"], *result.get("extra_fields", []))


def test_a_batch_of_odd_items_twice_answers_duplicate_with_the_first_ids(agent_client):
    items = [trace_payload(context={"password": [1, {"token": None}]}), trace_payload(latency_ms=None), 7]
    items += [trace_payload(external_id="same"), trace_payload(external_id="same", user_message="other")]

    first = post(agent_client, {"traces": items}).json()["results"]
    second = post(agent_client, {"traces": items}).json()["results"]

    assert [r["status"] for r in first] == ["accepted", "accepted", "rejected", "accepted", "duplicate"]
    assert [r["status"] for r in second] == ["duplicate", "duplicate", "rejected", "duplicate", "duplicate"]
    assert [r["id"] for r in second] == [r["id"] for r in first]
    assert first[3]["id"] == first[4]["id"]
