"""Writes for the labeling app.

The functions at the top are the contract other apps call (rewards, rollout);
keep their signatures stable.
"""

import math
import secrets
from datetime import date

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from labeling.access import user_can_review
from labeling.models import (
    DIMENSIONS,
    LabelQueue,
    LabelTask,
    Preference,
    PreferenceChoice,
    PreferenceSource,
    RewardEvent,
    RewardSource,
    ScoreCard,
    TaskKind,
    TaskReason,
    TaskStatus,
)
from labeling.rubrics import (  # noqa: F401  (re-exported: the rubric writes are services)
    rubric_active,
    rubric_create,
    rubric_update,
    rubric_validate_dimensions,
)
from privacy.scrub import reviewer_texts_scrub
from traces.models import TaskCategory, Trace
from zeke_rft.errors import ApplicationError
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


def reward_events_record_agent(*, rows: list[dict]) -> int:
    """Store rewards agents posted with their traces: rows of {"trace_id", "reward", "reward_source"}.

    Kept apart from human and model rewards (source `agent`). One per trace: the
    first one posted stands, so re-posting a trace (a retry) is safe. Returns how many were new.
    """
    if not rows:
        return 0
    existing = set(
        RewardEvent.objects.filter(
            source=RewardSource.AGENT, trace_id__in=[row["trace_id"] for row in rows]
        ).values_list("trace_id", flat=True)
    )
    new_events = {
        row["trace_id"]: RewardEvent(
            trace_id=row["trace_id"],
            reward=float(row["reward"]),
            source=RewardSource.AGENT,
            agent_source=row.get("reward_source") or "",
        )
        for row in rows
        if row["trace_id"] not in existing
    }
    RewardEvent.objects.bulk_create(list(new_events.values()), batch_size=1000, ignore_conflicts=True)
    return len(new_events)


def _queue_for_day(day: date) -> LabelQueue:
    queue, _ = LabelQueue.objects.get_or_create(day=day, defaults={"size": settings.LABEL_QUEUE_SIZE})
    return queue


def _label_tasks_add_validate(*, trace_ids, reason: str, kind: str, pairs: dict | None) -> list[int]:
    if kind not in TaskKind.values:
        raise ValidationError({"kind": f"must be one of {', '.join(TaskKind.values)}"})
    if reason not in TaskReason.values:
        raise ValidationError({"reason": f"must be one of {', '.join(TaskReason.values)}"})
    if isinstance(trace_ids, str | bytes | dict) or not hasattr(trace_ids, "__iter__"):
        raise ValidationError({"trace_ids": "must be a list of trace ids"})
    ids = list(dict.fromkeys(trace_ids))  # once each, in the order given
    if not all(isinstance(trace_id, int) and not isinstance(trace_id, bool) for trace_id in ids):
        raise ValidationError({"trace_ids": "must be a list of trace ids"})
    unknown = set(ids) - set(Trace.objects.filter(pk__in=ids).values_list("pk", flat=True))
    if unknown:
        raise ValidationError({"trace_ids": f"no such traces: {sorted(unknown)[:10]}"})
    if kind == TaskKind.PREFERENCE:
        pairs = pairs if isinstance(pairs, dict) else {}
        missing = [
            i
            for i in ids
            if not isinstance(pairs.get(i), dict) or not all(isinstance(pairs[i].get(side), dict) for side in "ab")
        ]
        if missing:
            raise ValidationError(
                {"pairs": f"an A/B item needs pairs[trace_id] = {{'a': {{...}}, 'b': {{...}}}}: {missing[:10]}"}
            )
        if problem := _unstorable([pairs[i] for i in ids]):
            raise ValidationError({"pairs": problem})
    return ids


