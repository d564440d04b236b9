"""Building the day's label queue (a service; labeling.services re-exports label_queue_build).

Priority (documented in docs/labeling.md), each term in [0, 1]:
  1.0 × uncertainty / max uncertainty   — the newest reward model's `uncertainty` (source=model events)
+ 0.8 × disagreement                    — the trace was answered by a candidate or shadow policy
+ 0.6 × fresh failure                   — a failure flag, a failed tool call or a reward below LOW_REWARD
+ 0.1 × freshness                       — 1 for today, falling to 0 at FRESH_DAYS old
Items are taken round-robin over task categories (stratified), best first within each category.
"""

from datetime import date

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from labeling.access import REVIEWERS_GROUP
from labeling.models import LabelQueue, LabelTask, RewardEvent, RewardSource, ScoreCard, TaskKind, TaskReason
from traces.models import TraceArm
from traces.selectors import traces_eligible

FAILURE_FLAGS = {"tool_error", "timeout", "incomplete", "user_negative", "negative_feedback", "thumbs_down"}
LOW_REWARD = 0.3
FRESH_DAYS = 7
RECENT_POOL = 2000
PRIORITY_POOL = 300
OVERLAP_SHARE = 0.10
WEIGHTS = {"uncertain": 1.0, "disagreement": 0.8, "failure": 0.6, "fresh": 0.1}
_FIELDS = ("id", "task_category", "flags", "arm", "occurred_at", "scrubbed_tool_calls")


def _unlabeled_eligible():
    """Eligible, not quarantined, scrubbed, never scored and never queued for a score card."""
    return (
        traces_eligible()
        .exclude(scrubbed_user_message="")
        .filter(~Exists(ScoreCard.objects.filter(trace_id=OuterRef("pk"))))
        .filter(~Exists(LabelTask.objects.filter(trace_id=OuterRef("pk"), kind=TaskKind.SCORE)))
    )


def _is_failure(row: dict) -> bool:
    flags = {str(flag) for flag in row["flags"] or []}
    if flags & FAILURE_FLAGS or any(flag.startswith("safety") for flag in flags):
        return True
    return any(isinstance(call, dict) and call.get("error") for call in row["scrubbed_tool_calls"] or [])


def _already_labeled(trace_ids: list[int]) -> set[int]:
    scored = ScoreCard.objects.filter(trace_id__in=trace_ids).order_by().values_list("trace_id", flat=True)
    queued = (
        LabelTask.objects.filter(trace_id__in=trace_ids, kind=TaskKind.SCORE)
        .order_by()
        .values_list("trace_id", flat=True)
    )
    return set(scored) | set(queued)


def _candidates(*, exclude: set[int]) -> list[dict]:
    base = _unlabeled_eligible()
    # The recent and disagreement pools walk the (status, occurred_at) index newest first; checking
    # "already labeled" afterwards for the few thousand ids fetched is much cheaper than two NOT EXISTS
    # per row scanned (1.3 s → tens of ms with a million traces, bench/panel.py).
    scrubbed = traces_eligible().exclude(scrubbed_user_message="").order_by("-occurred_at")
    rows = list(scrubbed.values(*_FIELDS)[:RECENT_POOL])
    disagreeing = scrubbed.filter(arm__in=[TraceArm.CANDIDATE, TraceArm.SHADOW])
    rows += list(disagreeing.values(*_FIELDS)[:PRIORITY_POOL])
    labeled = _already_labeled([row["id"] for row in rows])
    pool = {row["id"]: row for row in rows if row["id"] not in labeled}
    uncertainty = {}
    latest_model = (
        RewardEvent.objects.filter(source=RewardSource.MODEL)
        .order_by("-created_at")
        .values_list("reward_model_version", flat=True)
        .first()
    )
    if latest_model is not None:
        events = RewardEvent.objects.filter(
            source=RewardSource.MODEL, reward_model_version=latest_model, uncertainty__isnull=False
        ).filter(Exists(base.filter(pk=OuterRef("trace_id"))))
        uncertainty = dict(events.order_by("-uncertainty").values_list("trace_id", "uncertainty")[:PRIORITY_POOL])
        missing = set(uncertainty) - set(pool)
        pool.update({row["id"]: row for row in base.filter(pk__in=missing).values(*_FIELDS)})
        for trace_id, value in RewardEvent.objects.filter(
            source=RewardSource.MODEL, reward_model_version=latest_model, trace_id__in=list(pool)
        ).values_list("trace_id", "uncertainty"):
            if value is not None:
                uncertainty.setdefault(trace_id, value)
    low_reward = set(
        RewardEvent.objects.filter(trace_id__in=list(pool), reward__lt=LOW_REWARD).values_list("trace_id", flat=True)
    )
    rows = [row for trace_id, row in pool.items() if trace_id not in exclude]
    _score(rows, uncertainty=uncertainty, low_reward=low_reward)
    return rows


