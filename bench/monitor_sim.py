"""Simulated week of online-monitor looks: false rollbacks and time to detect a degraded canary.

    .venv/bin/python bench/monitor_sim.py [--weeks 300] [--runs 100] [--per-day 300] [--canary 5]

Traffic: --per-day conversations a day (Poisson), each sent to the candidate with probability
--canary %, a look every 5 minutes. Baseline arm: tool errors 5%, safety flags 3 per 1,000,
latency lognormal (median 800 ms). The guards are the monitors' own (rollout.sequential.rate_evidence,
threshold GUARD_COUNT / ROLLOUT_MONITOR_ALPHA) on tool errors, safety flags and slow replies.
The win-rate guard is left out (it needs a reward model, and fails only below a 0.4 win-rate).

Prints, in the same run:
1. the false-rollback rate over --weeks simulated weeks with no degradation (goal ≤ 1%), for the
   sequential guards, the previous rule (z-test at α = 0.01 at every look, 200 traces per arm) and a
   naive z-test at every look with no minimum;
2. for tool-error rates 2×, 5× and 10× the baseline's: the share detected within four weeks and the
   median conversations (all arms, and candidate only) and hours to the rollback.
Not a test: figures only.
"""

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zeke_rft.settings")

LOOKS_PER_DAY = 288
BASE_ERROR, BASE_SAFETY, LATENCY_SIGMA = 0.05, 0.003, 0.35


def traffic(rng, days: int, per_day: float, canary: float, error_ratio: float) -> dict:
    """Per look: cumulative traces, errors, safety flags per arm, and each trace's latency and look."""
    per_look = rng.poisson(per_day / LOOKS_PER_DAY, size=days * LOOKS_PER_DAY)
    look = np.repeat(np.arange(len(per_look)), per_look)
    candidate = rng.random(len(look)) < canary
    error = rng.random(len(look)) < np.where(candidate, min(1.0, BASE_ERROR * error_ratio), BASE_ERROR)
    safety = rng.random(len(look)) < BASE_SAFETY
    latency = rng.lognormal(math.log(800), LATENCY_SIGMA, size=len(look))
    return {"look": look, "candidate": candidate, "error": error, "safety": safety, "latency": latency}


def cumulative(data: dict, mask, looks: int) -> np.ndarray:
    return np.cumsum(np.bincount(data["look"][mask], minlength=looks))


def z_fails(x1, n1, x2, n2, alpha=0.01) -> bool:
    if not n1 or not n2:
        return False
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return False
    z = (x1 / n1 - x2 / n2) / se
    return 0.5 * math.erfc(z / math.sqrt(2)) < alpha


def counts_per_look(data: dict, looks: int) -> dict:
    c, b = data["candidate"], ~data["candidate"]
    return {
        "n_c": cumulative(data, c, looks),
        "n_b": cumulative(data, b, looks),
        "err_c": cumulative(data, c & data["error"], looks),
        "err_b": cumulative(data, b & data["error"], looks),
        "saf_c": cumulative(data, c & data["safety"], looks),
        "saf_b": cumulative(data, b & data["safety"], looks),
    }


def slow_counts(data: dict, upto: int, ratio: float) -> tuple[int, int, int, int]:
    seen = data["look"] <= upto
    base = data["latency"][seen & ~data["candidate"]]
    cand = data["latency"][seen & data["candidate"]]
    limit = ratio * np.quantile(base, 0.95, method="inverted_cdf")
    return int((cand > limit).sum()), len(cand), int((base > limit).sum()), len(base)


def first_sequential_alarm(data: dict, looks: int, settings) -> int | None:
    from rollout.monitors import GUARD_COUNT
    from rollout.sequential import rate_evidence

    limit = GUARD_COUNT / settings.ROLLOUT_MONITOR_ALPHA
    counts = counts_per_look(data, looks)
    for index in range(looks):
        n_c, n_b = int(counts["n_c"][index]), int(counts["n_b"][index])
        if not n_c or not n_b:
            continue
        for x, y in (("err_c", "err_b"), ("saf_c", "saf_b")):
            e = rate_evidence(
                candidate_events=int(counts[x][index]),
                candidate_n=n_c,
                baseline_events=int(counts[y][index]),
                baseline_n=n_b,
            )
            if e["e_value"] >= limit:
                return index
        # Latency needs the baseline's p95 at this look: checked once an hour to keep the run short.
        if index % 12 == 11:
            x, n, y, m = slow_counts(data, index, settings.ROLLOUT_GUARD_LATENCY_P95_RATIO)
            if rate_evidence(candidate_events=x, candidate_n=n, baseline_events=y, baseline_n=m)["e_value"] >= limit:
                return index
    return None