@transaction.atomic
def label_tasks_add(
    *, trace_ids: list[int], reason: str, day: date | None = None, kind: str = TaskKind.SCORE, pairs: dict | None = None
) -> int:
    """Add items to a day's queue (spot checks from rewards, A/B disagreements from rollout).

    `pairs` maps trace_id → {"a": {...}, "b": {...}} for preference items (scrubbed text only).
    Items already queued that day for the same trace and kind are not added again. Returns how many were added.
    Unknown trace ids, an unknown kind or reason, or an A/B item without its pair are a ValidationError.
    """
    ids = _label_tasks_add_validate(trace_ids=trace_ids, reason=reason, kind=kind, pairs=pairs)
    queue = _queue_for_day(day or timezone.localdate())
    already = set(LabelTask.objects.filter(queue=queue, kind=kind, trace_id__in=ids).values_list("trace_id", flat=True))
    position = (queue.tasks.order_by("-position").values_list("position", flat=True).first() or 0) + 1
    new = [trace_id for trace_id in ids if trace_id not in already]
    for offset, trace_id in enumerate(new):
        task = LabelTask(
            queue=queue,
            trace_id=trace_id,
            kind=kind,
            reason=reason,
            position=position + offset,
            pair=(pairs or {}).get(trace_id) if kind == TaskKind.PREFERENCE else None,
            # Blind A/B: which side is shown first is drawn per item and kept (the baseline is not always A).
            sides_swapped=kind == TaskKind.PREFERENCE and secrets.randbelow(2) == 1,
            status=TaskStatus.PENDING,
        )
        history_set(task, reason=f"queued: {reason}")
        task.save()
    return len(new)


def preference_import(
    *, prompt: str, chosen: str, rejected: str, user=None, task_category: str = "other"
) -> tuple[Preference, bool]:
    """Store an imported chosen/rejected pair as a Preference (chosen = A). Idempotent by content hash."""
    for name, value in (("prompt", prompt), ("chosen", chosen), ("rejected", rejected)):
        if not isinstance(value, str) or not value.strip():
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


# --- Score cards, skips, preferences --------------------------------------------------------------------------------


def _reason_text(prefix: str, rationale: str) -> str:
    # simple-history's change reason column holds 100 characters; the full rationale is on the row itself.
    text = f"{prefix}: {rationale.strip()}" if rationale.strip() else prefix
    return text if len(text) <= 100 else text[:99] + "…"


MAX_CORRECTION_DEPTH = 20


def _unstorable(value, *, depth: int = 0) -> str | None:
    """Why a JSON value could not be stored (PostgreSQL's jsonb refuses NUL, lone surrogates, NaN), or None."""
    if depth > MAX_CORRECTION_DEPTH:
        return f"is nested more than {MAX_CORRECTION_DEPTH} levels deep"
    if isinstance(value, str):
        if "\x00" in value:
            return "contains a NUL character (\\u0000)"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "contains an unpaired surrogate (\\ud800-\\udfff)"
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return "contains NaN or Infinity, which JSON cannot store"
    if isinstance(value, dict):
        children = [*value.keys(), *value.values()]
    elif isinstance(value, list | tuple):
        children = list(value)
    elif value is None or isinstance(value, bool | int | float):
        return None
    else:
        return f"contains a {type(value).__name__}, which is not JSON"
    return next((problem for child in children if (problem := _unstorable(child, depth=depth + 1))), None)


def _texts_validate(**texts) -> None:
    for name, text in texts.items():
        if text is not None and (not isinstance(text, str) or (problem := _unstorable(text))):
            raise ValidationError({name: problem if isinstance(text, str) else "must be text"})


def tool_calls_validate(value, *, field: str = "corrected_tool_calls") -> list[dict] | None:
    """Corrected tool calls: a list of {"name": non-empty str, "args": object}, storable as JSON."""
    if value in (None, "", []):
        return None
    if not isinstance(value, list):
        raise ValidationError({field: "must be a list of {name, args} objects"})
    if problem := _unstorable(value):
        raise ValidationError({field: problem})
    calls = []
    for index, call in enumerate(value):
        if not isinstance(call, dict) or not isinstance(call.get("name"), str) or not call["name"].strip():
            raise ValidationError({field: f"call {index + 1}: needs a tool name"})
        args = call.get("args", {})
        if not isinstance(args, dict):
            raise ValidationError({field: f"call {index + 1} ({call['name']}): args must be a JSON object"})
        calls.append({"name": call["name"].strip(), "args": args})
    return calls


