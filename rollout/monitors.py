"""Online monitors: compare the candidate arm with the baseline arm of a running rollout, on live traffic.

Traces are those the agents tagged with the rollout's id since the rollout started, whatever
their status: guard metrics come from trace metadata (latency, flags, tool-call errors), so a
check never waits for the 02:00 filter. Baseline arm = arm "baseline"; candidate arm = arm
"candidate" (canary) or "shadow" (shadow replies never shown to the user).

Per arm: n, latency p95, tool error rate (share of traces with a failed tool call or a
"tool_error" flag), safety flags per 1,000 messages, and the reward-model win-rate of the
candidate over the baseline (Mann–Whitney U / (n₁·n₂)) on replies scrubbed at check time
(rollout/live.py).

Guards are always-valid sequential tests (rollout/sequential.py): each is an e-value that the
candidate's rate of an event is higher than the baseline's, and a guard fails when it reaches
1/α_guard, α_guard = ROLLOUT_MONITOR_ALPHA / number of guards (so the whole check keeps
ROLLOUT_MONITOR_ALPHA over every look of the rollout's life). Events:
- tool_error_rate: a trace with a failed tool call;
- safety_per_1000: a trace with a safety flag;
- latency_p95: a reply slower than ROLLOUT_GUARD_LATENCY_P95_RATIO × the baseline's p95;
- win_rate: a reward below the baseline's median reward, and the win-rate under
  ROLLOUT_GUARD_MIN_WIN_RATE (the practical margin).
With no trace in an arm yet the decision is insufficient_data.
"""

import logging
import math
import statistics
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from rollout.models import MonitorCheck, Rollout, RolloutState
from rollout.sequential import rate_evidence
from traces.models import Trace, TraceArm

logger = logging.getLogger(__name__)

CANDIDATE_ARMS = (TraceArm.CANDIDATE, TraceArm.SHADOW)
GUARD_COUNT = 4


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
        ).only(
            "id", "conversation_id", "latency_ms", "flags", "tool_calls", "scrubbed_tool_calls", "arm", "scrubbed_at"
        )
    )


def _tool_error(trace: Trace) -> bool:
    calls = trace.tool_calls or trace.scrubbed_tool_calls or []
    if not isinstance(calls, list):
        calls = []
    return "tool_error" in (trace.flags or []) or any(isinstance(c, dict) and c.get("error") for c in calls)


def _arm_metrics(traces: list[Trace]) -> dict:
    n = len(traces)
    latencies = [t.latency_ms for t in traces if t.latency_ms is not None]
    errors = sum(_tool_error(t) for t in traces)
    safety = sum(t.has_safety_flag for t in traces)
    return {
        "n": n,
        "conversations": len({t.conversation_id for t in traces}),
        "latency_p95": _p95(latencies),
        "tool_errors": errors,
        "tool_error_rate": round(errors / n, 4) if n else None,
        "safety_flags": safety,
        "safety_per_1000": round(1000 * safety / n, 2) if n else None,
        "_latencies": latencies,
    }


def _rewards(traces: list[Trace]) -> tuple[list[float] | None, str]:
    """Reward-model scores of the most recent traces, scrubbed now if the filter has not run yet."""
    from rollout.evaluation import reward_scores
    from rollout.live import live_scrubbed_views

    sample = sorted(traces, key=lambda t: t.pk)[-settings.ROLLOUT_MONITOR_MAX_SCORED :]
    full = list(Trace.objects.filter(pk__in=[t.pk for t in sample]).order_by("pk"))
    items = live_scrubbed_views(full)
    if not items:
        return None, "no reply with text to score yet"
    return reward_scores(items)


