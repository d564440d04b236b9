"""Each filter rule on both sides, switching rules off, and the hallucination heuristic."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from traces import rules
from traces.models import Trace
from traces.rules import RuleContext


def make(**fields) -> Trace:
    """An unsaved trace that every rule keeps, with `fields` changed."""
    base = {
        "user_message": "Move my 3pm with Priya to Thursday morning, please.",
        "selected_tools": ["calendar.update_event"],
        "tool_calls": [
            {"name": "calendar.update_event", "args": {"event_id": "e1"}, "result": {"ok": True}, "error": None}
        ],
        "final_response": "I've updated the event: Thursday at 9:30 AM.",
        "latency_ms": 1200,
        "flags": [],
    }
    base.update(fields)
    return Trace(**base)


def verdict(trace, ctx=None, **settings_overrides):
    return rules.evaluate(trace, ctx or RuleContext())


def test_a_clean_trace_passes_every_rule():
    assert verdict(make()) is None


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        ({"flags": ["incomplete"]}, 'flag "incomplete"'),
        ({"selected_tools": ["calendar.update_event", "email.send"]}, "selected but never called: email.send"),
        (
            {"tool_calls": [{"name": "calendar.update_event", "args": {}, "result": None, "error": None}]},
            "tool call 0 (calendar.update_event) has no result and no error",
        ),
    ],
)
def test_incomplete_tool_run(fields, detail):
    assert rules.incomplete_tool_run(make(**fields), RuleContext()) == detail
    assert verdict(make(**fields))[0] == "incomplete_tool_run"


def test_selected_tools_may_be_objects_with_a_name():
    assert rules.incomplete_tool_run(make(selected_tools=[{"name": "calendar.update_event"}]), RuleContext()) is None


def test_tool_failure():
    failed = make(tool_calls=[{"name": "calendar.update_event", "args": {}, "result": None, "error": "HTTP 500"}])
    assert rules.tool_failure(failed, RuleContext()) == "tool call 0 (calendar.update_event) failed: HTTP 500"
    assert rules.tool_failure(make(flags=["tool_error"]), RuleContext()) == 'flag "tool_error"'
    assert rules.tool_failure(make(), RuleContext()) is None


def test_timeout_by_flag_or_latency(settings):
    settings.TIMEOUT_THRESHOLD_MS = 30_000
    assert rules.timeout(make(flags=["timeout"]), RuleContext()) == 'flag "timeout"'
    assert rules.timeout(make(latency_ms=30_001), RuleContext()) == "latency 30001 ms > 30000 ms"
    assert rules.timeout(make(latency_ms=30_000), RuleContext()) is None
    assert rules.timeout(make(latency_ms=None), RuleContext()) is None


@pytest.mark.parametrize("response", ["", "   ", "OK", "ok.", "Sure!", "Thanks", "Done."])
def test_low_signal_drops_empty_and_trivial_responses(response):
    assert rules.low_signal(make(final_response=response), RuleContext()) is not None


def test_low_signal_keeps_short_but_real_answers_and_drops_an_empty_prompt():
    assert rules.low_signal(make(final_response="It's 18°C and sunny."), RuleContext()) is None
    assert rules.low_signal(make(user_message=" "), RuleContext()) == "empty user message"


def test_duplicate_uses_the_context_prepared_by_the_run():
    assert rules.duplicate(make(), RuleContext(duplicate_of=None)) is None
    assert rules.duplicate(make(), RuleContext(duplicate_of=42)) == "duplicate of trace 42"
    assert "same run" in rules.duplicate(make(), RuleContext(duplicate_of=0))


def test_dedupe_key_ignores_case_punctuation_spacing_and_placeholder_numbers():
    a = rules.dedupe_key("Call <PERSON_1>, please!", "Calling <PERSON_1> now.")
    b = rules.dedupe_key("call  <PERSON_2> please", "calling <PERSON_3> now")
    c = rules.dedupe_key("call <PERSON_1> please", "emailing <PERSON_1> now")
    assert a == b != c
    assert len(a) == 64


def test_unsafe_flags():
    assert rules.unsafe(make(flags=["safety:self_harm"]), RuleContext()) == "safety flag(s): safety:self_harm"
    assert rules.unsafe(make(flags=["safety"]), RuleContext()) is not None
    assert rules.unsafe(make(flags=["shadow"]), RuleContext()) is None


@pytest.mark.parametrize(
    "response",
    [
        "I've booked a table for two at 7pm.",
        "I have sent the email to your landlord.",
        "Your meeting has been scheduled for Friday.",
        "The file was deleted.",
        "Done — I just created the reminder.",
        "Successfully cancelled your subscription.",
    ],
)
def test_likely_hallucination_when_no_tool_backs_the_claim(response):
    trace = make(final_response=response, tool_calls=[], selected_tools=[])
    detail = rules.likely_hallucination(trace, RuleContext())
    assert detail is not None and "no successful matching tool call" in detail


def test_a_failed_call_does_not_back_a_claim():
    trace = make(
        final_response="I've sent the email.",
        selected_tools=["email.send"],
        tool_calls=[{"name": "email.send", "args": {}, "result": None, "error": "SMTP 550"}],
    )
    assert rules.likely_hallucination(trace, RuleContext()) is not None


def test_an_unrelated_successful_call_does_not_back_a_claim():
    trace = make(
        final_response="I've booked your flight to Lisbon.",
        tool_calls=[{"name": "weather.lookup", "args": {}, "result": {"t": 18}, "error": None}],
    )
    assert "booked" in rules.likely_hallucination(trace, RuleContext())


@pytest.mark.parametrize(
    ("response", "tool"),
    [
        ("I've booked a table for two at 7pm.", "restaurants.reserve"),
        ("I have sent the email to your landlord.", "gmail.send_message"),
        ("Your meeting has been scheduled for Friday.", "calendar.create_event"),
        ("The file was deleted.", "drive.delete_file"),
        ("I've updated the event: Thursday at 9:30 AM.", "calendar.update_event"),
    ],
)
def test_a_successful_matching_call_backs_the_claim(response, tool):
    trace = make(
        final_response=response,
        selected_tools=[tool],
        tool_calls=[{"name": tool, "args": {}, "result": {"ok": True}, "error": None}],
    )
    assert rules.likely_hallucination(trace, RuleContext()) is None


def test_a_successful_result_that_states_the_action_backs_the_claim():
    trace = make(
        final_response="Bad news: your flight was cancelled.",
        selected_tools=["flights.status"],
        tool_calls=[
            {"name": "flights.status", "args": {"code": "TP1"}, "result": {"status": "cancelled"}, "error": None}
        ],
    )
    assert rules.likely_hallucination(trace, RuleContext()) is None
    trace.tool_calls[0]["result"] = {"status": "on_time", "created_at": "2026-12-01"}
    assert rules.likely_hallucination(trace, RuleContext()) is not None


@pytest.mark.parametrize(
    "response",
    [
        "I haven't sent the email yet — want me to?",
        "I can book a table for two at 7pm if you like.",
        "Would you like me to schedule it for Friday?",
        "Paris is the capital of France.",
    ],
)
def test_no_claim_no_drop(response):
    trace = make(final_response=response, tool_calls=[], selected_tools=[])
    assert rules.likely_hallucination(trace, RuleContext()) is None


def test_residual_pii_drops_and_cannot_be_switched_off(settings):
    settings.FILTER_RULES_DISABLED = ["residual_pii"]
    ctx = RuleContext(residual=["EMAIL_ADDRESS: chars 3-20 (•••@•••.•••)"])
    assert verdict(make(), ctx) == ("residual_pii", "EMAIL_ADDRESS: chars 3-20 (•••@•••.•••)")


def test_a_disabled_rule_does_not_drop(settings):
    trace = make(flags=["timeout"])
    assert verdict(trace)[0] == "timeout"
    settings.FILTER_RULES_DISABLED = ["timeout"]
    assert verdict(trace) is None


def test_an_unknown_rule_name_in_settings_is_a_configuration_error(settings):
    settings.FILTER_RULES_DISABLED = ["no_such_rule"]
    with pytest.raises(ImproperlyConfigured, match="no_such_rule"):
        rules.rules_enabled()


def test_rules_are_documented_named_functions():
    for name, rule in rules.RULES:
        assert rule.__name__ == name
        assert rule.__doc__ and len(rule.__doc__) > 20
