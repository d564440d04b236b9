"""Online monitors: compare the candidate arm with the baseline arm of a running rollout.

Traces are those the agents tagged with the rollout's id, in the window
[max(started_at, now − ROLLOUT_MONITOR_WINDOW_HOURS), now]. Baseline arm = arm "baseline";
candidate arm = arm "candidate" (canary) or "shadow" (shadow replies never shown to the user).

Per arm: n, latency p95, tool error rate (share of traces with a failed tool call or a
"tool_error" flag), safety flags per 1,000 messages (share of traces with a flag starting with
"safety", ×1000) and the reward-model win-rate of the candidate over the baseline (the
probability that a candidate reply outscores a baseline reply: Mann–Whitney U / (n₁·n₂)).

Guards — the candidate is rolled back when a guard fails, i.e. the degradation is both larger
than its threshold (practical) and significant at ROLLOUT_MONITOR_ALPHA (statistical):
- tool error rate and safety rate: one-sided two-proportion z-test (pooled), H₁: p_candidate > p_baseline,
  and p_candidate − p_baseline > ROLLOUT_GUARD_TOOL_ERROR_DELTA / ROLLOUT_GUARD_SAFETY_PER_1000_DELTA/1000;
- latency p95: one-sided Mann–Whitney U test (candidate latencies stochastically larger) and
  p95_candidate > ROLLOUT_GUARD_LATENCY_P95_RATIO × p95_baseline;
- win-rate: one-sided Mann–Whitney U test on rewards (candidate lower) and win-rate < ROLLOUT_GUARD_MIN_WIN_RATE.
Below ROLLOUT_MONITOR_MIN_SAMPLES traces in either arm the decision is insufficient_data.
"""

import math
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from rollout.models import MonitorCheck, Rollout, RolloutState
from traces.models import Trace, TraceArm

CANDIDATE_ARMS = (TraceArm.CANDIDATE, TraceArm.SHADOW)


def two_proportion_z(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float]:
    """One-sided pooled z-test of H₁: p1 > p2; returns (z, p-value)."""
    if not n1 or not n2:
        return 0.0, 1.0
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    diff = x1 / n1 - x2 / n2
    if se == 0:
        return 0.0, 1.0 if diff <= 0 else 0.0
    z = diff / se
    return z, 0.5 * math.erfc(z / math.sqrt(2))


def mann_whitney(candidate: list[float], baseline: list[float], *, alternative: str) -> tuple[float, float]:
    """(U / (n1·n2), one-sided p-value); `alternative` "greater" or "less" for the candidate."""
    if not candidate or not baseline:
        return 0.5, 1.0
    from scipy.stats import mannwhitneyu

    result = mannwhitneyu(candidate, baseline, alternative=alternative)
    return float(result.statistic) / (len(candidate) * len(baseline)), float(result.pvalue)


def _p95(values: list[int]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)])


def _arm_rows(rollout: Rollout, window_start, window_end, arms) -> list[Trace]:
    return list(
        Trace.objects.filter(
            rollout_id=rollout.pk, arm__in=arms, occurred_at__gte=window_start, occurred_at__lte=window_end
        ).only("id", "latency_ms", "flags", "tool_calls", "scrubbed_tool_calls", "arm")
    )


def _tool_error(trace: Trace) -> bool:
    calls = trace.tool_calls or trace.scrubbed_tool_calls or []
    return "tool_error" in (trace.flags or []) or any(isinstance(c, dict) and c.get("error") for c in calls)


def _arm_metrics(traces: list[Trace]) -> dict:
    n = len(traces)
    latencies = [t.latency_ms for t in traces if t.latency_ms is not None]
    errors = sum(_tool_error(t) for t in traces)
    safety = sum(t.has_safety_flag for t in traces)
    return {
        "n": n,
        "latency_p95": _p95(latencies),
        "tool_errors": errors,
        "tool_error_rate": round(errors / n, 4) if n else None,
        "safety_flags": safety,
        "safety_per_1000": round(1000 * safety / n, 2) if n else None,
        "_latencies": latencies,
    }


def _rewards(traces: list[Trace]) -> tuple[list[float] | None, str]:
    from rollout.evaluation import reward_scores
    from traces.selectors import trace_scrubbed_view

    sample = sorted(traces, key=lambda t: t.pk)[-settings.ROLLOUT_MONITOR_MAX_SCORED :]
    full = Trace.objects.filter(pk__in=[t.pk for t in sample])
    return reward_scores([trace_scrubbed_view(t) for t in full])


def _guards(candidate: dict, baseline: dict, win: dict) -> list[dict]:
    alpha = settings.ROLLOUT_MONITOR_ALPHA
    guards = []
    for metric, count_key, delta in (
        ("tool_error_rate", "tool_errors", settings.ROLLOUT_GUARD_TOOL_ERROR_DELTA),
        ("safety_per_1000", "safety_flags", settings.ROLLOUT_GUARD_SAFETY_PER_1000_DELTA / 1000),
    ):
        z, p_value = two_proportion_z(candidate[count_key], candidate["n"], baseline[count_key], baseline["n"])
        difference = candidate[count_key] / candidate["n"] - baseline[count_key] / baseline["n"]
        failed = difference > delta and p_value < alpha
        guards.append(
            {
                "metric": metric,
                "test": "two-proportion z (one-sided)",
                "z": round(z, 3),
                "p_value": float(f"{p_value:.3g}"),
                "difference": round(difference, 4),
                "threshold": delta,
                "failed": failed,
            }
        )
    ratio_limit = settings.ROLLOUT_GUARD_LATENCY_P95_RATIO
    if candidate["latency_p95"] and baseline["latency_p95"]:
        _, p_value = mann_whitney(candidate["_latencies"], baseline["_latencies"], alternative="greater")
        ratio = candidate["latency_p95"] / baseline["latency_p95"]
        guards.append(
            {
                "metric": "latency_p95",
                "test": "Mann-Whitney U (one-sided)",
                "p_value": float(f"{p_value:.3g}"),
                "ratio": round(ratio, 3),
                "threshold": ratio_limit,
                "failed": ratio > ratio_limit and p_value < alpha,
            }
        )
    if win.get("win_rate") is not None:
        minimum = settings.ROLLOUT_GUARD_MIN_WIN_RATE
        guards.append(
            {
                "metric": "win_rate",
                "test": "Mann-Whitney U on rewards (one-sided)",
                "p_value": float(f"{win['p_value']:.3g}"),
                "win_rate": win["win_rate"],
                "threshold": minimum,
                "failed": win["win_rate"] < minimum and win["p_value"] < alpha,
            }
        )
    return guards