def _guard(metric: str, counts: tuple[int, int, int, int], **extra) -> dict:
    candidate_events, candidate_n, baseline_events, baseline_n = counts
    evidence = rate_evidence(
        candidate_events=candidate_events,
        candidate_n=candidate_n,
        baseline_events=baseline_events,
        baseline_n=baseline_n,
    )
    limit = GUARD_COUNT / settings.ROLLOUT_MONITOR_ALPHA
    return {
        "metric": metric,
        "test": "mixture likelihood ratio (always valid)",
        "e_value": float(f"{evidence['e_value']:.4g}"),
        "e_threshold": limit,
        "candidate_events": candidate_events,
        "baseline_events": baseline_events,
        "share": evidence["share"],
        "failed": evidence["e_value"] >= limit and extra.pop("practical", True),
        **extra,
    }


def _latency_guard(candidate: dict, baseline: dict) -> dict | None:
    if not candidate["_latencies"] or not baseline["_latencies"]:
        return None
    limit = settings.ROLLOUT_GUARD_LATENCY_P95_RATIO * baseline["latency_p95"]
    slow_c = sum(value > limit for value in candidate["_latencies"])
    slow_b = sum(value > limit for value in baseline["_latencies"])
    ratio = candidate["latency_p95"] / baseline["latency_p95"] if baseline["latency_p95"] else None
    counts = (slow_c, len(candidate["_latencies"]), slow_b, len(baseline["_latencies"]))
    return _guard("latency_p95", counts, slow_above_ms=limit, ratio=round(ratio, 3) if ratio else None)


def _win_guard(candidate_rewards: list[float], baseline_rewards: list[float], win_rate: float) -> dict:
    median = statistics.median(baseline_rewards)
    low_c = sum(value < median for value in candidate_rewards)
    low_b = sum(value < median for value in baseline_rewards)
    minimum = settings.ROLLOUT_GUARD_MIN_WIN_RATE
    counts = (low_c, len(candidate_rewards), low_b, len(baseline_rewards))
    return _guard("win_rate", counts, win_rate=win_rate, threshold=minimum, practical=win_rate < minimum)


def _guards(candidate: dict, baseline: dict, win: dict) -> list[dict]:
    guards = [
        _guard("tool_error_rate", (candidate["tool_errors"], candidate["n"], baseline["tool_errors"], baseline["n"])),
        _guard("safety_per_1000", (candidate["safety_flags"], candidate["n"], baseline["safety_flags"], baseline["n"])),
    ]
    latency = _latency_guard(candidate, baseline)
    if latency:
        guards.append(latency)
    if win.get("win_rate") is not None:
        guards.append(_win_guard(win.pop("_candidate"), win.pop("_baseline"), win["win_rate"]))
    return guards


def _describe(guard: dict, candidate: dict, baseline: dict) -> str:
    events = guard["candidate_events"] + guard["baseline_events"]
    evidence = (
        f"e={guard['e_value']:.3g} ≥ {guard['e_threshold']:g}: {guard['candidate_events']} of "
        f"{events} events in the candidate at a {guard['share']:.0%} share"
    )
    metric = guard["metric"]
    if metric == "latency_p95":
        return (
            f"latency p95 {candidate['latency_p95']:.0f} ms vs baseline {baseline['latency_p95']:.0f} ms "
            f"(replies over {guard['slow_above_ms']:.0f} ms; {evidence})"
        )
    if metric == "win_rate":
        return (
            f"win-rate {guard['win_rate']:.2f} < {guard['threshold']} (rewards below the baseline median; {evidence})"
        )
    return f"{metric} {candidate[metric]} vs baseline {baseline[metric]} ({evidence})"


def _reason(guards: list[dict], candidate: dict, baseline: dict) -> str:
    parts = [_describe(guard, candidate, baseline) for guard in guards if guard["failed"]]
    return f"online monitor: {'; '.join(parts)} over n={candidate['n']} candidate / {baseline['n']} baseline messages"


