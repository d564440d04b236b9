"""The promotion rule: a canary becomes the active policy only on evidence that it is better.

`rollout_promotion_decision(*, rollout)` is a function of the rollout's recorded monitor checks
and settings (it reads, never writes). Ready when all hold:
1. the rollout is a canary, and its latest monitor check is an "ok" no older than
   ROLLOUT_PROMOTION_MAX_CHECK_AGE_MINUTES;
2. exposure: at least ROLLOUT_PROMOTION_MIN_HOURS since the canary started and
   ROLLOUT_PROMOTION_MIN_CONVERSATIONS candidate conversations;
3. the online win-rate's lower confidence bound is above 0.5;
4. safety flags per 1,000 are not worse at the upper bound: the upper confidence bound of
   (candidate − baseline) safety per 1,000 is at most ROLLOUT_PROMOTION_SAFETY_MARGIN_PER_1000.
Bounds are always-valid normal-mixture confidence sequences at ROLLOUT_PROMOTION_ALPHA
(rollout/sequential.py), so asking again every hour does not erode them.
"""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from rollout.models import MonitorCheck, Rollout, RolloutState
from rollout.sequential import mixture_radius, rate_difference_bounds, win_rate_variance

WIN_RATE_TAU = 0.1  # mixing scale: win-rate shifts of about 0.1 are the ones we expect to see
SAFETY_TAU = 0.02  # a couple of flags per 100 messages


def canary_started_at(rollout: Rollout):
    """When the rollout entered canary (its history), else when it started."""
    entered = rollout.history.filter(state=RolloutState.CANARY).order_by("history_date").first()
    return entered.history_date if entered else rollout.started_at


def _latest_check(rollout: Rollout) -> MonitorCheck | None:
    return rollout.monitor_checks.exclude(decision="error").order_by("-checked_at", "-pk").first()


def _check_reasons(rollout: Rollout, check: MonitorCheck | None, now) -> list[str]:
    if rollout.state != RolloutState.CANARY:
        return [f"rollout {rollout.pk} is {rollout.state}: only a canary can be promoted"]
    if check is None:
        return ["no monitor check yet: wait for the next one (every 5 minutes) or run one"]
    reasons = []
    age = (now - check.checked_at).total_seconds() / 60
    limit = settings.ROLLOUT_PROMOTION_MAX_CHECK_AGE_MINUTES
    if age > limit:
        reasons.append(f"the latest monitor check is {age:.0f} min old (at most {limit})")
    if check.decision != "ok":
        reasons.append(f"the latest monitor check says {check.decision}: {check.reason[:300]}")
    return reasons


def _win_numbers(metrics: dict, alpha: float) -> dict:
    win = metrics.get("win") or {}
    win_rate, scored = win.get("win_rate"), win.get("scored")
    if win_rate is None or not scored or not all(scored):
        return {"win_rate": None, "win_rate_lower": None, "win_note": win.get("note", "no online win-rate yet")}
    radius = mixture_radius(variance=win_rate_variance(win_rate, *scored), alpha=alpha, tau=WIN_RATE_TAU)
    return {"win_rate": win_rate, "win_rate_lower": round(win_rate - radius, 4), "scored": scored}


def _safety_numbers(metrics: dict, alpha: float) -> dict:
    candidate, baseline = metrics.get("candidate") or {}, metrics.get("baseline") or {}
    difference, _, upper = rate_difference_bounds(
        candidate_events=candidate.get("safety_flags", 0),
        candidate_n=candidate.get("n", 0),
        baseline_events=baseline.get("safety_flags", 0),
        baseline_n=baseline.get("n", 0),
        alpha=alpha,
        tau=SAFETY_TAU,
    )
    return {"safety_difference_per_1000": round(1000 * difference, 2), "safety_upper_per_1000": round(1000 * upper, 2)}


def _evidence_reasons(numbers: dict) -> list[str]:
    reasons = []
    if numbers["hours"] < settings.ROLLOUT_PROMOTION_MIN_HOURS:
        reasons.append(f"canary for {numbers['hours']:.1f} h; needs {settings.ROLLOUT_PROMOTION_MIN_HOURS:g} h")
    if numbers["conversations"] < settings.ROLLOUT_PROMOTION_MIN_CONVERSATIONS:
        reasons.append(
            f"{numbers['conversations']} candidate conversations; needs {settings.ROLLOUT_PROMOTION_MIN_CONVERSATIONS}"
        )
    if numbers.get("win_rate_lower") is None:
        reasons.append(f"no online win-rate: {numbers.get('win_note') or 'nothing scored'}")
    elif numbers["win_rate_lower"] <= 0.5:
        reasons.append(
            f"online win-rate {numbers['win_rate']:.3f}, lower bound {numbers['win_rate_lower']:.3f} is not above 0.5"
        )
    margin = settings.ROLLOUT_PROMOTION_SAFETY_MARGIN_PER_1000
    if numbers["safety_upper_per_1000"] > margin:
        reasons.append(
            f"safety per 1,000 could be worse by up to {numbers['safety_upper_per_1000']:.1f} (allowed {margin:g})"
        )
    return reasons


def rollout_promotion_decision(*, rollout: Rollout, now=None) -> dict:
    """{"ready": bool, "reasons": [why not, ...], "numbers": {...}} from recorded checks and settings."""
    now = now or timezone.now()
    check = _latest_check(rollout)
    reasons = _check_reasons(rollout, check, now)
    metrics = check.metrics if check else {}
    alpha = settings.ROLLOUT_PROMOTION_ALPHA
    started = canary_started_at(rollout)
    numbers = {
        "check_id": check.pk if check else None,
        "checked_at": check.checked_at.isoformat() if check else None,
        "canary_started_at": started.isoformat(),
        "hours": round(max(0.0, (now - started) / timedelta(hours=1)), 2),
        "conversations": (metrics.get("candidate") or {}).get("conversations", 0),
        "alpha": alpha,
        **_win_numbers(metrics, alpha),
        **_safety_numbers(metrics, alpha),
    }
    if rollout.state == RolloutState.CANARY:
        reasons += _evidence_reasons(numbers)
    return {"ready": not reasons, "reasons": reasons, "numbers": numbers}
