"""PII scrubbing: placeholders, our recognizers, the residual pass, and nothing reaching the network."""

import socket

import pytest

from privacy.scrubbing import (
    PLACEHOLDER_RE,
    PlaceholderMap,
    get_scrubber,
    normalise_value,
    residual_regex_hits,
)


@pytest.fixture(scope="module")
def scrubber():
    return get_scrubber()


def types_found(scrubber, text):
    return {(d.entity_type, text[d.start : d.end]) for d in scrubber.analyze(text)}


def trace(**fields):
    base = {"user_message": "", "context": {}, "tool_calls": [], "final_response": ""}
    base.update(fields)
    return base


def test_the_same_value_gets_the_same_placeholder_everywhere_in_a_trace(scrubber):
    result = scrubber.scrub_trace(
        trace(
            user_message="Text Ana Lima on +44 7700 900123 and email ana.lima@example.org",
            context={"contacts": [{"name": "Ana Lima", "email": "ana.lima@example.org"}], "n": 3, "ok": True},
            tool_calls=[
                {
                    "name": "sms.send",
                    "args": {"to": "+44 7700 900123", "text": "Hi Ana Lima!"},
                    "result": '{"delivered_to": "+447700900123"}',
                    "error": None,
                    "latency_ms": 80,
                }
            ],
            final_response="Sent to Ana Lima (+44 7700 900123); a copy went to ana.lima@example.org.",
        )
    )
    assert result.user_message == "Text <PERSON_1> on <PHONE_NUMBER_1> and email <EMAIL_ADDRESS_1>"
    assert result.context == {
        "contacts": [{"name": "<PERSON_1>", "email": "<EMAIL_ADDRESS_1>"}],
        "n": 3,
        "ok": True,
    }
    call = result.tool_calls[0]
    assert call["name"] == "sms.send" and call["latency_ms"] == 80 and call["error"] is None
    assert call["args"] == {"to": "<PHONE_NUMBER_1>", "text": "Hi <PERSON_1>!"}
    assert call["result"] == '{"delivered_to": "<PHONE_NUMBER_1>"}'  # same number, other spacing
    assert result.final_response == "Sent to <PERSON_1> (<PHONE_NUMBER_1>); a copy went to <EMAIL_ADDRESS_1>."
    assert result.pii_found == {"EMAIL_ADDRESS": 1, "PERSON": 1, "PHONE_NUMBER": 1}


def test_numbering_is_per_type_in_order_of_appearance(scrubber):
    result = scrubber.scrub_trace(
        trace(user_message="Forward a@example.com and b@example.com to a@example.com's boss, c@example.net")
    )
    assert result.user_message == (
        "Forward <EMAIL_ADDRESS_1> and <EMAIL_ADDRESS_2> to <EMAIL_ADDRESS_1>'s boss, <EMAIL_ADDRESS_3>"
    )


def test_placeholders_do_not_leak_across_traces(scrubber):
    first, second = scrubber.scrub_traces(
        [trace(user_message="Mail x@example.com"), trace(user_message="Mail y@example.com then x@example.com")]
    )
    assert first.user_message == "Mail <EMAIL_ADDRESS_1>"
    assert second.user_message == "Mail <EMAIL_ADDRESS_1> then <EMAIL_ADDRESS_2>"


