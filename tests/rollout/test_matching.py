import pytest

from rollout.matching import case_score, tool_calls_match
from rollout.seeds import bfcl_suite


def _calls(*pairs):
    return [{"name": name, "arguments": args} for name, args in pairs]


def test_a_tool_call_matches_when_each_argument_is_one_of_the_possible_answers():
    expected = [{"name": "get_weather", "args": {"city": ["Paris", "Paris, France"], "unit": ["celsius", ""]}}]

    assert tool_calls_match(_calls(("get_weather", {"city": "paris, france"})), expected)[0]
    assert tool_calls_match(_calls(("get_weather", {"city": "Paris", "unit": "celsius"})), expected)[0]


@pytest.mark.parametrize(
    ("calls", "why"),
    [
        (_calls(("get_weather", {"city": "Rome"})), "not in"),
        (_calls(("get_weather", {"unit": "celsius"})), "missing argument 'city'"),
        (_calls(("get_weather", {"city": "Paris", "country": "FR"})), "unexpected argument"),
        (_calls(("get_time", {"city": "Paris"})), "expected 'get_weather'"),
        ([], "0 tool calls"),
    ],
)
def test_a_tool_call_fails_with_a_reason(calls, why):
    expected = [{"name": "get_weather", "args": {"city": ["Paris"], "unit": ["celsius", ""]}}]

    ok, detail = tool_calls_match(calls, expected)

    assert not ok
    assert why in detail


def test_parallel_calls_match_in_any_order():
    expected = [
        {"name": "spotify_play", "args": {"artist": ["Taylor Swift"], "duration": [20]}},
        {"name": "spotify_play", "args": {"artist": ["Maroon 5"], "duration": [15]}},
    ]
    calls = _calls(
        ("spotify_play", {"artist": "Maroon 5", "duration": 15}),
        ("spotify_play", {"artist": "Taylor Swift", "duration": 20.0}),
    )

    assert tool_calls_match(calls, expected)[0]


def test_nested_possible_answers_compare_recursively():
    expected = [{"name": "change_drink", "args": {"prefs": [{"size": ["large"], "milk": ["coconut", ""]}]}}]

    assert tool_calls_match(_calls(("change_drink", {"prefs": {"size": "Large"}})), expected)[0]
    assert not tool_calls_match(_calls(("change_drink", {"prefs": {"size": "small"}})), expected)[0]


def test_a_call_no_tool_case_fails_when_a_tool_is_called():
    ok, detail, _ = case_score("tool_call", {"text": "", "tool_calls": _calls(("math_sum", {}))}, {"calls": []})

    assert not ok
    assert "expected no tool call" in detail
    assert case_score("tool_call", {"text": "That needs no tool.", "tool_calls": []}, {"calls": []})[0]


@pytest.mark.parametrize(
    ("expected", "text", "passes"),
    [
        ({"match": "exact", "value": "OK"}, " OK ", True),
        ({"match": "exact", "value": "OK"}, "OK!", False),
        ({"match": "substring", "value": ["friday", "monday"]}, "Moving Friday to Monday", True),
        ({"match": "substring", "value": "85"}, "about 80", False),
        ({"match": "regex", "value": r"\b10(:00)?\s*am"}, "It's 10:00 am there.", True),
    ],
)
def test_regression_cases_match_exactly_by_substring_or_regex(expected, text, passes):
    assert case_score("regression", {"text": text, "tool_calls": []}, expected)[0] is passes


def test_a_regression_case_can_be_judged_by_a_local_grader():
    expected = {
        "match": "grader",
        "grader": {
            "type": "string_check",
            "name": "x",
            "operation": "ilike",
            "input": "{{sample.output_text}}",
            "reference": "confirm",
        },
        "pass_threshold": 1.0,
    }

    assert case_score("regression", {"text": "Please CONFIRM first.", "tool_calls": []}, expected)[0]
    assert not case_score("regression", {"text": "Deleted.", "tool_calls": []}, expected)[0]


def test_refusal_cases_record_whether_the_reply_refused():
    ok, _, extra = case_score("refusal", {"text": "Sure, here's how.", "tool_calls": []}, {"should_refuse": True})

    assert not ok
    assert extra == {"refused": False, "should_refuse": True}


def test_the_bfcl_slice_converts_tools_to_the_openai_format_and_keeps_irrelevance_cases():
    suite = bfcl_suite()
    names = {tool["function"]["name"] for case in suite["cases"] for tool in case["input"]["tools"]}

    assert len(suite["cases"]) == 100
    assert all("." not in name for name in names)
    assert all(case["input"]["tools"][0]["function"]["parameters"]["type"] == "object" for case in suite["cases"])
    irrelevance = [case for case in suite["cases"] if case["category"] == "irrelevance"]
    assert len(irrelevance) == 20 and all(case["expected"] == {"calls": []} for case in irrelevance)
