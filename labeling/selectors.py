"""Reads for the labeling panel. Every panel query is here, with its joins done, so counts stay constant."""

import statistics
from datetime import date

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import TruncDate

from labeling.agreement import krippendorff_alpha
from labeling.models import DIMENSIONS, LabelTask, Preference, ScoreCard, TaskKind, TaskReason, TaskStatus

# The trace columns the queue list needs; never the raw text.
_LIST_TRACE_FIELDS = ("trace__id", "trace__task_category", "trace__modality", "trace__occurred_at", "trace__flags")


def _visible(queryset: QuerySet, user) -> QuerySet:
    """Items for `user`: unassigned or theirs, minus pending score items for a trace they already scored
    (those are overlap copies meant for a second reviewer). An overlap copy left unassigned (the queue
    was built with fewer than two reviewers) is not part of anyone's queue or progress until someone
    else has scored its trace: the one reviewer there is scores the first item and cannot take both."""
    mine = ScoreCard.objects.filter(trace_id=OuterRef("trace_id"), reviewer=user)
    others = ScoreCard.objects.filter(trace_id=OuterRef("trace_id")).exclude(reviewer=user)
    return (
        queryset.filter(Q(reviewer__isnull=True) | Q(reviewer=user))
        .exclude(Q(status=TaskStatus.PENDING, kind=TaskKind.SCORE) & Exists(mine))
        .exclude(Q(reviewer__isnull=True, reason=TaskReason.OVERLAP) & ~Exists(others))
    )


def label_tasks_for_reviewer(*, user, day: date) -> QuerySet:
    """Today's queue as the reviewer sees it, in queue order."""
    tasks = LabelTask.objects.filter(queue__day=day).select_related("trace", "completed_by")
    fields = ("id", "queue_id", "kind", "reason", "position", "status", "reviewer_id", "skip_reason", "trace_id")
    return _visible(tasks, user).only(*fields, *_LIST_TRACE_FIELDS, "completed_by__username").order_by("position", "id")


def label_task_positions(*, user, queue_id: int) -> list[tuple[int, int, str, str]]:
    """(id, position, status, kind) of every item of the queue the reviewer can see, in order — one query.
    A day's queue is small (30–50 items plus what other apps add), so progress and j/k neighbours
    are worked out from this list in Python rather than with a query each."""
    tasks = _visible(LabelTask.objects.filter(queue_id=queue_id), user)
    return list(tasks.order_by("position", "id").values_list("id", "position", "status", "kind"))


def label_task_progress(positions: list[tuple]) -> dict:
    done = sum(1 for _, _, status, *_ in positions if status != TaskStatus.PENDING)
    total = len(positions)
    return {"done": done, "total": total, "percent": round(100 * done / total) if total else 0}


def label_task_neighbours(positions: list[tuple], task_id: int) -> dict:
    """The previous and next item ids (any status) around `task_id`, for j/k, and the next pending A/B item."""
    ids = [task for task, *_ in positions]
    next_ab_id = label_task_next_pending(positions, task_id, kind=TaskKind.PREFERENCE)
    if task_id not in ids:
        return {"previous_id": None, "next_id": ids[0] if ids else None, "next_ab_id": next_ab_id}
    index = ids.index(task_id)
    return {
        "previous_id": ids[index - 1] if index > 0 else None,
        "next_id": ids[index + 1] if index + 1 < len(ids) else None,
        "next_ab_id": next_ab_id,
    }


def label_task_next_pending(positions: list[tuple], task_id: int, *, kind: str | None = None) -> int | None:
    """The next pending item (of `kind`, if given) after `task_id`, wrapping to the start of the queue;
    None when none is left."""
    ids = [task for task, *_ in positions]
    start = ids.index(task_id) + 1 if task_id in ids else 0
    ordered = positions[start:] + positions[:start]
    return next(
        (
            task
            for task, _, status, task_kind in ordered
            if status == TaskStatus.PENDING and task != task_id and kind in (None, task_kind)
        ),
        None,
    )


# Raw (unscrubbed) trace columns are never even loaded into the panel.
_RAW_TRACE_FIELDS = ("user_message", "context", "tool_calls", "final_response", "drop_detail")


def label_task_for_item(*, task_id: int, with_trace: bool = True) -> LabelTask | None:
    tasks = LabelTask.objects.filter(pk=task_id)
    if with_trace:
        tasks = tasks.select_related("trace").defer(*(f"trace__{name}" for name in _RAW_TRACE_FIELDS))
    # order_by("pk"): the model's default ordering ("queue", ...) would JOIN the queue table for one row.
    return tasks.order_by("pk").first()


def scorecard_for(*, trace_id: int, user) -> ScoreCard | None:
    return ScoreCard.objects.filter(trace_id=trace_id, reviewer=user).first()


def preference_for(*, task_id: int, user) -> Preference | None:
    return Preference.objects.filter(task_id=task_id, reviewer=user).first()


def agreement_by_dimension() -> dict:
    """Krippendorff's alpha (ordinal and interval) per rubric dimension over traces scored by two or more
    reviewers: {"units": n, "rows": [{"dimension", "ordinal", "interval"}]}."""
    overlap = ScoreCard.objects.values("trace_id").annotate(n=Count("id")).filter(n__gte=2).values("trace_id")
    cards = ScoreCard.objects.filter(trace_id__in=overlap).values("trace_id", "reviewer_id", *DIMENSIONS)
    units: dict[int, dict[str, list[int]]] = {}
    for card in cards:
        for dimension in DIMENSIONS:
            units.setdefault(card["trace_id"], {}).setdefault(dimension, []).append(card[dimension])
    rows = []
    for dimension in DIMENSIONS:
        ratings = [unit[dimension] for unit in units.values()]
        rows.append(
            {
                "dimension": dimension,
                **{
                    level: krippendorff_alpha(ratings, level=level, values=range(1, 6))
                    for level in ("ordinal", "interval")
                },
            }
        )
    return {"units": len(units), "rows": rows}


def reviewer_throughput() -> list[dict]:
    """Each reviewer's score cards per day, items per day and median seconds per item."""
    per_day = (
        ScoreCard.objects.annotate(day=TruncDate("created_at"))
        .values("reviewer__username", "day")
        .annotate(items=Count("id"))
        .order_by("reviewer__username", "day")
    )
    seconds: dict[str, list[float]] = {}
    for username, value in ScoreCard.objects.filter(seconds_spent__isnull=False).values_list(
        "reviewer__username", "seconds_spent"
    ):
        seconds.setdefault(username, []).append(value)
    reviewers: dict[str, dict] = {}
    for row in per_day:
        entry = reviewers.setdefault(row["reviewer__username"], {"reviewer": row["reviewer__username"], "days": []})
        entry["days"].append({"day": row["day"], "items": row["items"]})
    for name, entry in reviewers.items():
        entry["items"] = sum(day["items"] for day in entry["days"])
        entry["items_per_day"] = round(entry["items"] / len(entry["days"]), 1)
        entry["median_seconds"] = round(statistics.median(seconds[name]), 1) if seconds.get(name) else None
    return list(reviewers.values())