def _scores_validate(scores: dict, *, task_category: str, complexity: int) -> None:
    errors = {}
    for name in DIMENSIONS:
        value = scores[name]
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 5:
            errors[name] = f"must be an integer 1–5, got {value!r}"
    if task_category not in TaskCategory.values:
        errors["task_category"] = f"must be one of {', '.join(TaskCategory.values)}"
    if not isinstance(complexity, int) or isinstance(complexity, bool) or not 1 <= complexity <= 3:
        errors["complexity"] = f"must be 1, 2 or 3, got {complexity!r}"
    if errors:
        raise ValidationError(errors)


def _task_claim(*, task_id: int, reviewer, with_card: bool = False) -> LabelTask:
    """Lock the task and check this reviewer may complete it.

    With `with_card`, the reviewer's score card id for the task's trace (or None) comes back on the
    locked row as `my_card_id`, so a first submission needs no separate look-up for an existing card."""
    tasks = LabelTask.objects.select_for_update().filter(pk=task_id)
    if with_card:
        cards = ScoreCard.objects.filter(trace_id=OuterRef("trace_id"), reviewer=reviewer).values("pk")[:1]
        tasks = tasks.annotate(my_card_id=Subquery(cards))
    # order_by("pk"): the default ordering would JOIN the queue, and FOR UPDATE would then lock the
    # day's queue row too, serialising every reviewer's submissions and the queue build.
    locked = tasks.order_by("pk").first()
    if locked is None:
        raise ApplicationError("This item no longer exists.", status=404)
    if locked.reviewer_id is not None and locked.reviewer_id != reviewer.pk:
        raise ApplicationError("This item is assigned to another reviewer.", status=403)
    if locked.status != TaskStatus.PENDING and locked.completed_by_id not in (None, reviewer.pk):
        raise ApplicationError("Another reviewer already completed this item.", status=409)
    return locked


def _check_reviewer(reviewer) -> None:
    if not user_can_review(reviewer):
        raise ApplicationError("Only reviewers may label.", status=403)


def scorecard_submit(
    *,
    reviewer,
    trace=None,
    task: LabelTask | None = None,
    card: ScoreCard | None = None,
    task_id: int | None = None,
    success: int,
    helpfulness: int,
    tone_alignment: int,
    safety: int,
    task_category: str,
    complexity: int = 1,
    safety_notes: str = "",
    correction: str = "",
    corrected_tool_calls: list | None = None,
    rationale: str = "",
) -> ScoreCard:
    """Create or update `reviewer`'s score card for a trace and its human RewardEvent, in one transaction.

    Pass `task` or `task_id` (from the panel; the task is locked and checked here, so the panel need not
    load it first), `trace`, or `card` (an edit). A reviewer edits only their own cards; resubmitting
    updates the card (one per trace and reviewer). History gets the user and rationale. The returned
    card's `task` is the locked task (the panel reads its queue for the next item).
    """
    _check_reviewer(reviewer)
    scores = {"success": success, "helpfulness": helpfulness, "tone_alignment": tone_alignment, "safety": safety}
    _scores_validate(scores, task_category=task_category, complexity=complexity)
    _texts_validate(safety_notes=safety_notes, correction=correction, rationale=rationale)
    typed = {
        "safety_notes": (safety_notes or "").strip(),
        "correction": (correction or "").strip(),
        "corrected_tool_calls": tool_calls_validate(corrected_tool_calls),
        "rationale": (rationale or "").strip(),
    }
    # what a reviewer types reaches datasets and exports: scrubbed before it is stored
    fields = {"task_category": task_category, "complexity": complexity, **reviewer_texts_scrub(texts=typed)}
    task_id = task.pk if task is not None else task_id
    if card is None and task_id is None and trace is None:
        raise ValidationError({"trace": "a trace, task or card is required"})
    if card is not None and card.reviewer_id != reviewer.pk:
        raise ApplicationError("You can only edit your own score cards.", status=403)
    try:
        return _scorecard_write(
            reviewer=reviewer, trace=trace, task_id=task_id, card=card, scores=scores, fields=fields
        )
    except IntegrityError as error:
        # The scores are validated above, so this is the unique (trace, reviewer) card written by a
        # simultaneous submission of the same reviewer through another item; the transaction rolled back.
        raise ApplicationError("You scored this trace at the same moment elsewhere; reload the item.") from error


