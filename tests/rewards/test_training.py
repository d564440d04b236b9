import random

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rewards import learner
from rewards.artifacts import ArtifactIntegrityError, artifact_cache_clear, artifact_load
from rewards.evaluation import DOMAINS, evaluate
from rewards.models import RewardModel
from rewards.selectors import example_is_held_out, reward_training_examples
from rewards.services import (
    reward_model_consider,
    reward_model_predict,
    reward_model_promote,
    reward_model_retire,
    reward_model_train,
)
from zeke_rft.errors import ApplicationError
from zeke_rft.hashing import sha256_bytes
from zeke_rft.storage import get_storage


def _shuffled_labels(examples: dict) -> dict:
    """The same split with the training rewards shuffled: a model that learned nothing."""
    rng = random.Random(3)
    cards = [dict(card) for card in examples["train_cards"]]
    rewards = [card["reward"] for card in cards]
    rng.shuffle(rewards)
    for card, reward in zip(cards, rewards, strict=True):
        card["reward"] = reward
    return {**examples, "train_cards": cards, "train_pairs": [], "data_hash": "shuffled-" + examples["data_hash"]}


def test_it_trains_a_versioned_model_with_held_out_metrics_and_a_stored_artifact(labels):
    labels.labeled(80)
    labels.preferences(30)

    reward_model, created = reward_model_train()

    assert created
    assert reward_model.version.startswith("rm-")
    assert reward_model.training_counts["train_cards"] + reward_model.training_counts["test_cards"] == 80
    assert set(reward_model.metrics["by_domain"]) == set(DOMAINS)
    overall = reward_model.metrics["overall"]
    assert overall["n"] == reward_model.training_counts["test_cards"] > 0
    assert overall["spearman"] > 0.3
    assert set(reward_model.metrics["dimensions"]) == set(learner.DIMENSIONS)
    data = get_storage().read_bytes(reward_model.artifact_key)
    assert sha256_bytes(data) == reward_model.artifact_sha256
    assert reward_model.feature_set["dense"]
    assert reward_model.hyperparameters["seed"] == learner.DEFAULT_HYPERPARAMETERS["seed"]


def test_it_returns_the_existing_version_when_the_data_has_not_changed(labels):
    labels.labeled(40)
    first, created_first = reward_model_train()

    second, created_second = reward_model_train()

    assert created_first and not created_second
    assert second.pk == first.pk
    assert RewardModel.objects.count() == 1


def test_it_makes_a_new_version_when_labels_are_added(labels):
    labels.labeled(40)
    first, _ = reward_model_train()
    labels.labeled(5)

    second, created = reward_model_train()

    assert created and second.training_data_hash != first.training_data_hash


def test_it_is_reproducible_same_data_same_hash_and_metrics(labels):
    labels.labeled(50)
    labels.preferences(20)
    examples = reward_training_examples()

    again = reward_training_examples()
    first = evaluate(
        learner.learner_fit(cards=examples["train_cards"], pairs=examples["train_pairs"]),
        cards=examples["test_cards"],
        pairs=examples["test_pairs"],
    )
    second = evaluate(
        learner.learner_fit(cards=again["train_cards"], pairs=again["train_pairs"]),
        cards=again["test_cards"],
        pairs=again["test_pairs"],
    )

    assert again["data_hash"] == examples["data_hash"]
    assert first == second


def test_it_keeps_held_out_traces_held_out_when_labels_are_added(labels):
    labels.labeled(60)
    before = reward_training_examples()
    labels.labeled(60)

    after = reward_training_examples()

    held_out_before = {c["key"] for c in before["test_cards"]}
    assert held_out_before <= {c["key"] for c in after["test_cards"]}
    assert not held_out_before & {c["key"] for c in after["train_cards"]}
    assert 0.1 < len(after["test_cards"]) / 120 < 0.3  # one in five


def test_it_holds_out_about_one_example_in_five():
    held_out = [key for key in (f"trace:{n}" for n in range(500)) if example_is_held_out(key)]

    assert 60 < len(held_out) < 140


