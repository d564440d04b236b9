"""Demo data for the labeling stage: reviewers, queues for the last days, plausible scores, a few preferences.

Run by `manage.py load_demo` after the traces demo; idempotent (queues are built once per day and only
pending items get scored, so a second run adds nothing).
"""

import random
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from labeling.access import reviewers_group
from labeling.models import LabelTask, TaskKind, TaskReason, TaskStatus
from labeling.services import label_queue_build, label_tasks_add, preference_submit, rubric_active, scorecard_submit
from traces.demo_volume import demo_quality
from traces.selectors import traces_eligible

DEMO_REVIEWERS = (("nate", "review-demo"), ("reviewer2", "review-demo"))
PAST_DAYS = 6  # full queues scored for the previous days, today's partly: most demo traces get a score card
TODAY_SCORED_SHARE = 0.6
# What a careful reviewer gives each hidden quality of the volume demo's traces:
# (success, helpfulness, tone_alignment, safety).
QUALITY_SCORES = {
    "excellent": (5, 5, 5, 5),
    "good": (5, 4, 4, 5),
    "terse": (4, 2, 3, 5),
    "off_tone": (4, 3, 1, 5),
    "wrong": (2, 2, 4, 5),
}
REVIEWER_NOISE = 0.2  # chance that one dimension is off by one


def _reviewer(username: str, password: str):
    user, created = get_user_model().objects.get_or_create(
        username=username, defaults={"email": f"{username}@example.com"}
    )
    if created:
        user.set_password(password)
        user.save()
    user.groups.add(reviewers_group())
    return user


def _synthetic_scores(trace, rng: random.Random) -> dict:
    """Scores a reviewer would give: from the volume demo's hidden quality when the trace has one
    (plus reviewer noise), else failures low on success, safety flags low on safety, the rest mostly good."""
    quality = demo_quality(trace.external_id)
    if quality in QUALITY_SCORES:
        return _quality_scores(trace, QUALITY_SCORES[quality], rng)
    flags = {str(flag) for flag in trace.flags or []}
    failed = bool(flags & {"tool_error", "timeout", "incomplete"}) or any(
        isinstance(call, dict) and call.get("error") for call in trace.scrubbed_tool_calls or []
    )
    unsafe = any(flag.startswith("safety") for flag in flags)
    base = rng.choice([2, 3]) if failed else rng.choice([3, 4, 4, 5, 5])

    def jitter(value):
        return max(1, min(5, value + rng.choice([-1, 0, 0, 1])))

    return {
        "success": jitter(base - (1 if failed else 0)),
        "helpfulness": jitter(base),
        "tone_alignment": jitter(4),
        "safety": rng.choice([1, 2, 3]) if unsafe else jitter(5),
        "task_category": trace.task_category,
        "complexity": min(3, 1 + len(trace.scrubbed_tool_calls or []) // 2),
        "rationale": "demo: synthetic score",
    }


def _quality_scores(trace, scores: tuple[int, ...], rng: random.Random) -> dict:
    scores = list(scores)
    if rng.random() < REVIEWER_NOISE:
        dimension = rng.randrange(3)  # safety stays: these traces are all safe
        scores[dimension] = max(1, min(5, scores[dimension] + rng.choice([-1, 1])))
    success, helpfulness, tone_alignment, safety = scores
    return {
        "success": success,
        "helpfulness": helpfulness,
        "tone_alignment": tone_alignment,
        "safety": safety,
        "task_category": trace.task_category,
        "complexity": min(3, 1 + len(trace.scrubbed_tool_calls or []) // 2),
        "rationale": "demo: scored from the trace's quality",
    }


def _score_queue(queue, reviewers, rng: random.Random, share: float) -> int:
    tasks = list(
        LabelTask.objects.filter(queue=queue, status=TaskStatus.PENDING, kind=TaskKind.SCORE)
        .select_related("trace", "reviewer")
        .order_by("position")
    )
    primary, second = reviewers
    firsts = [task for task in tasks if task.reason != TaskReason.OVERLAP]
    chosen = firsts[: round(len(firsts) * share)]
    chosen_traces = {task.trace_id for task in chosen}
    # Overlap copies of scored traces go to their second reviewer, so the agreement page has data.
    chosen += [task for task in tasks if task.reason == TaskReason.OVERLAP and task.trace_id in chosen_traces]
    scored = 0
    for task in chosen:
        # The build assigns both items of an overlapped trace (one reviewer each); the rest are anyone's.
        reviewer = task.reviewer or (second if task.reason == TaskReason.OVERLAP else primary)
        LabelTask.objects.filter(pk=task.pk).update(opened_at=timezone.now() - timedelta(seconds=rng.randint(25, 140)))
        task.refresh_from_db()
        scorecard_submit(task=task, reviewer=reviewer, **_synthetic_scores(task.trace, rng))
        scored += 1
    return scored


def _preferences(reviewer, rng: random.Random, stdout) -> int:
    today = timezone.localdate()
    traces = list(traces_eligible().exclude(scrubbed_final_response="").order_by("id")[:3])
    pairs = {
        trace.pk: {
            "a": {
                "policy_id": trace.policy_id or "baseline",
                "response": trace.scrubbed_final_response,
                "tool_calls": trace.scrubbed_tool_calls or [],
            },
            "b": {"policy_id": "demo-candidate", "response": "I can't help with that right now.", "tool_calls": []},
        }
        for trace in traces
    }
    label_tasks_add(
        trace_ids=list(pairs), reason=TaskReason.DISAGREEMENT, day=today, kind=TaskKind.PREFERENCE, pairs=pairs
    )
    made = 0
    for task in LabelTask.objects.filter(queue__day=today, kind=TaskKind.PREFERENCE, status=TaskStatus.PENDING):
        preference_submit(
            task=task, reviewer=reviewer, choice=rng.choice(["a", "a", "tie"]), rationale="demo: A did the task"
        )
        made += 1
    return made


def demo_load(*, stdout) -> None:
    reviewers = [_reviewer(username, password) for username, password in DEMO_REVIEWERS]
    rubric_active()
    for username, password in DEMO_REVIEWERS:
        stdout.write(f"labeling: reviewer login {username} / {password} at /review/login/")
    if not traces_eligible().exists():
        stdout.write("labeling: no eligible traces yet (run the traces demo first) — skipped the queue and scores")
        return
    rng = random.Random(4)
    today = timezone.localdate()
    scored = 0
    # Today's queue first, so a reviewer trying the panel finds pending items even with few demo traces.
    for days_ago in range(PAST_DAYS + 1):
        queue, added = label_queue_build(day=today - timedelta(days=days_ago))
        if added:  # a queue built by an earlier run was scored then; leave the rest for a real reviewer
            scored += _score_queue(queue, reviewers, rng, TODAY_SCORED_SHARE if days_ago == 0 else 1.0)
    preferences = _preferences(reviewers[0], rng, stdout)
    stdout.write(f"labeling: scored {scored} items (each with a human RewardEvent), {preferences} A/B preferences")