def first_z_alarm(data: dict, looks: int, minimum: int) -> int | None:
    counts = counts_per_look(data, looks)
    for index in range(looks):
        n_c, n_b = int(counts["n_c"][index]), int(counts["n_b"][index])
        if n_c < max(minimum, 1) or n_b < max(minimum, 1):
            continue
        for x, y in (("err_c", "err_b"), ("saf_c", "saf_b")):
            if z_fails(int(counts[x][index]), n_c, int(counts[y][index]), n_b):
                return index
    return None


def false_rollbacks(args, settings) -> None:
    rng = np.random.default_rng(1)
    looks = 7 * LOOKS_PER_DAY
    alarms = {"sequential (always valid)": 0, "previous rule (z, 200/arm)": 0, "naive z every look": 0}
    started = time.perf_counter()
    for _ in range(args.weeks):
        data = traffic(rng, 7, args.per_day, args.canary / 100, 1.0)
        alarms["sequential (always valid)"] += first_sequential_alarm(data, looks, settings) is not None
        alarms["previous rule (z, 200/arm)"] += first_z_alarm(data, looks, 200) is not None
        alarms["naive z every look"] += first_z_alarm(data, looks, 1) is not None
    print(f"\n1. False rollbacks over {args.weeks} simulated weeks with no degradation ({looks} looks each):")
    for name, count in alarms.items():
        print(f"   {name:28s} {count:4d} / {args.weeks} = {count / args.weeks:.2%}")
    print(f"   ({time.perf_counter() - started:.0f} s)")


def detection(args, settings) -> None:
    rng = np.random.default_rng(2)
    days = 28
    looks = days * LOOKS_PER_DAY
    print(f"\n2. Detecting a tool-error degradation at a {args.canary:g}% canary, {args.per_day:g} conversations/day:")
    print("   ratio  detected≤4wk  median conversations (candidate)  median hours   [previous rule: detected, hours]")
    for ratio in (2.0, 5.0, 10.0):
        hours, conversations, candidates, old = [], [], [], []
        for _ in range(args.runs):
            data = traffic(rng, days, args.per_day, args.canary / 100, ratio)
            index = first_sequential_alarm(data, looks, settings)
            old_index = first_z_alarm(data, looks, 200)
            if old_index is not None:
                old.append((old_index + 1) * 5 / 60)
            if index is None:
                continue
            seen = data["look"] <= index
            hours.append((index + 1) * 5 / 60)
            conversations.append(int(seen.sum()))
            candidates.append(int((seen & data["candidate"]).sum()))
        share = len(hours) / args.runs
        if hours and share >= 0.5:
            median = f"{statistics.median(conversations):8.0f} ({statistics.median(candidates):5.0f})"
            line = f"{median:>31s}  {statistics.median(hours):10.1f}"
        else:
            line = f"{'> 4 weeks (fewer than half detected)':>44s}"
        old_line = f"{len(old) / args.runs:.0%}, median {statistics.median(old):.0f} h" if old else "0%"
        print(f"   {ratio:4.0f}×  {share:11.0%}  {line}   [{old_line}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=300, help="null weeks simulated for the false-rollback rate")
    parser.add_argument("--runs", type=int, default=100, help="runs per degradation")
    parser.add_argument("--per-day", type=float, default=300.0)
    parser.add_argument("--canary", type=float, default=5.0, help="canary share in percent")
    args = parser.parse_args()
    import django

    django.setup()
    from django.conf import settings

    print(
        f"Monitor simulation: α = {settings.ROLLOUT_MONITOR_ALPHA} over a rollout's life, looks every 5 min; "
        f"baseline tool errors {BASE_ERROR:.0%}, safety {BASE_SAFETY * 1000:g}/1,000"
    )
    false_rollbacks(args, settings)
    detection(args, settings)


if __name__ == "__main__":
    main()