def _win(candidate_traces: list[Trace], baseline_traces: list[Trace]) -> dict:
    candidate_rewards, note = _rewards(candidate_traces)
    baseline_rewards, base_note = _rewards(baseline_traces) if candidate_rewards is not None else (None, note)
    if candidate_rewards is None or baseline_rewards is None:
        return {"win_rate": None, "note": note or base_note}
    win_rate, _ = mann_whitney(candidate_rewards, baseline_rewards, alternative="less")
    return {
        "win_rate": round(win_rate, 4),
        "scored": [len(candidate_rewards), len(baseline_rewards)],
        "mean_reward": [round(statistics.fmean(candidate_rewards), 4), round(statistics.fmean(baseline_rewards), 4)],
        "_candidate": candidate_rewards,
        "_baseline": baseline_rewards,
    }


def monitor_evaluate(*, rollout: Rollout, now=None) -> dict:
    """Metrics, guards and decision for a rollout, over every trace since it started (reads only)."""
    now = now or timezone.now()
    window_start = rollout.started_at
    baseline_traces = _arm_rows(rollout, window_start, now, [TraceArm.BASELINE])
    candidate_traces = _arm_rows(rollout, window_start, now, CANDIDATE_ARMS)
    baseline, candidate = _arm_metrics(baseline_traces), _arm_metrics(candidate_traces)
    result = {"window_start": window_start, "window_end": now, "guards": [], "win": {}}
    if not candidate["n"] or not baseline["n"]:
        result["decision"] = "insufficient_data"
        result["reason"] = f"{candidate['n']} candidate and {baseline['n']} baseline messages; need one in each arm"
    else:
        result["win"] = _win(candidate_traces, baseline_traces)
        result["guards"] = _guards(candidate, baseline, result["win"])
        failed = [g for g in result["guards"] if g["failed"]]
        result["decision"] = "rollback" if failed else "ok"
        result["reason"] = _reason(result["guards"], candidate, baseline) if failed else result["win"].get("note", "")
    for arm in (baseline, candidate):
        arm.pop("_latencies")
    candidate["win_rate"] = result["win"].get("win_rate")
    win = {key: value for key, value in result["win"].items() if not key.startswith("_")}
    result["metrics"] = {"baseline": baseline, "candidate": candidate, "guards": result["guards"], "win": win}
    return result


def _record_failure(rollout_id: int, error: Exception) -> None:
    """A check that crashed is itself an alert (once per rollout per dedupe window); the next beat retries."""
    from alerts.services import notification_send

    rollout = Rollout.objects.filter(pk=rollout_id).first()
    if rollout is not None:
        now = timezone.now()
        MonitorCheck.objects.create(
            rollout=rollout,
            window_start=rollout.started_at,
            window_end=now,
            decision="error",
            reason=repr(error)[:5000],
        )
    notification_send(
        kind="monitor_failed",
        subject=f"Online monitor of rollout {rollout_id} failed",
        body=f"{type(error).__name__}: {error}"[:2000],
        link="/rollouts/",
        payload={"rollout_id": rollout_id},
        dedupe_key=f"rollout-{rollout_id}",
    )


def monitor_check(*, rollout_id: int, force: bool = False) -> MonitorCheck | None:
    """Evaluate one running rollout, store a MonitorCheck and roll back if a guard failed.

    Safe to run twice: a second call within ROLLOUT_MONITOR_MIN_INTERVAL_SECONDS (unless `force`)
    or on a rollout that is no longer running does nothing and returns None. A check that raises
    is recorded (decision "error") and notified, then re-raised; the next beat run checks again.
    """
    try:
        return _check(rollout_id=rollout_id, force=force)
    except Exception as exc:
        logger.exception("online monitor of rollout %s failed", rollout_id)
        _record_failure(rollout_id, exc)
        raise


def _check(*, rollout_id: int, force: bool) -> MonitorCheck | None:
    from rollout.services import rollout_rollback

    with transaction.atomic():
        rollout = Rollout.objects.select_for_update().filter(pk=rollout_id).first()
        if rollout is None or rollout.state not in (RolloutState.SHADOW, RolloutState.CANARY):
            return None
        recent = timezone.now() - timedelta(seconds=settings.ROLLOUT_MONITOR_MIN_INTERVAL_SECONDS)
        if not force and rollout.monitor_checks.exclude(decision="error").filter(checked_at__gte=recent).exists():
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
