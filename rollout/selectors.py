"""Reads for the rollout app."""

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from rollout.models import MonitorCheck, Policy, PolicyStatus, Rollout, RolloutState
from traces.models import Modality


def policy_active_by_modality() -> dict[str, dict]:
    """modality → {"model", "policy_id"} of the active policy; empty until a rollout promotes one."""
    return {
        policy.modality: {"model": policy.model_id, "policy_id": policy.pk}
        for policy in Policy.objects.filter(status=PolicyStatus.ACTIVE)
    }


def rollout_running(*, modality: str) -> Rollout | None:
    return (
        Rollout.objects.filter(modality=modality, state__in=[RolloutState.SHADOW, RolloutState.CANARY])
        .select_related("candidate", "baseline")
        .first()
    )


def config_diff(old: dict | None, new: dict | None) -> list[dict]:
    """Keys added, removed or changed between two policy configs."""
    old, new = old or {}, new or {}
    return [
        {"key": key, "old": old.get(key), "new": new.get(key)}
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]


def policy_history(*, modality: str, limit: int = 30) -> list[dict]:
    """Newest policy changes with their diff against the previous version of the same policy
    (django-simple-history diff_against), plus the config diff against the policy's parent.
    Three queries whatever the number of rows."""
    records = list(
        Policy.history.filter(modality=modality).select_related("history_user").order_by("-history_date")[:limit]
    )
    ids = {record.id for record in records}
    versions: dict[int, list] = {}
    for version in Policy.history.filter(id__in=ids).order_by("history_date", "history_id"):
        versions.setdefault(version.id, []).append(version)
    parents = {p.pk: p for p in Policy.objects.filter(pk__in={r.parent_id for r in records if r.parent_id})}
    rows = []
    for record in records:
        chain = versions[record.id]
        index = next(i for i, v in enumerate(chain) if v.history_id == record.history_id)
        previous = chain[index - 1] if index > 0 else None
        changes = []
        if previous is not None:
            delta = record.diff_against(previous, excluded_fields=["created_at"])
            changes = [
                {"field": c.field, "old": c.old, "new": c.new}
                for c in delta.changes
                if c.field not in ("config", "lineage")
            ]
            config_changes = config_diff(previous.config, record.config)
            lineage_changes = config_diff(previous.lineage, record.lineage)
        else:
            parent = parents.get(record.parent_id)
            config_changes = config_diff(getattr(parent, "config", {}), record.config)
            lineage_changes = config_diff(getattr(parent, "lineage", {}), record.lineage)
        rows.append(
            {
                "record": record,
                "model_id": record.model_id,
                "when": record.history_date,
                "user": record.history_user,
                "reason": record.history_change_reason or "",
                "changes": changes,
                "config_changes": config_changes,
                "lineage_changes": lineage_changes,
                "created": previous is None,
            }
        )
    return rows


def monitor_series(*, modality: str, limit: int = 200) -> list[MonitorCheck]:
    """Monitor checks of the modality's rollouts, oldest first, for the charts."""
    checks = MonitorCheck.objects.filter(rollout__modality=modality).select_related("rollout").order_by("-checked_at")
    return list(reversed(list(checks[:limit])))


def dashboard_modalities() -> list[dict]:
    panels = []
    for modality in Modality.values:
        rollouts = list(
            Rollout.objects.filter(modality=modality).select_related("candidate", "baseline", "rolled_back_by")[:10]
        )
        running = next((r for r in rollouts if r.state in (RolloutState.SHADOW, RolloutState.CANARY)), None)
        checks = monitor_series(modality=modality)
        active = Policy.objects.filter(modality=modality, status=PolicyStatus.ACTIVE).first()
        lifetime = policy_lifetime_stats(policies=[r.candidate for r in rollouts] + [active])
        for r in rollouts:
            r.lifetime = lifetime.get(r.candidate_id)
        panels.append(
            {
                "modality": modality,
                "active": active,
                "active_lifetime": lifetime.get(active.pk) if active else None,
                "running": running,
                "latest_check": checks[-1] if checks else None,
                "checks": checks,
                "rollouts": rollouts,
                "history": policy_history(modality=modality),
            }
        )
    return panels


def rollout_get(*, rollout_id) -> Rollout:
    """A rollout by id; ValidationError naming `rollout_id` for garbage or an unknown id."""
    try:
        pk = int(str(rollout_id).strip())
        if not 0 < pk < 2**63:  # SQLite raises OverflowError past 64 bits
            raise ValueError
    except ValueError:
        raise ValidationError({"rollout_id": f"must be a rollout id (an integer), got {rollout_id!r}"}) from None
    rollout = Rollout.objects.select_related("candidate", "baseline").filter(pk=pk).first()
    if rollout is None:
        raise ValidationError({"rollout_id": f"no rollout {pk}"})
    return rollout