def test_values_are_compared_normalised():
    mapping = PlaceholderMap()
    assert mapping.placeholder("CREDIT_CARD", "4111 1111 1111 1111") == "<CREDIT_CARD_1>"
    assert mapping.placeholder("CREDIT_CARD", "4111-1111-1111-1111") == "<CREDIT_CARD_1>"
    assert mapping.placeholder("PERSON", "Ana  LIMA") == mapping.placeholder("PERSON", "ana lima")
    assert normalise_value("IBAN_CODE", "gb82 west 1234") == "GB82WEST1234"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Charge 2223 0031 2200 3222 please", ("CREDIT_CARD", "2223 0031 2200 3222")),  # Mastercard 2-series
        ("card 5555555555554444", ("CREDIT_CARD", "5555555555554444")),
        ("my iban is gb82west12345698765432", ("IBAN_CODE", "gb82west12345698765432")),
        ("SSN 536-22-1234 on file", ("US_SSN", "536-22-1234")),
        ("server at 10.12.0.7 is down", ("IP_ADDRESS", "10.12.0.7")),
        ("She lives at 24 Clarke Avenue, Springfield", ("STREET_ADDRESS", "24 Clarke Avenue, Springfield")),
        ("Ship it to Friedhofstrasse 33, Berlin", ("STREET_ADDRESS", "Friedhofstrasse 33, Berlin")),
        ("I was born on 14 March 1988 in Leeds", ("DATE_OF_BIRTH", "14 March 1988")),
        ("Call me on 0490 39 07 81 tonight", ("PHONE_NUMBER", "0490 39 07 81")),
    ],
)
def test_our_recognizers(scrubber, text, expected):
    assert expected in types_found(scrubber, text)


def test_an_email_address_is_one_entity_not_also_a_url(scrubber):
    assert types_found(scrubber, "write to jo.bloggs@mail.example.co.uk today") == {
        ("EMAIL_ADDRESS", "jo.bloggs@mail.example.co.uk")
    }


def test_text_without_pii_is_left_alone(scrubber):
    text = "Move the 3pm sync to Thursday at 9:30 and add the Q3 roadmap doc."
    assert scrubber.scrub_trace(trace(user_message=text)).user_message == text


def test_a_string_under_a_name_or_address_key_is_scrubbed_whole(scrubber):
    result = scrubber.scrub_trace(trace(context={"attendee": "Wren", "address": "Flat 2, The Old Mill, Bath"}))
    assert result.context == {"attendee": "<PERSON_1>", "address": "<STREET_ADDRESS_1>"}


def test_residual_checks_ignore_placeholders_and_catch_what_is_left():
    assert residual_regex_hits("mail <EMAIL_ADDRESS_1> or card <CREDIT_CARD_1>") == []
    hits = {kind for kind, _s, _e in residual_regex_hits("x@example.com 4111 1111 1111 1111 536-22-1234")}
    assert hits == {"EMAIL_ADDRESS", "CREDIT_CARD", "US_SSN"}


def test_the_residual_pass_is_clean_on_a_scrubbed_copy_and_reports_without_the_value(scrubber):
    original = trace(user_message="Ping li.wei@example.com", final_response="Done, pinged Li Wei.")
    clean = scrubber.scrub_trace(original).as_trace()
    assert scrubber.residual_pii([clean], [original]) == [[]]
    leaky = dict(clean, final_response="Also cc li.wei@example.com")
    [hits] = scrubber.residual_pii([leaky], [original])
    assert hits and all("li.wei" not in hit for hit in hits)
    assert hits[0].startswith("EMAIL_ADDRESS: chars")


def test_placeholders_look_like_placeholders():
    assert PLACEHOLDER_RE.fullmatch("<STREET_ADDRESS_12>")


def test_building_and_using_the_engine_never_touches_the_network(monkeypatch):
    from privacy.scrubbing import Scrubber

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    fresh = Scrubber()
    found = fresh.analyze("Email sam@example.io or visit https://example.io/about")
    assert {d.entity_type for d in found} == {"EMAIL_ADDRESS"}


def test_a_name_found_once_is_scrubbed_everywhere_in_the_trace_with_one_placeholder(scrubber):
    result = scrubber.scrub_trace(
        trace(
            user_message="Book a table for me and Asya Godina tonight.",
            tool_calls=[
                {"name": "restaurants.reserve", "args": {"party": "Godina, 2"}, "result": {"ok": True}, "error": None}
            ],
            final_response="Booked for you and Asya at 8pm.",
        )
    )
    assert result.user_message == "Book a table for me and <PERSON_1> tonight."
    assert result.tool_calls[0]["args"]["party"] == "<PERSON_1>, 2"
    assert result.final_response == "Booked for you and <PERSON_1> at 8pm."
    assert result.pii_found == {"PERSON": 1}


