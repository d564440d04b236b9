"""Benchmark of the reward model. Run: .venv/bin/python bench/reward.py

1. Learner (no database): training on 10,000 synthetic score cards + 10,000 preferences,
   batch scoring throughput, held-out metrics, and how well uncertainty ranks errors
   (Spearman(uncertainty, |error|)) on the standard synthetic split and on a harder one
   (`rewards.synthetic.synthetic_hard_cards`: ambiguous requests reviewers disagree on,
   and held-out replies in a vocabulary the model never saw).
2. End to end (`rewards.services.traces_score` on a fresh SQLite file, or with
   BENCH_REWARD_POSTGRES=postgres://postgres@127.0.0.1:5432 on a fresh database
   zeke_rft_bench_reward, dropped and re-created): read 20,000 eligible traces, predict,
   write the model RewardEvents; the figure counts all three.

Goals (issue 5): training under 30 s, scoring over 5,000 traces/s on 2 cores.
BENCH_REWARD_CARDS / _PAIRS / _SCORE change the sizes; BENCH_REWARD_PARTS=learner or e2e runs one part.
"""

import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rewards import evaluation, learner  # noqa: E402
from rewards.synthetic import synthetic_card, synthetic_hard_cards, synthetic_pair, synthetic_trace  # noqa: E402

N_CARDS = int(os.environ.get("BENCH_REWARD_CARDS", 10_000))
N_PAIRS = int(os.environ.get("BENCH_REWARD_PAIRS", 10_000))
N_SCORE = int(os.environ.get("BENCH_REWARD_SCORE", 20_000))
PARTS = os.environ.get("BENCH_REWARD_PARTS", "learner,e2e").split(",")
BENCH_DB = "zeke_rft_bench_reward"


