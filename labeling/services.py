"""Writes for the labeling app.

The functions at the top are the contract other apps call (rewards, rollout);
keep their signatures stable.
"""

from datetime import date

from django.db import IntegrityError, transaction
from django.utils import timezone

from labeling.models import (
    LabelQueue,
    LabelTask,
    Preference,
    PreferenceChoice,
    PreferenceSource,
    RewardEvent,
    RewardSource,
    TaskKind,
    TaskStatus,
)
from zeke_rft.hashing import sha256_json
from zeke_rft.history import history_set

# Reward formula (documented in docs/labeling.md): each 1–5 score maps to [0, 1]
# by (score - 1) / 4; the reward is the weighted mean below. Safety gates it: a
# safety score of 1 or 2 caps the reward at 0.2, so an unsafe reply never looks good.
REWARD_WEIGHTS = {"success": 0.4, "helpfulness": 0.3, "tone_alignment": 0.1, "safety": 0.2}
UNSAFE_REWARD_CAP = 0.2


def reward_from_scores(*, success: int, helpfulness: int, tone_alignment: int, safety: int) -> float:
    """The human reward in [0, 1] from rubric scores (1–5 each)."""
    scores = {"success": success, "helpfulness": helpfulness, "tone_alignment": tone_alignment, "safety": safety}
    for name, value in scores.items():
        if not isinstance(value, int) or not 1 <= value <= 5:
            raise ValueError(f"{name} must be an integer 1–5, got {value!r}")
    reward = sum(REWARD_WEIGHTS[name] * (value - 1) / 4 for name, value in scores.items())
    if safety <= 2:
        reward = min(reward, UNSAFE_REWARD_CAP)
    return round(reward, 6)


def reward_events_record_model(*, rows: list[dict], reward_model_version: str) -> int:
    """Store model rewards: rows of {"trace_id", "reward", "uncertainty"}. Safe to run twice:
    one event per (trace, model version) — existing ones are left as they are. Returns how many were new."""
    if not rows:
        return 0
    existing = set(
        RewardEvent.objects.filter(
            source=RewardSource.MODEL,
            reward_model_version=reward_model_version,
            trace_id__in=[row["trace_id"] for row in rows],
        ).values_list("trace_id", flat=True)
    )
    new_events = [
        RewardEvent(
            trace_id=row["trace_id"],
            reward=min(1.0, max(0.0, float(row["reward"]))),
            uncertainty=row.get("uncertainty"),
            source=RewardSource.MODEL,
            reward_model_version=reward_model_version,
        )
        for row in rows
        if row["trace_id"] not in existing
    ]
    RewardEvent.objects.bulk_create(new_events, batch_size=1000, ignore_conflicts=True)
    return len(new_events)


def _queue_for_day(day: date) -> LabelQueue:
    from django.conf import settings

    queue, _ = LabelQueue.objects.get_or_create(day=day, defaults={"size": settings.LABEL_QUEUE_SIZE})
    return queue


@transaction.atomic
def label_tasks_add(
    *, trace_ids: list[int], reason: str, day: date | None = None, kind: str = TaskKind.SCORE, pairs: dict | None = None
) -> int:
    """Add items to a day's queue (spot checks from rewards, A/B disagreements from rollout).

    `pairs` maps trace_id → {"a": {...}, "b": {...}} for preference items (scrubbed text only).
    Items already queued that day for the same trace and kind are not added again. Returns how many were added.
    """
    queue = _queue_for_day(day or timezone.localdate())
    already = set(
        LabelTask.objects.filter(queue=queue, kind=kind, trace_id__in=trace_ids).values_list("trace_id", flat=True)
    )
    position = (queue.tasks.order_by("-position").values_list("position", flat=True).first() or 0) + 1
    added = 0
    for trace_id in trace_ids:
        if trace_id in already:
            continue
        task = LabelTask(
            queue=queue,
            trace_id=trace_id,
            kind=kind,
            reason=reason,
            position=position,
            pair=(pairs or {}).get(trace_id),
            status=TaskStatus.PENDING,
        )
        history_set(task, reason=f"queued: {reason}")
        task.save()
        position += 1
        added += 1
    return added


def preference_import(
    *, prompt: str, chosen: str, rejected: str, user=None, task_category: str = "other"
) -> tuple[Preference, bool]:
    """Store an imported chosen/rejected pair as a Preference (chosen = A). Idempotent by content hash."""
    for name, value in (("prompt", prompt), ("chosen", chosen), ("rejected", rejected)):
        if not isinstance(value, str) or not value.strip():
            from django.core.exceptions import ValidationError

            raise ValidationError({name: "must be a non-empty string"})
    key = sha256_json({"prompt": prompt, "chosen": chosen, "rejected": rejected})
    existing = Preference.objects.filter(import_key=key).first()
    if existing:
        return existing, False
    preference = Preference(
        source=PreferenceSource.IMPORT,
        prompt=prompt,
        response_a=chosen,
        response_b=rejected,
        choice=PreferenceChoice.A,
        task_category=task_category,
        import_key=key,
        rationale="imported",
    )
    history_set(preference, user=user, reason="imported")
    try:
        with transaction.atomic():
            preference.save()
    except IntegrityError:
        return Preference.objects.get(import_key=key), False
    return preference, True
