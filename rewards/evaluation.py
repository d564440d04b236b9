"""Metrics of a fitted artifact on held-out examples (no database).

- Spearman between predicted and human reward, and MAE, overall and per domain;
  Spearman and MAE per rubric dimension;
- pairwise accuracy on decisive preferences (P(a beats b) > 0.5 when a won; 0.5 counts half);
- calibration of those pairwise probabilities: reliability bins of the confidence
  max(p, 1 - p) in [0.5, 1] and the expected calibration error
  ECE = Σ_bins (n_bin / n) · |accuracy_bin − mean confidence_bin|.
"""

import math

import numpy as np
from scipy.stats import spearmanr

from rewards.learner import DIMENSIONS, learner_pair_probability, learner_predict

DOMAINS = ("communication", "scheduling", "ops", "research", "memory")
CALIBRATION_BINS = 5
SCATTER_POINTS = 400


def _round(value):
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(float(value), 4)


def spearman(predicted, human) -> float | None:
    predicted, human = np.asarray(predicted, dtype=float), np.asarray(human, dtype=float)
    if len(predicted) < 3 or np.ptp(predicted) == 0 or np.ptp(human) == 0:
        return None
    return _round(spearmanr(predicted, human).statistic)


def _point_metrics(predicted: np.ndarray, human: np.ndarray) -> dict:
    if len(human) == 0:
        return {"n": 0, "spearman": None, "mae": None}
    return {
        "n": int(len(human)),
        "spearman": spearman(predicted, human),
        "mae": _round(np.abs(predicted - human).mean()),
    }


def _pair_metrics(probability: np.ndarray, a_won: np.ndarray) -> dict:
    if len(a_won) == 0:
        return {"n_pairs": 0, "pairwise_accuracy": None}
    correct = np.where(probability == 0.5, 0.5, (probability > 0.5) == a_won)
    return {"n_pairs": int(len(a_won)), "pairwise_accuracy": _round(correct.mean())}


def calibration(probability: np.ndarray, a_won: np.ndarray, bins: int = CALIBRATION_BINS) -> dict:
    """Reliability bins over the confidence max(p, 1-p) and the expected calibration error."""
    if len(a_won) == 0:
        return {"ece": None, "bins": []}
    confidence = np.maximum(probability, 1 - probability)
    correct = (probability >= 0.5) == a_won
    edges = np.linspace(0.5, 1.0, bins + 1)
    rows, ece = [], 0.0
    for index in range(bins):
        upper = confidence <= edges[index + 1] if index == bins - 1 else confidence < edges[index + 1]
        members = (confidence >= edges[index]) & upper
        if not members.any():
            continue
        accuracy, mean_confidence = correct[members].mean(), confidence[members].mean()
        ece += members.mean() * abs(accuracy - mean_confidence)
        rows.append(
            {
                "low": _round(edges[index]),
                "high": _round(edges[index + 1]),
                "n": int(members.sum()),
                "confidence": _round(mean_confidence),
                "accuracy": _round(accuracy),
            }
        )
    return {"ece": _round(ece), "bins": rows}


def evaluate(artifact: dict, *, cards: list[dict], pairs: list[dict]) -> dict:
    """All metrics of `artifact` on held-out cards and pairs (ties left out of pair metrics)."""
    predicted = learner_predict(artifact, [c["item"] for c in cards])
    human = np.array([c["reward"] for c in cards], dtype=float)
    domains = np.array([c["domain"] for c in cards])
    decisive = [p for p in pairs if p["winner"] in ("a", "b")]
    probability = learner_pair_probability(artifact, [p["a"] for p in decisive], [p["b"] for p in decisive])
    a_won = np.array([p["winner"] == "a" for p in decisive], dtype=bool)
    pair_domains = np.array([p["domain"] for p in decisive])

    overall = {**_point_metrics(predicted["reward"], human), **_pair_metrics(probability, a_won)}
    overall["ece"] = calibration(probability, a_won)["ece"]
    by_domain = {}
    for domain in DOMAINS:
        rows, pair_rows = domains == domain, pair_domains == domain
        by_domain[domain] = {
            **_point_metrics(predicted["reward"][rows], human[rows]),
            **_pair_metrics(probability[pair_rows], a_won[pair_rows]),
        }
    dimensions = {}
    if predicted["dimensions"] is not None and cards:
        for index, name in enumerate(DIMENSIONS):
            truth = np.array([c["dimensions"][name] for c in cards], dtype=float)
            dimensions[name] = _point_metrics(predicted["dimensions"][:, index], truth)
    step = max(1, len(cards) // SCATTER_POINTS)
    scatter = [[_round(human[i]), _round(predicted["reward"][i]), str(domains[i])] for i in range(0, len(cards), step)]
    return {
        "overall": overall,
        "by_domain": by_domain,
        "dimensions": dimensions,
        "calibration": calibration(probability, a_won),
        "scatter": scatter,
        "mean_uncertainty": _round(predicted["uncertainty"].mean()) if cards else None,
        # Does the model know when it is wrong? Spearman of uncertainty with |predicted − human|.
        "uncertainty_error_spearman": spearman(predicted["uncertainty"], np.abs(predicted["reward"] - human))
        if cards
        else None,
    }


def primary_metric(metrics: dict) -> tuple[str, float | None]:
    """What promotion compares: Spearman with the human reward when the split has score cards
    (at least 5), else pairwise accuracy."""
    overall = metrics.get("overall", {})
    if (overall.get("n") or 0) >= 5 and overall.get("spearman") is not None:
        return "spearman", overall["spearman"]
    return "pairwise_accuracy", overall.get("pairwise_accuracy")