def _overlap_check_second(*, trace_id: int, reviewer) -> None:
    # An unassigned overlap copy is the second review of its trace: it opens once someone else scored it.
    if not ScoreCard.objects.filter(trace_id=trace_id).exclude(reviewer=reviewer).exists():
        raise ApplicationError("This is the second-review copy of a trace nobody else has scored yet.")


@transaction.atomic
def _scorecard_write(*, reviewer, trace, task_id, card, scores: dict, fields: dict) -> ScoreCard:
    existing, task = None, None
    if task_id is not None:
        task = _task_claim(task_id=task_id, reviewer=reviewer, with_card=True)
        if task.kind != TaskKind.SCORE:
            raise ApplicationError("This item is an A/B preference, not a score card.")
        trace_id = task.trace_id
        if task.reason == TaskReason.OVERLAP and task.reviewer_id is None and task.my_card_id is None:
            _overlap_check_second(trace_id=trace_id, reviewer=reviewer)
        if task.my_card_id is not None:
            existing = ScoreCard.objects.select_for_update().get(pk=task.my_card_id)
            if existing.task_id not in (None, task.pk):
                raise ApplicationError("You already scored this trace; this overlap item is for another reviewer.")
    else:
        trace_id = card.trace_id if card is not None else trace.pk
        existing = ScoreCard.objects.select_for_update().filter(trace_id=trace_id, reviewer=reviewer).first()
    now = timezone.now()
    score_card = existing or ScoreCard(trace_id=trace_id, reviewer=reviewer, task=task)
    if task is not None and score_card.task_id == task.pk:
        score_card.task = task  # the locked row, so reading card.task costs no query
    rubric = rubric_active()
    score_card.rubric, score_card.rubric_version = rubric, rubric.version
    for name, value in {**scores, **fields}.items():
        setattr(score_card, name, value)
    if task is not None and task.opened_at and score_card.seconds_spent is None:
        score_card.seconds_spent = round((now - task.opened_at).total_seconds(), 3)
    history_set(
        score_card, user=reviewer, reason=_reason_text("updated" if existing else "scored", fields["rationale"])
    )
    score_card.save()
    reward = reward_from_scores(**scores)
    # The card row is locked (or new), so its one RewardEvent is written without update_or_create's savepoints.
    if existing is None or not RewardEvent.objects.filter(score_card=score_card).update(reward=reward):
        RewardEvent.objects.create(score_card=score_card, trace_id=trace_id, source=RewardSource.HUMAN, reward=reward)
    if task is not None and task.status != TaskStatus.DONE:
        task.status, task.completed_at, task.completed_by = TaskStatus.DONE, now, reviewer
        history_set(task, user=reviewer, reason="scored")
        task.save(update_fields=["status", "completed_at", "completed_by"])
    return score_card


@transaction.atomic
def label_task_skip(*, reviewer, reason: str, task: LabelTask | None = None, task_id: int | None = None) -> LabelTask:
    """Skip an item (`task` or `task_id`) with a reason (kept on the task and in its history)."""
    _check_reviewer(reviewer)
    _texts_validate(reason=reason)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "say why you skip this item"})
    reason = reviewer_texts_scrub(texts={"reason": reason})["reason"]
    task = _task_claim(task_id=task.pk if task is not None else task_id, reviewer=reviewer)
    if task.status == TaskStatus.DONE:
        raise ApplicationError("This item is already scored; edit the score card instead.")
    task.status, task.skip_reason = TaskStatus.SKIPPED, reason[:300]
    task.completed_at, task.completed_by = timezone.now(), reviewer
    history_set(task, user=reviewer, reason=_reason_text("skipped", reason))
    task.save()
    return task


def label_task_open(*, task: LabelTask) -> None:
    """Stamp when an item was first opened (for seconds per item). One conditional UPDATE, no history.

    On PostgreSQL, outside a transaction, the stamp commits without waiting for the WAL flush: it is a
    hint for throughput figures, losing it in a crash costs nothing, and the fsync was the slowest part
    of opening an item (bench/panel.py). `set_config(..., true)` in the statement itself makes that one
    round trip instead of BEGIN / SET LOCAL / UPDATE / COMMIT. Inside a caller's transaction the
    setting would cover the caller's writes too, so there it is a plain UPDATE."""
    now = timezone.now()
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        LabelTask.objects.filter(pk=task.pk, opened_at__isnull=True).update(opened_at=now)
        return
    table = connection.ops.quote_name(LabelTask._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET opened_at = %s FROM (SELECT set_config('synchronous_commit', 'off', true)) AS hint"
            " WHERE id = %s AND opened_at IS NULL",
            [now, task.pk],
        )


