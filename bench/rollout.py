"""Rollout benchmark: refusal-detector agreement, run_eval throughput, monitor check and routing cost.

    .venv/bin/python bench/rollout.py [--traces 5000] [--database-url sqlite:////tmp/zeke_rollout_bench.sqlite3]

1. refusal detector: accuracy/precision/recall on every labeled set in tests/data/refusal, and texts/s;
2. run_eval: all seeded suites (687 cases, candidate + baseline = 1,374 chat completions) against the
   fake OpenAI server on loopback, at EVAL_CONCURRENCY 1, 4 and 8 — cases/s;
3. one online monitor check over --traces traces per arm;
4. policy_route (the /api/policy service) calls/s during a canary.

Prints figures; not a test. Uses a fresh database (SQLite file by default; pass a postgres:// URL to try PostgreSQL).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup(database_url: str) -> None:
    if database_url.startswith("sqlite:"):
        Path(database_url.split("sqlite:///", 1)[1]).unlink(missing_ok=True)
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zeke_rft.settings")
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ.setdefault("DEBUG", "true")  # in-process, no server: the dev settings are enough
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def bench_refusal() -> None:
    from rollout.refusal import refusal_agreement, refusal_detect

    texts = []
    for path in sorted((ROOT / "tests" / "data" / "refusal").glob("*_responses.jsonl")):
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        texts += [row["response"] for row in rows]
        agreement = refusal_agreement(rows)
        print(
            f"refusal {path.stem:22} n={agreement['n']:3} accuracy {agreement['accuracy']:.3f} "
            f"precision {agreement['precision']:.3f} recall {agreement['recall']:.3f}"
        )
    started = time.perf_counter()
    for _ in range(20):
        for text in texts:
            refusal_detect(text)
    print(f"refusal detector: {20 * len(texts) / (time.perf_counter() - started):,.0f} replies/s")


def bench_eval() -> None:
    from django.conf import settings

    from rollout.evaluation import eval_run_all, eval_suites_seed
    from rollout.models import EvalCase, Policy
    from rollout.seeds import all_suites
    from tests.fakes import openai_server
    from tests.rollout.conftest import Oracle

    openai_server._Handler.disable_nagle_algorithm = True
    eval_suites_seed(suites=all_suites())
    baseline = Policy.objects.create(model_id="gpt-4.1-mini", modality="chat", status="active")
    with openai_server.FakeOpenAI() as fake:
        settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL, settings.OPENAI_MAX_RETRIES = "bench", fake.base_url, 0
        fake.chat_responder = Oracle().load_cases()
        cases = EvalCase.objects.count()
        for concurrency in (1, 4, 8):
            settings.EVAL_CONCURRENCY = concurrency
            policy = Policy.objects.create(model_id=f"ft:bench-{concurrency}", modality="chat")
            started = time.perf_counter()
            runs = eval_run_all(policy=policy, baseline=baseline)
            seconds = time.perf_counter() - started
            passed = sum(run.passed for run in runs)
            print(
                f"run_eval concurrency {concurrency}: {cases} cases ({2 * cases} completions) in {seconds:.1f} s "
                f"= {cases / seconds:.0f} cases/s; {passed}/{len(runs)} suites passed"
            )


def bench_monitor(n: int) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from rollout.models import Policy, Rollout
    from rollout.monitors import monitor_check
    from rollout.routing import policy_route
    from tests.rollout.conftest import TraceMaker
    from traces.services import agent_create

    candidate = Policy.objects.create(model_id="ft:bench-monitor", modality="chat", status="canary")
    baseline = Policy.objects.get(model_id="gpt-4.1-mini")
    rollout = Rollout.objects.create(
        modality="chat", candidate=candidate, baseline=baseline, state="canary", traffic_percent=10, salt="bench"
    )
    Rollout.objects.filter(pk=rollout.pk).update(started_at=timezone.now() - timedelta(hours=2))
    rollout.refresh_from_db()
    maker = TraceMaker(agent_create(name="bench-agent")[0])
    maker.make(rollout, "baseline", n, policy_id=str(baseline.pk), error_rate=0.05, seed=1)
    maker.make(rollout, "candidate", n, policy_id=str(candidate.pk), error_rate=0.05, seed=2)
    started = time.perf_counter()
    check = monitor_check(rollout_id=rollout.pk, force=True)
    print(f"monitor check over {n} + {n} traces: {time.perf_counter() - started:.2f} s, decision {check.decision}")
    started = time.perf_counter()
    for i in range(2000):
        policy_route(modality="chat", conversation_id=f"c{i}")
    print(f"policy_route during a canary: {2000 / (time.perf_counter() - started):,.0f} calls/s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--traces", type=int, default=5000)
    parser.add_argument("--database-url", default="sqlite:////tmp/zeke_rollout_bench.sqlite3")
    args = parser.parse_args()
    setup(args.database_url)
    bench_refusal()
    bench_eval()
    bench_monitor(args.traces)


if __name__ == "__main__":
    main()