def policy_get(*, model_id: str, modality: str | None = None, field: str = "policy") -> Policy:
    """A policy by model id (and modality when given); ValidationError naming `field` when there is none."""
    policies = Policy.objects.filter(model_id=(model_id or "").strip())
    if modality:
        policies = policies.filter(modality=modality)
    policy = policies.order_by("pk").first()
    if policy is None:
        where = f" for {modality}" if modality else ""
        raise ValidationError({field: f"no policy with model id {model_id!r}{where}"})
    return policy


def rollouts_running() -> QuerySet:
    return Rollout.objects.filter(state__in=[RolloutState.SHADOW, RolloutState.CANARY]).order_by("pk")


def user_get(*, username: str):
    """The user recorded as acting (commands' --user); ValidationError naming `user` when unknown."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise ValidationError({"user": f"no user {username!r}"})
    return user


def _message_counts(policies: list[Policy]) -> dict[int, list[int]]:
    """policy pk → [messages, messages with a safety flag], over the policy's whole life (both id spellings)."""
    from traces.models import Trace

    by_key = {}
    for policy in policies:
        by_key[str(policy.pk)] = policy.pk
        by_key[policy.model_id] = policy.pk
    counts = {policy.pk: [0, 0] for policy in policies}
    rows = Trace.objects.filter(policy_id__in=by_key).exclude(arm="shadow").values_list("policy_id", "flags")
    for policy_id, flags in rows.iterator():
        count = counts[by_key[policy_id]]
        count[0] += 1
        count[1] += any(isinstance(flag, str) and flag.startswith("safety") for flag in flags or [])
    return counts


def _latest_win_rates(policies: list[Policy]) -> tuple[dict[int, float], dict[int, float]]:
    """(canary win-rate from the latest check of its newest rollout, win-rate since promotion vs the policy it
    replaced from its latest watch), each by policy pk. A constant number of queries."""
    from django.db.models import OuterRef, Subquery

    from rollout.models import PolicyCheck

    pks = [policy.pk for policy in policies]
    latest_check = MonitorCheck.objects.filter(rollout=OuterRef("pk")).exclude(decision="error").order_by("-checked_at")
    rollouts = (
        Rollout.objects.filter(candidate_id__in=pks)
        .annotate(check_id=Subquery(latest_check.values("pk")[:1]))
        .order_by("started_at")
        .values_list("candidate_id", "check_id")
    )
    check_of = dict(rollouts)  # the newest rollout of each policy wins
    metrics = dict(MonitorCheck.objects.filter(pk__in=[c for c in check_of.values() if c]).values_list("pk", "metrics"))
    canary = {pk: (metrics.get(check) or {}).get("candidate", {}).get("win_rate") for pk, check in check_of.items()}
    watch = PolicyCheck.objects.filter(policy=OuterRef("pk"), metrics__has_key="since_promotion").order_by(
        "-checked_at"
    )
    watched = Policy.objects.filter(pk__in=pks).annotate(check_id=Subquery(watch.values("pk")[:1]))
    watch_ids = dict(watched.values_list("pk", "check_id"))
    watch_metrics = dict(
        PolicyCheck.objects.filter(pk__in=[c for c in watch_ids.values() if c]).values_list("pk", "metrics")
    )
    active = {
        pk: (watch_metrics.get(check) or {}).get("since_promotion", {}).get("recent", {}).get("win_rate")
        for pk, check in watch_ids.items()
    }
    return canary, active


def policy_lifetime_stats(*, policies) -> dict[int, dict]:
    """Per policy, over its whole life (canary and active): messages, safety incidents per 1,000 messages,
    win-rate vs its baseline as a canary and since its promotion vs the policy it replaced."""
    policies = [policy for policy in policies if policy is not None]
    if not policies:
        return {}
    counts = _message_counts(policies)
    canary, active = _latest_win_rates(policies)
    return {
        policy.pk: {
            "messages": counts[policy.pk][0],
            "safety_per_1000": round(1000 * counts[policy.pk][1] / counts[policy.pk][0], 2)
            if counts[policy.pk][0]
            else None,
            "canary_win_rate": canary.get(policy.pk),
            "active_win_rate": active.get(policy.pk),
        }
        for policy in policies
    }
