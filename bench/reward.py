"""Benchmark of the reward model: training on 10,000 synthetic score cards + 10,000
preferences, and batch scoring throughput. Run: .venv/bin/python bench/reward.py

Goals (issue 5): training under 30 s, scoring over 5,000 traces/s on 2 cores.
Measures the learner itself (rewards.learner), not the database reads around it.
"""

import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rewards import evaluation, learner  # noqa: E402
from rewards.synthetic import synthetic_pair, synthetic_trace  # noqa: E402

N_CARDS = int(os.environ.get("BENCH_REWARD_CARDS", 10_000))
N_PAIRS = int(os.environ.get("BENCH_REWARD_PAIRS", 10_000))
N_SCORE = int(os.environ.get("BENCH_REWARD_SCORE", 20_000))


def card(rng):
    item, scores = synthetic_trace(rng)
    dims = {d: (scores[d] - 1) / 4 for d in learner.DIMENSIONS}
    reward = 0.4 * dims["success"] + 0.3 * dims["helpfulness"] + 0.1 * dims["tone_alignment"] + 0.2 * dims["safety"]
    if scores["safety"] <= 2:
        reward = min(reward, 0.2)
    item["complexity"] = scores["complexity"]
    return {"item": item, "reward": reward, "dimensions": dims, "domain": item["task_category"]}


def main() -> int:
    rng = random.Random(1)
    cards = [card(rng) for _ in range(N_CARDS + 1000)]
    pairs = [synthetic_pair(rng) for _ in range(N_PAIRS + 1000)]
    train_cards, test_cards = cards[:N_CARDS], cards[N_CARDS:]
    train_pairs, test_pairs = pairs[:N_PAIRS], pairs[N_PAIRS:]

    started = time.perf_counter()
    artifact = learner.learner_fit(cards=train_cards, pairs=train_pairs)
    fit_seconds = time.perf_counter() - started

    metrics = evaluation.evaluate(artifact, cards=test_cards, pairs=test_pairs)

    items = [synthetic_trace(rng)[0] for _ in range(N_SCORE)]
    learner.learner_predict(artifact, items[:100])  # warm-up
    started = time.perf_counter()
    for start in range(0, len(items), 2000):
        learner.learner_predict(artifact, items[start : start + 2000])
    score_seconds = time.perf_counter() - started
    throughput = len(items) / score_seconds

    overall = metrics["overall"]
    print(f"reward model training: {N_CARDS} score cards + {N_PAIRS} preferences in {fit_seconds:.1f} s (goal < 30 s)")
    print(
        f"reward model scoring: {len(items)} traces in {score_seconds:.2f} s = {throughput:,.0f} traces/s (goal 5,000)"
    )
    print(
        f"held-out (synthetic): spearman {overall['spearman']}, MAE {overall['mae']}, "
        f"pairwise accuracy {overall['pairwise_accuracy']}, ECE {overall['ece']}; mean uncertainty "
        f"{metrics['mean_uncertainty']}, Spearman(uncertainty, |error|) {metrics['uncertainty_error_spearman']}"
    )
    for domain, row in metrics["by_domain"].items():
        print(
            f"  {domain:<14} spearman {row['spearman']}  MAE {row['mae']}  pairwise accuracy {row['pairwise_accuracy']}"
        )
    ok = fit_seconds < 30 and throughput > 5000
    print("OK" if ok else "SLOWER THAN THE GOAL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