def _reason(guards: list[dict], candidate: dict, baseline: dict) -> str:
    parts = []
    for guard in guards:
        if not guard["failed"]:
            continue
        metric = guard["metric"]
        if metric == "latency_p95":
            parts.append(
                f"latency p95 {candidate['latency_p95']:.0f} ms vs baseline {baseline['latency_p95']:.0f} ms "
                f"(×{guard['ratio']}, limit ×{guard['threshold']}, Mann-Whitney p={guard['p_value']:.2g})"
            )
        elif metric == "win_rate":
            parts.append(f"win-rate {guard['win_rate']:.2f} < {guard['threshold']} (p={guard['p_value']:.2g})")
        else:
            parts.append(
                f"{metric} {candidate[metric]} vs baseline {baseline[metric]} (+{guard['difference']:.4f} as a rate, "
                f"limit +{guard['threshold']:g}, z={guard['z']}, p={guard['p_value']:.2g})"
            )
    return f"online monitor: {'; '.join(parts)} over n={candidate['n']} candidate / {baseline['n']} baseline messages"


def monitor_evaluate(*, rollout: Rollout, now=None) -> dict:
    """Metrics, guards and decision for a rollout (reads only)."""
    now = now or timezone.now()
    window_start = max(rollout.started_at, now - timedelta(hours=settings.ROLLOUT_MONITOR_WINDOW_HOURS))
    baseline_traces = _arm_rows(rollout, window_start, now, [TraceArm.BASELINE])
    candidate_traces = _arm_rows(rollout, window_start, now, CANDIDATE_ARMS)
    baseline, candidate = _arm_metrics(baseline_traces), _arm_metrics(candidate_traces)
    minimum = settings.ROLLOUT_MONITOR_MIN_SAMPLES
    result = {"window_start": window_start, "window_end": now, "guards": [], "win": {}}
    if candidate["n"] < minimum or baseline["n"] < minimum:
        result["decision"] = "insufficient_data"
        result["reason"] = (
            f"{candidate['n']} candidate and {baseline['n']} baseline messages; need {minimum} in each arm"
        )
    else:
        win = {}
        candidate_rewards, note = _rewards(candidate_traces)
        baseline_rewards, _ = _rewards(baseline_traces) if candidate_rewards is not None else (None, note)
        if candidate_rewards is not None and baseline_rewards is not None:
            win_rate, p_value = mann_whitney(candidate_rewards, baseline_rewards, alternative="less")
            win = {"win_rate": round(win_rate, 4), "p_value": p_value}
        else:
            win = {"win_rate": None, "note": note}
        result["win"] = win
        result["guards"] = _guards(candidate, baseline, win)
        failed = [g for g in result["guards"] if g["failed"]]
        result["decision"] = "rollback" if failed else "ok"
        result["reason"] = _reason(result["guards"], candidate, baseline) if failed else (win.get("note") or "")
    for arm in (baseline, candidate):
        arm.pop("_latencies")
    candidate["win_rate"] = result["win"].get("win_rate")
    result["metrics"] = {"baseline": baseline, "candidate": candidate, "guards": result["guards"]}
    return result


def monitor_check(*, rollout_id: int, force: bool = False) -> MonitorCheck | None:
    """Evaluate one running rollout, store a MonitorCheck and roll back if a guard failed.

    Safe to run twice: a second call within ROLLOUT_MONITOR_MIN_INTERVAL_SECONDS (unless `force`)
    or on a rollout that is no longer running does nothing and returns None.
    """
    from rollout.services import rollout_rollback

    with transaction.atomic():
        rollout = Rollout.objects.select_for_update().filter(pk=rollout_id).first()
        if rollout is None or rollout.state not in (RolloutState.SHADOW, RolloutState.CANARY):
            return None
        recent = timezone.now() - timedelta(seconds=settings.ROLLOUT_MONITOR_MIN_INTERVAL_SECONDS)
        if not force and rollout.monitor_checks.filter(checked_at__gte=recent).exists():
            return None
        result = monitor_evaluate(rollout=rollout)
        check = MonitorCheck.objects.create(
            rollout=rollout,
            window_start=result["window_start"],
            window_end=result["window_end"],
            metrics=result["metrics"],
            decision=result["decision"],
            reason=result["reason"][:5000],
        )
        if result["decision"] == "rollback":
            rollout_rollback(rollout=rollout, reason=result["reason"], automatic=True)
    return check


def monitor_run(*, rollout_id: int) -> str:
    """One check (rolls back on a failed guard), then, if the rollout is still running, disagreement sampling.
    Returns the decision, or "skipped" when the check did nothing (safe to run twice)."""
    from rollout.disagreements import disagreements_sample

    check = monitor_check(rollout_id=rollout_id)
    if check is None:
        return "skipped"
    if check.decision != "rollback":
        disagreements_sample(rollout=check.rollout)
    return check.decision