def test_two_people_sharing_a_first_name_stay_two():
    mapping = PlaceholderMap()
    assert mapping.placeholder("PERSON", "John Smith") == "<PERSON_1>"
    assert mapping.placeholder("PERSON", "John Doe") == "<PERSON_2>"
    assert mapping.placeholder("PERSON", "Smith") == "<PERSON_1>"


def test_a_name_does_not_run_into_the_next_line(scrubber):
    text = "Alberico Rizzo\n>Barnett Logistics\n>770 26 rue des lieutemants Thomazo"
    people = [text[d.start : d.end] for d in scrubber.analyze(text) if d.entity_type == "PERSON"]
    assert "Alberico Rizzo" in people and all("\n" not in p for p in people)


def test_the_residual_pass_flags_a_leaked_full_name_but_not_a_title_before_a_placeholder(scrubber):
    original = trace(user_message="Move my meeting with Dr Maria Gonzalez")
    [hits] = scrubber.residual_pii([trace(user_message="Move my meeting with Dr <PERSON_1>")], [original])
    assert hits == []
    [hits] = scrubber.residual_pii([trace(user_message="Move my meeting with Maria Gonzalez")], [trace()])
    assert hits and hits[0].startswith("PERSON:")


@pytest.mark.parametrize(
    ("text", "wanted"),
    [
        ("Move the sync with Priya to Thursday.", True),  # a capital mid-sentence
        ("can you ping aksel kristensen about it", False),  # lower case: the name lists read it, not NER
        ("Move the sync to tomorrow. Thanks!", False),  # capitals only start sentences
        ("evt_123", False),  # one token
        ("2026-12-01 09:30", False),  # no letters
    ],
)
def test_ner_runs_only_where_it_can_find_a_name(text, wanted):
    from privacy.scrubbing import _wants_ner

    assert _wants_ner(text) is wanted


def test_identifiers_are_not_names(scrubber):
    result = scrubber.scrub_trace(
        trace(
            context={"timezone": "America/Chicago"},
            tool_calls=[
                {
                    "name": "k8s.get_pods",
                    "args": {"namespace": "eu-prod"},
                    "result": {"pods": [{"name": "payments-worker-7d9f", "status": "Running"}]},
                    "error": None,
                }
            ],
            final_response="payments-worker is crash-looping in eu-prod",
        )
    )
    assert result.context == {"timezone": "America/Chicago"}
    assert result.tool_calls[0]["result"]["pods"][0]["name"] == "payments-worker-7d9f"
    assert result.final_response == "payments-worker is crash-looping in eu-prod"
    assert result.pii_found == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("can you ping aksel kristensen about it", "can you ping <PERSON_1> about it"),
        ("follow up with benjamin a seiler next week", "follow up with <PERSON_1> next week"),
        ("solar panel payback periods", "solar panel payback periods"),
    ],
)
def test_names_in_lower_case_text(scrubber, text, expected):
    assert scrubber.scrub_trace(trace(user_message=text)).user_message == expected


def test_names_inside_identifiers_are_scrubbed_with_the_persons_placeholder(scrubber):
    result = scrubber.scrub_trace(
        trace(
            user_message="Before I see Kenji Watanabe: anything in my notes?",
            tool_calls=[
                {
                    "name": "memory.search",
                    "args": {"query": "travel"},
                    "result": {"keys": ["contact:kenji_watanabe:notes", "contact:priya_raman:notes", "auth_gateway"]},
                    "error": None,
                }
            ],
        )
    )
    assert result.user_message == "Before I see <PERSON_1>: anything in my notes?"
    assert result.tool_calls[0]["result"]["keys"] == [
        "contact:<PERSON_1>:notes",
        "contact:<PERSON_2>:notes",
        "auth_gateway",
    ]


def test_a_room_is_not_an_address(scrubber):
    assert scrubber.scrub_trace(trace(user_message="We moved to room 4B")).user_message == "We moved to room 4B"
