"""Structured data by key, what is not a person, SCRUB_ALLOW, and both figures on tau-bench retail traces."""

import json

import pytest

from privacy.scrub import trace_scrubbed_copy, traces_scrubbed_copies
from tests.privacy import tau_bench


def scrub(trace: dict) -> dict:
    return trace_scrubbed_copy(trace=trace).fields


def call(args: dict, result) -> dict:
    return {"tool_calls": [{"name": "lookup", "args": args, "result": result}]}


@pytest.fixture(scope="module")
def tau_results():
    traces, values = tau_bench.traces()
    return traces, values, traces_scrubbed_copies(traces=traces)


def test_every_profile_value_is_gone_from_the_tau_bench_traces(tau_results):
    traces, values, results = tau_results
    leaks = [leak for result, v in zip(results, values, strict=True) for leak in tau_bench.leaked(result.fields, v)]

    assert sum(len(v) for v in values) > 700
    assert leaks == []


def test_at_least_99_percent_of_non_personal_structured_values_are_intact(tau_results):
    traces, _values, results = tau_results
    counts = [tau_bench.intact(trace, result.fields) for trace, result in zip(traces, results, strict=True)]
    unchanged, total = sum(c[0] for c in counts), sum(c[1] for c in counts)

    assert total > 5000
    assert unchanged / total >= 0.99, [change for c in counts for change in c[2]][:10]


@pytest.mark.parametrize(
    ("key", "value"),
    [("dob", "1984-03-07"), ("date_of_birth", "07/03/1984"), ("birthDate", "March 7, 1984"), ("zip", "10083"),
     ("postal_code", "SW1A 1AA"), ("address1", "215 River Road"), ("phone", "555 0100"), ("first_name", "Noah"),
     ("last_name", "Li"), ("email", "n@example.com"), ("ssn", "078-05-1120"), ("last_four", "9212")],
)  # fmt: skip
def test_values_under_personal_keys_are_scrubbed_whole(key, value):
    scrubbed = scrub(call({}, {"customer": {key: value}}))

    assert value not in json.dumps(scrubbed)


def test_a_number_under_a_personal_key_is_scrubbed():
    scrubbed = scrub(call({}, {"zip": 10083, "price": 10083}))["tool_calls"][0]["result"]

    assert scrubbed["zip"] != 10083 and scrubbed["price"] == 10083


@pytest.mark.parametrize(
    ("key", "value"),
    [("origin", "JFK"), ("destination", "Paris"), ("order_id", "#W2611340"), ("user_id", "noah_brown_6181"),
     ("status", "Delivered"), ("cabin", "Business"), ("sku", "AB-1234"), ("city", "New York"), ("quarter", "Q3"),
     ("amount", "1,250.00"), ("item_ids", "6469567736"), ("code", "LAX")],
)  # fmt: skip
def test_identifier_and_domain_values_are_kept(key, value):
    assert scrub(call({key: value}, {}))["tool_calls"][0]["args"][key] == value


def test_a_structured_pii_pattern_under_an_identifier_key_is_still_scrubbed():
    scrubbed = scrub(call({"contact_id": "noah.brown@example.com", "ref": "4111 1111 1111 1111"}, {}))

    assert "noah.brown" not in json.dumps(scrubbed) and "4111" not in json.dumps(scrubbed)


def test_a_name_key_is_a_person_under_people_and_a_thing_under_items():
    result = {"customer": {"name": "Noah Brown"}, "items": [{"name": "Water Bottle"}, {"name": "Office Chair"}]}
    scrubbed = scrub(call({}, result))["tool_calls"][0]["result"]

    assert scrubbed["customer"]["name"] == "<PERSON_1>"
    assert [item["name"] for item in scrubbed["items"]] == ["Water Bottle", "Office Chair"]


@pytest.mark.parametrize(
    "text",
    ["Flights from JFK to LAX in Q3", "She lives in New York", "Meet in Paris in the 3rd week", "Ship it on the 2nd",
     "The Q4 plan for ACME", "Ticket AB12CD for the NYC office"],
)  # fmt: skip
def test_codes_ids_quarters_ordinals_and_places_are_not_people(text):
    assert scrub({"user_message": text})["user_message"] == text


def test_scrub_allow_keeps_the_owners_name(settings):
    settings.SCRUB_ALLOW = ["Nate", "ZEKE"]

    assert scrub({"user_message": "Nate asked ZEKE to email Maria Lopez"})["user_message"] == (
        "Nate asked ZEKE to email <PERSON_1>"
    )


def test_without_scrub_allow_the_owners_name_is_a_person(settings):
    settings.SCRUB_ALLOW = []

    assert "Nate" not in scrub({"user_message": "Nate Fisher asked to email Maria Lopez"})["user_message"]


def test_placeholders_are_consistent_across_fields_keys_and_tool_names():
    scrubbed = scrub(
        {
            "user_message": "Write to noah.brown@example.com",
            "conversation_id": "conv noah.brown@example.com",
            "selected_tools": ["notify:noah.brown@example.com"],
            "tool_calls": [{"name": "notify:noah.brown@example.com", "args": {"noah.brown@example.com": True}}],
        }
    )

    assert "noah.brown" not in json.dumps(scrubbed)
    assert scrubbed["user_message"] == "Write to <EMAIL_ADDRESS_1>"
    assert scrubbed["tool_calls"][0]["args"] == {"<EMAIL_ADDRESS_1>": True}
    assert scrubbed["selected_tools"] == ["notify:<EMAIL_ADDRESS_1>"]


def test_a_value_found_in_one_field_is_scrubbed_where_it_recurs():
    trace = {"user_message": "I'm in Philadelphia, 19031.", **call({}, {"address": {"zip": "19031"}})}

    assert "19031" not in json.dumps(scrub(trace))
