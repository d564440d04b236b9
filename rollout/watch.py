"""Watch the active policy of each modality on live traffic (every 15 minutes).

Comparisons, each with the monitors' guards (rollout/monitors.py: tool errors, safety flags,
slow replies, rewards below the reference median) and their always-valid evidence:
- "hour": the policy's traces of the last hour vs its trailing 7 days before the last day;
- "day": its last day vs the same trailing 7 days;
- "since_promotion" (only within ROLLOUT_PROMOTION_WATCH_HOURS of the promotion): every trace
  since it was promoted vs the traces of the policy it replaced in the 7 days before.
A failed "hour" or "day" guard is an anomaly (notification policy_anomaly). A failed
"since_promotion" guard rolls back to the previous policy through rollout_rollback (automatic),
the same action as a canary's rollback. Shadow replies are never counted.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from rollout import monitors
from rollout.models import Policy, PolicyCheck, PolicyStatus, Rollout, RolloutState
from traces.models import Trace, TraceArm

TRAILING_DAYS = 7
FIELDS = ("id", "conversation_id", "latency_ms", "flags", "tool_calls", "scrubbed_tool_calls", "arm", "scrubbed_at")


def policy_traces(policy: Policy, start, end) -> list[Trace]:
    """The policy's replies shown to users in [start, end) (either id spelling agents use)."""
    return list(
        Trace.objects.filter(Q(policy_id=str(policy.pk)) | Q(policy_id=policy.model_id), modality=policy.modality)
        .filter(occurred_at__gte=start, occurred_at__lt=end)
        .exclude(arm=TraceArm.SHADOW)
        .only(*FIELDS)
    )


def compare(recent: list[Trace], reference: list[Trace]) -> dict:
    """The monitors' guards with `recent` as the candidate arm and `reference` as the baseline arm."""
    current, base = monitors._arm_metrics(recent), monitors._arm_metrics(reference)
    if not current["n"] or not base["n"]:
        for arm in (current, base):
            arm.pop("_latencies")
        return {"recent": current, "reference": base, "guards": [], "failed": False, "insufficient": True}
    win = monitors._win(recent, reference)
    guards = monitors._guards(current, base, win)
    failed = any(guard["failed"] for guard in guards)
    reason = monitors._reason(guards, current, base) if failed else ""
    for arm in (current, base):
        arm.pop("_latencies")
    current["win_rate"] = win.get("win_rate")
    current["mean_reward"], base["mean_reward"] = win.get("mean_reward") or (None, None)
    return {"recent": current, "reference": base, "guards": guards, "failed": failed, "reason": reason}


def promoted_rollout(policy: Policy, now) -> Rollout | None:
    """The rollout that made `policy` active, if that was within ROLLOUT_PROMOTION_WATCH_HOURS."""
    since = now - timedelta(hours=settings.ROLLOUT_PROMOTION_WATCH_HOURS)
    return (
        Rollout.objects.filter(candidate=policy, state=RolloutState.ACTIVE, ended_at__gte=since)
        .select_related("baseline")
        .first()
    )


def watch_evaluate(*, policy: Policy, now=None) -> dict:
    """Every comparison for the active `policy` (reads only)."""
    now = now or timezone.now()
    reference_start, reference_end = now - timedelta(days=TRAILING_DAYS + 1), now - timedelta(days=1)
    reference = policy_traces(policy, reference_start, reference_end)
    comparisons = {
        "hour": compare(policy_traces(policy, now - timedelta(hours=1), now), reference),
        "day": compare(policy_traces(policy, now - timedelta(days=1), now), reference),
    }
    rollout = promoted_rollout(policy, now)
    if rollout is not None and rollout.baseline is not None:
        promoted_at = rollout.ended_at
        before = policy_traces(rollout.baseline, promoted_at - timedelta(days=TRAILING_DAYS), promoted_at)
        comparisons["since_promotion"] = compare(policy_traces(policy, promoted_at, now), before)
    return {"comparisons": comparisons, "rollout": rollout}


def _decision(comparisons: dict) -> tuple[str, str]:
    promotion = comparisons.get("since_promotion")
    if promotion and promotion["failed"]:
        return "rollback", "active-policy watch, since promotion: " + promotion["reason"]
    anomalies = [f"{name}: {c['reason']}" for name, c in comparisons.items() if c["failed"]]
    if anomalies:
        return "anomaly", "active-policy watch, " + "; ".join(anomalies)
    if all(c.get("insufficient") for c in comparisons.values()):
        return "insufficient_data", "no traffic to compare yet"
    return "ok", ""


def _recent_check_exists(policy: Policy) -> bool:
    recent = timezone.now() - timedelta(seconds=settings.ROLLOUT_MONITOR_MIN_INTERVAL_SECONDS)
    return policy.checks.exclude(decision="error").filter(checked_at__gte=recent).exists()


def policy_watch(*, modality: str, force: bool = False) -> PolicyCheck | None:
    """Watch the modality's active policy once; record a PolicyCheck; alert on an anomaly; roll back
    a recently promoted policy that degrades. Safe to run twice: a second call within
    ROLLOUT_MONITOR_MIN_INTERVAL_SECONDS (unless `force`) does nothing and returns None.
    A watch that raises is recorded (decision "error") and notified, then re-raised."""
    try:
        return _watch(modality=modality, force=force)
    except Exception as exc:
        _record_failure(modality, exc)
        raise


def _record_failure(modality: str, error: Exception) -> None:
    from alerts.services import notification_send

    policy = Policy.objects.filter(modality=modality, status=PolicyStatus.ACTIVE).first()
    if policy is not None:
        PolicyCheck.objects.create(policy=policy, decision="error", reason=repr(error)[:5000])
    notification_send(
        kind="monitor_failed",
        subject=f"Active-policy watch of {modality} failed",
        body=f"{type(error).__name__}: {error}"[:2000],
        link="/rollouts/",
        payload={"modality": modality},
        dedupe_key=f"watch-{modality}",
    )


def _watch(*, modality: str, force: bool) -> PolicyCheck | None:
    from rollout.services import rollout_rollback

    with transaction.atomic():
        policy = Policy.objects.select_for_update().filter(modality=modality, status=PolicyStatus.ACTIVE).first()
        if policy is None or (not force and _recent_check_exists(policy)):
            return None
        result = watch_evaluate(policy=policy)
        decision, reason = _decision(result["comparisons"])
        check = PolicyCheck.objects.create(
            policy=policy, rollout=result["rollout"], metrics=result["comparisons"], decision=decision, reason=reason
        )
        if decision == "rollback":
            rollout_rollback(rollout=result["rollout"], reason=reason, automatic=True)
        elif decision == "anomaly":
            _notify_anomaly(policy, check)
    return check


def _notify_anomaly(policy: Policy, check: PolicyCheck) -> None:
    from alerts.services import notification_send

    failed = sorted({g["metric"] for c in check.metrics.values() for g in c.get("guards", []) if g["failed"]})
    notification_send(
        kind="policy_anomaly",
        subject=f"Active policy {policy.model_id} ({policy.modality}) degraded: {', '.join(failed)}",
        body=check.reason,
        link="/rollouts/",
        payload={"policy_id": policy.pk, "check_id": check.pk, "metrics": failed},
        dedupe_key=f"policy-{policy.pk}:{','.join(failed)}",
    )
