import pytest
from django.core.exceptions import ValidationError

from rewards.models import RewardModel
from rewards.services import reward_model_predict, reward_model_train
from zeke_rft.errors import ApplicationError

GOOD_REPLY = {
    "user_message": "Book a table for two at 7",
    "final_response": "All set: book a table for two at 7. I checked your calendar first, picked the slot that fits, "
    "and saved the confirmation.",
    "tool_calls": [{"name": "calendar_update", "args": {}, "result": "ok", "error": None, "latency_ms": 200}],
    "latency_ms": 1200,
    "flags": [],
    "task_category": "scheduling",
}


@pytest.mark.django_db
def test_it_refuses_to_predict_when_no_model_is_active():
    with pytest.raises(ApplicationError, match="no reward model is active"):
        reward_model_predict(items=[{"user_message": "hi", "final_response": "hello"}])


def test_it_predicts_a_reward_and_uncertainty_per_item_with_the_active_model(labels):
    labels.labeled(60)
    reward_model, created = reward_model_train()
    assert created and reward_model.status == "active"

    predictions = reward_model_predict(
        items=[
            {**GOOD_REPLY},
            {**GOOD_REPLY, "final_response": "Error: something went wrong.", "latency_ms": 18000},
            {},
        ]
    )

    assert len(predictions) == 3
    for prediction in predictions:
        assert 0.0 <= prediction["reward"] <= 1.0
        assert prediction["uncertainty"] >= 0.0
    assert predictions[0]["reward"] > predictions[1]["reward"]


def test_it_predicts_with_a_given_candidate_version(labels):
    labels.labeled(40)
    reward_model, _ = reward_model_train(promote=False)
    assert RewardModel.objects.get().status == "candidate"

    [prediction] = reward_model_predict(items=[{"final_response": "ok"}], reward_model=reward_model)

    assert 0.0 <= prediction["reward"] <= 1.0


@pytest.mark.django_db
def test_it_names_an_item_that_is_not_an_object():
    with pytest.raises(ValidationError) as raised:
        reward_model_predict(items=[{"final_response": "ok"}, "not a trace"])

    assert raised.value.message_dict == {"items": ["item 1 must be an object shaped like trace_scrubbed_view"]}


@pytest.fixture
def active_model(labels):
    labels.labeled(40)
    reward_model, _ = reward_model_train()
    return reward_model


def assert_valid(predictions, n):
    assert len(predictions) == n
    for prediction in predictions:
        assert 0.0 <= prediction["reward"] <= 1.0
        assert prediction["uncertainty"] >= 0.0


def test_one_item_with_no_text_at_all_is_scored(active_model):
    assert_valid(reward_model_predict(items=[{}]), 1)


def test_items_whose_texts_are_all_empty_strings_are_scored(active_model):
    items = [{"user_message": "", "final_response": "", "tool_calls": []}, {"final_response": "   "}]
    assert_valid(reward_model_predict(items=items), 2)


def test_an_empty_list_of_items_gives_no_predictions(active_model):
    assert reward_model_predict(items=[]) == []


@pytest.mark.parametrize(
    "item",
    [
        {"user_message": None, "final_response": None, "tool_calls": None, "flags": None, "latency_ms": None},
        {"final_response": 42, "user_message": ["a", "list"], "context": {"nested": {"deep": 1}}},
        {"tool_calls": "not a list", "flags": "safety"},
        {"tool_calls": [None, 3, "x", {"name": None, "args": "raw", "error": {"code": 1}}]},
        {"latency_ms": "fast", "task_category": 7},
        {"latency_ms": float("nan")},
        {"latency_ms": -5},
        {"latency_ms": 10**30},
        {"final_response": "\x00\ud800 null and a lone surrogate"},
        {"final_response": "é" * 50_000},
        {"unknown_key": object()},
    ],
    ids=[
        "nones",
        "non-string-text",
        "tool-calls-a-string",
        "odd-tool-calls",
        "latency-a-string",
        "latency-nan",
        "latency-negative",
        "latency-huge",
        "nul-and-surrogate",
        "very-long",
        "unknown-key",
    ],
)
def test_odd_items_are_scored_within_bounds(active_model, item):
    assert_valid(reward_model_predict(items=[item]), 1)