def test_it_never_reads_raw_trace_columns_to_build_training_examples(labels):
    labels.labeled(5)

    with CaptureQueriesContext(connection) as queries:
        examples = reward_training_examples()

    assert len(examples["train_cards"]) + len(examples["test_cards"]) == 5
    sql = " ".join(query["sql"] for query in queries)
    for column in ("user_message", "context", "tool_calls", "final_response"):
        assert f'"traces_trace"."{column}"' not in sql
    assert '"traces_trace"."scrubbed_final_response"' in sql
    assert all("RAW" not in str(card["item"]) for card in examples["train_cards"] + examples["test_cards"])


def test_it_refuses_to_train_without_enough_labels(labels):
    labels.labeled(5)

    with pytest.raises(ApplicationError, match="not enough labels"):
        reward_model_train()
    assert not RewardModel.objects.exists()


def test_it_refuses_to_load_an_artifact_whose_sha256_does_not_match(labels):
    labels.labeled(40)
    reward_model, _ = reward_model_train()
    storage = get_storage()
    data = bytearray(storage.read_bytes(reward_model.artifact_key))
    data[-10] ^= 0xFF
    storage.write_bytes(reward_model.artifact_key, bytes(data))
    artifact_cache_clear()

    with pytest.raises(ArtifactIntegrityError, match="sha256"):
        reward_model_predict(items=[{"final_response": "hi"}])


def test_it_serves_a_loaded_artifact_from_the_process_cache(labels):
    labels.labeled(40)
    reward_model, _ = reward_model_train()

    assert artifact_load(reward_model) is artifact_load(reward_model)


def test_it_keeps_a_worse_model_as_a_candidate_with_the_reason(labels):
    labels.labeled(80)
    good, _ = reward_model_train()
    assert good.status == "active"

    worse, created = reward_model_train(examples=_shuffled_labels(reward_training_examples()))

    assert created
    assert worse.status == "candidate"
    assert f"does not beat active {good.version}" in worse.status_reason
    assert worse.metrics["comparison"]["metric"] == "spearman"
    good.refresh_from_db()
    assert good.status == "active"


def test_it_promotes_a_better_model_and_retires_the_old_active_one(labels):
    labels.labeled(80)
    examples = reward_training_examples()
    worse, _ = reward_model_train(examples=_shuffled_labels(examples))
    assert worse.status == "active"  # nothing was active

    better, _ = reward_model_train(examples=examples)

    assert better.status == "active"
    assert f"beats {worse.version}" in better.status_reason
    worse.refresh_from_db()
    assert worse.status == "retired"
    assert worse.status_reason == f"replaced by {better.version}"


def test_it_records_who_promoted_and_retired_and_why(labels, reviewer):
    labels.labeled(40)
    reward_model, _ = reward_model_train(promote=False)

    reward_model_promote(reward_model=reward_model, user=reviewer, reason="manual")
    reward_model_retire(reward_model=reward_model, user=reviewer, reason="drifted")

    reasons = list(reward_model.history.order_by("history_date").values_list("history_change_reason", "history_user"))
    assert reasons[-2:] == [("promoted: manual", reviewer.pk), ("retired: drifted", reviewer.pk)]
    reward_model.refresh_from_db()
    assert reward_model.status == "retired"


def test_it_promotes_when_no_model_is_active(labels):
    labels.labeled(40)
    reward_model, _ = reward_model_train(promote=False)

    assert reward_model_consider(reward_model=reward_model) is True
    reward_model.refresh_from_db()
    assert reward_model.status == "active"
    assert reward_model.status_reason == "no reward model was active"


def test_it_trains_from_preferences_alone(labels):
    labels.preferences(60)

    reward_model, _ = reward_model_train()

    assert reward_model.training_counts["train_cards"] == 0
    assert reward_model.metrics["overall"]["pairwise_accuracy"] is not None
    [prediction] = reward_model_predict(items=[{"final_response": "hi"}])
    assert 0 <= prediction["reward"] <= 1


def test_it_promotes_over_an_active_model_whose_artifact_is_corrupt(labels):
    labels.labeled(40)
    broken, _ = reward_model_train()
    get_storage().write_bytes(broken.artifact_key, b"garbage")
    artifact_cache_clear()
    labels.labeled(3)

    replacement, _ = reward_model_train()

    assert replacement.status == "active"
    assert replacement.status_reason.startswith(f"replaces {broken.version}, which cannot be loaded")
    assert "fails its sha256 check" in replacement.metrics["comparison"]["active_error"]
