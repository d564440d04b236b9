"""The learner and metrics on their own (no database)."""

import random
import time

import numpy as np
import pytest

from rewards import learner
from rewards.evaluation import calibration, evaluate, primary_metric, spearman
from rewards.plots import scatter_svg
from rewards.synthetic import synthetic_card, synthetic_hard_cards, synthetic_pair, synthetic_trace


def _cards(n, seed=1):
    rng = random.Random(seed)
    return [synthetic_card(rng) for _ in range(n)]


@pytest.fixture(scope="module")
def fitted():
    cards = _cards(500)
    rng = random.Random(2)
    pairs = [synthetic_pair(rng) for _ in range(300)]
    return learner.learner_fit(cards=cards[:400], pairs=pairs[:200]), cards[400:], pairs[200:]


def test_it_learns_the_human_reward_on_held_out_synthetic_traces(fitted):
    artifact, test_cards, test_pairs = fitted

    metrics = evaluate(artifact, cards=test_cards, pairs=test_pairs)

    assert metrics["overall"]["spearman"] > 0.6
    assert metrics["overall"]["pairwise_accuracy"] > 0.7
    assert primary_metric(metrics) == ("spearman", metrics["overall"]["spearman"])


def test_its_uncertainty_is_on_the_scale_of_its_absolute_error(fitted):
    artifact, test_cards, _ = fitted

    metrics = evaluate(artifact, cards=test_cards, pairs=[])

    assert metrics["overall"]["mae"] / 3 < metrics["mean_uncertainty"] < metrics["overall"]["mae"] * 3


@pytest.fixture(scope="module")
def fitted_on_hard_cards():
    """Deterministic cards where a quarter are ambiguous (reviewers disagree: reward uniform in
    [0, 1]) and a fifth of the test items are replies in a vocabulary training never saw."""
    train, test = synthetic_hard_cards(random.Random(12), n_train=1200, n_test=400)
    artifact = learner.learner_fit(cards=train, pairs=[])
    predicted = learner.learner_predict(artifact, [c["item"] for c in test])
    error = np.abs(predicted["reward"] - np.array([c["reward"] for c in test]))
    return artifact, test, predicted["uncertainty"], error


def test_its_uncertainty_ranks_the_traces_it_gets_wrong_higher(fitted_on_hard_cards):
    _, _, uncertainty, error = fitted_on_hard_cards

    # Measured 0.478 on this data (0.43–0.52 over other seeds); the ensemble deviation alone: 0.414.
    assert spearman(uncertainty, error) >= 0.42


def test_its_uncertainty_ranks_errors_better_than_the_ensemble_deviation_alone(fitted_on_hard_cards):
    artifact, test, uncertainty, error = fitted_on_hard_cards
    deviation_only = {key: value for key, value in artifact.items() if key != "prior_error"}  # the format 1 rule

    before = learner.learner_predict(deviation_only, [c["item"] for c in test])["uncertainty"]

    assert spearman(uncertainty, error) > spearman(before, error) + 0.03


def test_it_is_more_uncertain_about_ambiguous_and_novel_traces_than_clear_ones(fitted_on_hard_cards):
    _, test, uncertainty, error = fitted_on_hard_cards
    kind = np.array([c["hard"] for c in test])
    mean = {name: uncertainty[kind == name].mean() for name in ("", "ambiguous", "novel")}

    assert mean["ambiguous"] > 2 * mean[""]  # measured 0.222 vs 0.097
    assert mean["novel"] > 1.6 * mean[""]  # measured 0.199
    # and the scale still reads as an expected absolute error
    assert error.mean() / 1.5 < uncertainty.mean() < error.mean() * 1.5


def test_it_falls_back_to_the_prior_error_on_text_it_has_never_seen(fitted):
    artifact, test_cards, _ = fitted
    known = {**test_cards[0]["item"], "tool_calls": []}
    unseen = {**known, "user_message": "Qxv zorblat fnord", "final_response": "Wibble quux plonk zentaroo."}

    uncertainty_known, uncertainty_unseen = learner.learner_predict(artifact, [known, unseen])["uncertainty"]

    assert uncertainty_unseen == pytest.approx(artifact["prior_error"])
    assert uncertainty_known < uncertainty_unseen


def test_it_tolerates_missing_and_oddly_typed_fields(fitted):
    artifact, _, _ = fitted
    items = [
        {},
        {"user_message": None, "final_response": True, "tool_calls": None, "flags": None, "latency_ms": "slow"},
        {"tool_calls": {"tool_calls": [{"name": "web_search", "error": "boom"}]}, "task_category": "unknown"},
        {"tool_calls": ["not a call"], "complexity": 2, "latency_ms": -5},
    ]

    predicted = learner.learner_predict(artifact, items)

    assert predicted["reward"].shape == (4,)
    assert np.all((predicted["reward"] >= 0) & (predicted["reward"] <= 1))
    assert np.all(predicted["uncertainty"] >= 0)


def test_it_scores_thousands_of_traces_a_second(fitted):
    artifact, _, _ = fitted
    rng = random.Random(4)
    items = [synthetic_trace(rng)[0] for _ in range(5000)]

    started = time.perf_counter()
    learner.learner_predict(artifact, items)

    assert time.perf_counter() - started < 5.0  # measured ~0.25–0.5 s; the goal is > 5,000/s


def test_it_refuses_to_fit_on_nothing():
    with pytest.raises(ValueError, match="nothing to train on"):
        learner.learner_fit(cards=[], pairs=[{"a": {}, "b": {}, "winner": "tie", "domain": "ops"}])


def test_calibration_is_perfect_when_confidence_matches_accuracy():
    probability = np.array([0.75] * 4 + [0.25] * 4)
    a_won = np.array([True, True, True, False, False, False, False, True])

    result = calibration(probability, a_won)

    assert result["ece"] == 0.0
    assert result["bins"] == [{"low": 0.7, "high": 0.8, "n": 8, "confidence": 0.75, "accuracy": 0.75}]


def test_calibration_measures_overconfidence():
    result = calibration(np.array([0.95, 0.95, 0.95, 0.95]), np.array([True, False, True, False]))

    assert result["ece"] == pytest.approx(0.45)


def test_spearman_is_undefined_for_constant_or_tiny_inputs():
    assert spearman([0.5, 0.5, 0.5], [0.1, 0.2, 0.3]) is None
    assert spearman([0.1, 0.2], [0.1, 0.2]) is None
    assert spearman([0.1, 0.2, 0.3], [0.3, 0.2, 0.1]) == -1.0


def test_the_scatter_plot_escapes_labels_and_skips_missing_points():
    svg = scatter_svg([[0.2, 0.3, "<script>"], [None, 0.5, "ops"], [1.0, 0.9, "ops"]])

    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert svg.count("<circle") == 2


def test_it_does_not_bias_traces_that_have_no_reviewer_complexity():
    # Only reviewers rate complexity: traces being scored never have one. Here harder tasks score lower.
    cards = _cards(700, seed=3)
    for card in cards:
        card["reward"] = float(np.clip(card["reward"] - 0.15 * (card["item"]["complexity"] - 2), 0, 1))
    artifact = learner.learner_fit(cards=cards[:500], pairs=[])
    unrated = [{k: v for k, v in card["item"].items() if k != "complexity"} for card in cards[500:]]

    predicted = learner.learner_predict(artifact, unrated)["reward"]

    truth = np.array([card["reward"] for card in cards[500:]])
    # Measured: mean 0.613 vs 0.619 human (before imputing the training mean: 0.852).
    assert abs(predicted.mean() - truth.mean()) < 0.06