@transaction.atomic
def preference_submit(
    *, reviewer, choice: str, rationale: str = "", task: LabelTask | None = None, task_id: int | None = None
) -> Preference:
    """Record (or update) the reviewer's A/B choice for a preference item (`task` or `task_id`), with history.
    `choice` is what the reviewer saw ("a" = the side shown first); with `task.sides_swapped` that is pair["b"],
    and the Preference stores the choice against the pair's own sides."""
    _check_reviewer(reviewer)
    if choice not in PreferenceChoice.values:
        raise ValidationError({"choice": "choose a, b or tie"})
    _texts_validate(rationale=rationale)
    rationale = reviewer_texts_scrub(texts={"rationale": (rationale or "").strip()})["rationale"]
    task = _task_claim(task_id=task.pk if task is not None else task_id, reviewer=reviewer)
    if task.kind != TaskKind.PREFERENCE or not isinstance(task.pair, dict):
        raise ApplicationError("This item has no A/B pair to compare.")
    # Only the scrubbed prompt and the category: the raw columns are never loaded for a reviewer's action.
    trace = Trace.objects.only("scrubbed_user_message", "task_category").get(pk=task.trace_id)
    side_a, side_b = task.pair.get("a") or {}, task.pair.get("b") or {}
    preference = Preference.objects.select_for_update().filter(task=task, reviewer=reviewer).first()
    created = preference is None
    preference = preference or Preference(task=task, reviewer=reviewer, trace=trace, source=PreferenceSource.HUMAN)
    preference.prompt = trace.scrubbed_user_message
    preference.response_a, preference.response_b = side_a.get("response", ""), side_b.get("response", "")
    preference.trajectory_a, preference.trajectory_b = side_a.get("tool_calls"), side_b.get("tool_calls")
    preference.policy_a, preference.policy_b = side_a.get("policy_id", ""), side_b.get("policy_id", "")
    preference.choice, preference.rationale = preference_choice_unblind(choice, swapped=task.sides_swapped), rationale
    preference.task_category = trace.task_category
    history_set(preference, user=reviewer, reason=_reason_text("chose" if created else "changed", rationale))
    preference.save()
    if task.status != TaskStatus.DONE:
        task.status, task.completed_at, task.completed_by = TaskStatus.DONE, timezone.now(), reviewer
        history_set(task, user=reviewer, reason=f"preferred {choice}")
        task.save()
    preference.task = task
    return preference


def preference_choice_unblind(choice: str, *, swapped: bool) -> str:
    """The shown side ("a" first) ↔ the pair's side; the same mapping both ways."""
    return {"a": "b", "b": "a"}.get(choice, choice) if swapped else choice


from labeling.queueing import label_queue_build  # noqa: E402,F401  (re-exported: the queue build is a service)


@transaction.atomic
def labels_forget(*, trace_ids: list[int]) -> dict[str, int]:
    """Delete everything labeling holds on these traces — reward events, score cards, label tasks, preferences —
    and their history rows (a score card's history keeps the reviewer's correction). Returns counts by kind.

    Called by `manage.py forget` before the traces themselves are deleted.
    """
    counts = {
        "reward_events": RewardEvent.objects.filter(trace_id__in=trace_ids).delete()[0],
        "score_cards": ScoreCard.objects.filter(trace_id__in=trace_ids).count(),
        "label_tasks": LabelTask.objects.filter(trace_id__in=trace_ids).count(),
        "preferences": Preference.objects.filter(trace_id__in=trace_ids).count(),
    }
    for model in (ScoreCard, LabelTask, Preference):
        model.objects.filter(trace_id__in=trace_ids).delete()
        model.history.filter(trace_id__in=trace_ids).delete()
    return counts