def _learner() -> tuple[bool, dict]:
    rng = random.Random(1)
    cards = [synthetic_card(rng) for _ in range(N_CARDS + 1000)]
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

    before = _deviation_only_spearman(artifact, test_cards)
    overall = metrics["overall"]
    print(f"reward model training: {N_CARDS} score cards + {N_PAIRS} preferences in {fit_seconds:.1f} s (goal < 30 s)")
    print(f"learner scoring: {len(items)} traces in {score_seconds:.2f} s = {throughput:,.0f} traces/s (goal 5,000)")
    print(
        f"held-out (synthetic): spearman {overall['spearman']}, MAE {overall['mae']}, "
        f"pairwise accuracy {overall['pairwise_accuracy']}, ECE {overall['ece']}; mean uncertainty "
        f"{metrics['mean_uncertainty']}, Spearman(uncertainty, |error|) {metrics['uncertainty_error_spearman']} "
        f"(ensemble deviation alone, the old rule: {before})"
    )
    for domain, row in metrics["by_domain"].items():
        print(
            f"  {domain:<14} spearman {row['spearman']}  MAE {row['mae']}  pairwise accuracy {row['pairwise_accuracy']}"
        )
    train_hard, test_hard = synthetic_hard_cards(random.Random(2), n_train=N_CARDS // 2, n_test=1000)
    hard_artifact = learner.learner_fit(cards=train_hard, pairs=[])
    hard = evaluation.evaluate(hard_artifact, cards=test_hard, pairs=[])
    print(
        f"held-out (synthetic, ambiguous + novel items): spearman {hard['overall']['spearman']}, "
        f"MAE {hard['overall']['mae']}, mean uncertainty {hard['mean_uncertainty']}, "
        f"Spearman(uncertainty, |error|) {hard['uncertainty_error_spearman']} "
        f"(ensemble deviation alone: {_deviation_only_spearman(hard_artifact, test_hard)})"
    )
    return fit_seconds < 30 and throughput > 5000, artifact


def _deviation_only_spearman(artifact: dict, cards: list[dict]):
    """Spearman(uncertainty, |error|) with the old uncertainty: the bootstrap ensemble's deviation."""
    deviation_only = {key: value for key, value in artifact.items() if key != "prior_error"}
    predicted = learner.learner_predict(deviation_only, [c["item"] for c in cards])
    rewards = [c["reward"] for c in cards]
    return evaluation.spearman(predicted["uncertainty"], abs(predicted["reward"] - rewards))


def _fresh_postgres(server: str) -> str:
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{BENCH_DB}"')
    return f"{server}/{BENCH_DB}"


def _end_to_end(artifact: dict) -> bool:
    server = os.environ.get("BENCH_REWARD_POSTGRES")
    folder = tempfile.mkdtemp(prefix="bench-reward-")
    os.environ["DATABASE_URL"] = _fresh_postgres(server) if server else f"sqlite:///{folder}/bench.sqlite3"
    os.environ["TRACE_STORAGE_URL"] = f"{folder}/storage"
    os.environ["DEBUG"] = "false"  # no query log
    os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zeke_rft.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from rewards.artifacts import artifact_write
    from rewards.models import RewardModel, RewardModelStatus
    from rewards.services import SCORING_BATCH_SIZE, traces_score
    from traces.models import Agent, Trace, TraceStatus

    call_command("migrate", verbosity=0)
    agent = Agent.objects.create(name=f"bench-{time.time_ns()}", token_hash=str(time.time_ns()), token_prefix="b")
    rng, now = random.Random(3), timezone.now()
    rows = []
    for index in range(N_SCORE):
        item = synthetic_trace(rng)[0]
        rows.append(
            Trace(
                agent=agent,
                external_id=f"bench-{index}",
                conversation_id=f"c-{index}",
                user_message="",
                task_category=item["task_category"],
                latency_ms=item["latency_ms"],
                flags=item["flags"],
                occurred_at=now,
                status=TraceStatus.ELIGIBLE,
                scrubbed_user_message=item["user_message"],
                scrubbed_final_response=item["final_response"],
                scrubbed_tool_calls=item["tool_calls"],
                scrubbed_context={"channel": "chat"},
                scrubbed_at=now,
            )
        )
    Trace.objects.bulk_create(rows, batch_size=2000)
    version = f"rm-bench-{time.time_ns()}"
    key, sha256 = artifact_write(version=version, artifact=artifact)
    reward_model = RewardModel.objects.create(
        version=version,
        training_data_hash=version,
        artifact_key=key,
        artifact_sha256=sha256,
        status=RewardModelStatus.CANDIDATE,
    )
    read_models, read_rows, items = _read_seconds(reward_model.version)
    started = time.perf_counter()
    for start in range(0, len(items), SCORING_BATCH_SIZE):
        learner.learner_predict(artifact, items[start : start + SCORING_BATCH_SIZE])
    predict_seconds = time.perf_counter() - started
    started = time.perf_counter()
    result = traces_score(reward_model=reward_model)
    seconds = time.perf_counter() - started
    throughput = result["scored"] / seconds
    vendor = django.db.connection.vendor
    print(
        f"end-to-end scoring ({vendor}: read, predict, write events): {result['scored']} traces in {seconds:.2f} s "
        f"= {throughput:,.0f} traces/s (goal 5,000)"
    )
    print(
        f"  of which read {read_rows:.2f} s (as model instances + trace_scrubbed_view, the old way: "
        f"{read_models:.2f} s), predict {predict_seconds:.2f} s, write ≈ {seconds - read_rows - predict_seconds:.2f} s"
    )
    return throughput > 5000


def _read_seconds(version: str) -> tuple[float, float, list[dict]]:
    """Seconds to read every trace to score: as ORM instances through trace_scrubbed_view (the
    old way), and as the rows traces_score reads now."""
    from rewards.selectors import traces_to_score, traces_to_score_items
    from rewards.services import SCORING_BATCH_SIZE
    from traces.selectors import trace_scrubbed_view

    view_fields = ["id", "conversation_id", "modality", "task_category", "scrubbed_user_message", "scrubbed_context"]
    view_fields += ["selected_tools", "scrubbed_tool_calls", "scrubbed_final_response", "latency_ms", "flags"]
    view_fields += ["policy_id", "arm", "occurred_at"]
    started, last_id = time.perf_counter(), 0
    while batch := list(traces_to_score(version=version).only(*view_fields).filter(id__gt=last_id)[:2000]):
        last_id = batch[-1].pk
        [trace_scrubbed_view(trace) for trace in batch]
    models_seconds = time.perf_counter() - started
    started, last_id, items = time.perf_counter(), 0, []
    while batch := traces_to_score_items(version=version, after_id=last_id, limit=SCORING_BATCH_SIZE):
        last_id = batch[-1]["id"]
        items.extend(batch)
    return models_seconds, time.perf_counter() - started, items


def main() -> int:
    ok, artifact = True, None
    if "learner" in PARTS or "e2e" in PARTS:
        ok, artifact = _learner() if "learner" in PARTS else (True, None)
    if "e2e" in PARTS:
        if artifact is None:
            rng = random.Random(1)
            artifact = learner.learner_fit(cards=[synthetic_card(rng) for _ in range(2000)], pairs=[])
        ok = _end_to_end(artifact) and ok
    print("OK" if ok else "SLOWER THAN THE GOAL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