def _score(rows: list[dict], *, uncertainty: dict, low_reward: set) -> None:
    top_uncertainty = max(uncertainty.values(), default=0.0) or 1.0
    now = timezone.now()
    for row in rows:
        age_days = (now - row["occurred_at"]).total_seconds() / 86400
        terms = {
            "uncertain": max(0.0, uncertainty.get(row["id"], 0.0)) / top_uncertainty,
            "disagreement": 1.0 if row["arm"] in (TraceArm.CANDIDATE, TraceArm.SHADOW) else 0.0,
            "failure": 1.0 if (row["id"] in low_reward or _is_failure(row)) and age_days <= FRESH_DAYS else 0.0,
            "fresh": max(0.0, 1.0 - age_days / FRESH_DAYS),
        }
        row["priority"] = round(sum(WEIGHTS[name] * value for name, value in terms.items()), 6)
        weighted = {name: WEIGHTS[name] * terms[name] for name in ("uncertain", "disagreement", "failure")}
        best = max(weighted, key=weighted.get)
        row["reason"] = best if weighted[best] > 0 else TaskReason.STRATIFIED.value


def _stratify(rows: list[dict], wanted: int) -> list[dict]:
    """Round-robin over task categories; within a category the highest priority first."""
    buckets: dict[str, list[dict]] = {}
    for row in sorted(rows, key=lambda r: (-r["priority"], -r["occurred_at"].timestamp(), r["id"])):
        buckets.setdefault(row["task_category"], []).append(row)
    chosen = []
    while len(chosen) < wanted and any(buckets.values()):
        heads = sorted((b for b in buckets.values() if b), key=lambda b: -b[0]["priority"])
        for bucket in heads:
            if len(chosen) == wanted:
                break
            chosen.append(bucket.pop(0))
    return chosen


def label_queue_build(*, day: date | None = None, size: int | None = None, user=None) -> tuple[LabelQueue, int]:
    """Fill the day's queue to `size` (LABEL_QUEUE_SIZE) plus ~10% overlap items for a second reviewer.

    Safe to run twice: the queue row (one per day) is locked and marked built; a second run adds nothing.
    Items other apps queued earlier that day (spot checks, A/B pairs) count towards the size.
    Returns (queue, number of tasks added).
    """
    day = day or timezone.localdate()
    size = size or settings.LABEL_QUEUE_SIZE
    with transaction.atomic():
        LabelQueue.objects.get_or_create(day=day, defaults={"size": size})
        queue = LabelQueue.objects.select_for_update().get(day=day)
        if queue.stats.get("built_at"):
            return queue, 0
        queued = set(queue.tasks.exclude(reason=TaskReason.OVERLAP).values_list("trace_id", flat=True))
        chosen = _stratify(_candidates(exclude=queued), max(0, size - len(queued)))
        overlap = chosen[:: round(1 / OVERLAP_SHARE)][: round(len(chosen) * OVERLAP_SHARE)]
        pairs = _overlap_reviewers(len(overlap), day=day)
        tasks = _new_tasks(queue, chosen, overlap=overlap, pairs=pairs)
        bulk_create_with_history(tasks, LabelTask, default_user=user, default_change_reason="queued by build")
        queue.size, queue.built_by = size, user
        queue.stats = {
            "built_at": timezone.now().isoformat(),
            "added": len(tasks),
            "overlap": len(overlap),
            "overlap_assigned": any(second for _, second in pairs),
            "already_queued": len(queued),
            "by_category": _count(chosen, "task_category"),
            "by_reason": _count(chosen, "reason"),
        }
        queue.save()
    return queue, len(tasks)


def _new_tasks(queue: LabelQueue, chosen: list[dict], *, overlap: list[dict], pairs: list[tuple]) -> list[LabelTask]:
    """The chosen items, then the overlap copies; an overlapped trace's first item goes to the first
    reviewer of its pair and the copy to the second, so the two scores come from different people."""
    first_reviewer = {row["id"]: first for row, (first, _) in zip(overlap, pairs, strict=True)}
    position = (queue.tasks.order_by("-position").values_list("position", flat=True).first() or 0) + 1
    tasks = [
        LabelTask(
            queue=queue,
            trace_id=row["id"],
            reason=row["reason"],
            priority=row["priority"],
            position=position + i,
            reviewer_id=first_reviewer.get(row["id"]),
        )
        for i, row in enumerate(chosen)
    ]
    position += len(chosen)
    tasks += [
        LabelTask(
            queue=queue,
            trace_id=row["id"],
            reason=TaskReason.OVERLAP,
            priority=row["priority"],
            position=position + i,
            reviewer_id=second,
        )
        for i, (row, (_, second)) in enumerate(zip(overlap, pairs, strict=True))
    ]
    return tasks


def _overlap_reviewers(count: int, *, day: date) -> list[tuple[int | None, int | None]]:
    """(first, second) reviewer ids for each overlap trace, round-robin over the active members of the
    reviewers group (starting at a different member each day). With fewer than two reviewers both are
    None: the items stay unassigned (see labeling.selectors._visible for how the panel counts them)."""
    reviewers = list(
        get_user_model()
        .objects.filter(groups__name=REVIEWERS_GROUP, is_active=True)
        .order_by("pk")
        .values_list("pk", flat=True)
        .distinct()
    )
    if len(reviewers) < 2:
        return [(None, None)] * count
    start = day.toordinal()
    return [
        (reviewers[(start + i) % len(reviewers)], reviewers[(start + i + 1) % len(reviewers)]) for i in range(count)
    ]


def _count(rows: list[dict], key: str) -> dict:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row[key]] = counts.get(row[key], 0) + 1
    return dict(sorted(counts.items()))
