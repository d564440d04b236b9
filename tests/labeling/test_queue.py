from collections import Counter
from datetime import date

import pytest
from django.core.management import call_command

from labeling import services
from labeling.models import LabelQueue, LabelTask, TaskKind, TaskReason
from labeling.tasks import build_label_queue_daily
from tests.labeling.conftest import SCORES

DAY = date(2026, 12, 1)


def _tasks(reason_not=TaskReason.OVERLAP):
    return LabelTask.objects.filter(queue__day=DAY).exclude(reason=reason_not)


def test_it_queues_label_queue_size_traces(traces_factory, settings):
    settings.LABEL_QUEUE_SIZE = 40
    traces_factory(60)
    queue, added = services.label_queue_build(day=DAY)
    assert _tasks().count() == 40
    assert queue.tasks.filter(reason=TaskReason.OVERLAP).count() == 4
    assert added == 44


def test_running_twice_the_same_day_adds_nothing(traces_factory):
    traces_factory(45)
    services.label_queue_build(day=DAY)
    queue, added = services.label_queue_build(day=DAY)
    assert added == 0
    assert queue.tasks.count() == 44 and LabelQueue.objects.count() == 1


def test_the_daily_task_runs_twice_with_one_effect(traces_factory):
    traces_factory(35)
    first = build_label_queue_daily.delay(DAY.isoformat()).get()
    after_first = sorted(LabelTask.objects.values_list("trace_id", "reason", "position"))
    second = build_label_queue_daily.delay(DAY.isoformat()).get()
    assert (first, second) == (35 + 4, 0)  # 35 items + round(3.5) overlap
    assert sorted(LabelTask.objects.values_list("trace_id", "reason", "position")) == after_first
    assert LabelQueue.objects.filter(day=DAY).count() == 1
    assert LabelTask.history.count() == 35 + 4  # no second set of "queued" history rows


def test_the_daily_task_run_twice_with_new_traces_in_between_still_adds_nothing(traces_factory):
    traces_factory(10)
    build_label_queue_daily.delay(DAY.isoformat()).get()
    traces_factory(30)  # arrive after the 06:00 build: tomorrow's queue takes them
    assert build_label_queue_daily.delay(DAY.isoformat()).get() == 0
    assert LabelTask.objects.filter(queue__day=DAY).count() == 10 + 1


def test_the_command_builds_the_queue_for_a_date(traces_factory, capsys):
    traces_factory(3)
    call_command("build_label_queue", "--date", DAY.isoformat())
    assert "added 3" in capsys.readouterr().out
    assert LabelQueue.objects.get(day=DAY).tasks.exclude(reason=TaskReason.OVERLAP).count() == 3


def test_it_is_stratified_by_task_category(traces_factory, agent):
    from tests.labeling.conftest import make_trace

    traces_factory(12)  # two per category
    for _ in range(60):
        make_trace(agent, category="scheduling")
    services.label_queue_build(day=DAY, size=30)
    counts = Counter(_tasks().values_list("trace__task_category", flat=True))
    assert all(counts[category] == 2 for category in ("communication", "ops", "research", "memory", "other"))
    assert counts["scheduling"] == 20


def test_it_never_queues_dropped_quarantined_unscrubbed_or_labeled_traces(traces_factory, reviewer):
    good = traces_factory(3)
    traces_factory(2, status="dropped")
    traces_factory(2, quarantined=True)
    traces_factory(2, scrubbed_user_message="")
    labeled = traces_factory(1)[0]
    services.scorecard_submit(trace=labeled, reviewer=reviewer, **SCORES)
    services.label_queue_build(day=DAY)
    assert set(_tasks().values_list("trace_id", flat=True)) == {trace.pk for trace in good}


def test_it_does_not_queue_a_trace_queued_on_an_earlier_day(traces_factory):
    traces_factory(5)
    services.label_queue_build(day=date(2026, 11, 30))
    _, added = services.label_queue_build(day=DAY)
    assert added == 0


def test_the_reward_models_least_sure_traces_come_first(traces_factory):
    traces = traces_factory(80)
    rows = [{"trace_id": t.pk, "reward": 0.5, "uncertainty": 0.01} for t in traces]
    unsure = traces[70:76]
    for row in rows:
        if row["trace_id"] in {t.pk for t in unsure}:
            row["uncertainty"] = 0.9
    services.reward_events_record_model(rows=rows, reward_model_version="rm-3")
    services.label_queue_build(day=DAY, size=30)
    uncertain = set(_tasks().filter(reason=TaskReason.UNCERTAIN).values_list("trace_id", flat=True))
    assert {t.pk for t in unsure} <= uncertain
    first = _tasks().order_by("position")[:6]
    assert {task.trace_id for task in first} == {t.pk for t in unsure}


def test_candidate_and_shadow_traces_are_preferred_as_disagreements(traces_factory):
    traces_factory(70, hours_ago=2)
    candidates = traces_factory(6, arm="candidate", hours_ago=30) + traces_factory(6, arm="shadow", hours_ago=30)
    services.label_queue_build(day=DAY, size=30)
    queued = set(_tasks().filter(reason=TaskReason.DISAGREEMENT).values_list("trace_id", flat=True))
    assert queued == {t.pk for t in candidates}


def test_fresh_failures_are_preferred(traces_factory):
    traces_factory(70)
    failures = traces_factory(3, flags=["tool_error"]) + traces_factory(3, flags=["user_negative"])
    failures += traces_factory(
        2,
        scrubbed_tool_calls=[{"name": "sms.send", "args": {}, "result": None, "error": "timeout", "latency_ms": 9000}],
    )
    services.label_queue_build(day=DAY, size=30)
    queued = set(_tasks().filter(reason=TaskReason.FAILURE).values_list("trace_id", flat=True))
    assert queued == {t.pk for t in failures}


def test_ab_items_queued_earlier_that_day_count_towards_the_size_and_stay(traces_factory):
    traces = traces_factory(40)
    pair = {"a": {"policy_id": "p1", "response": "x"}, "b": {"policy_id": "p2", "response": "y"}}
    services.label_tasks_add(
        trace_ids=[traces[0].pk], reason="disagreement", day=DAY, kind=TaskKind.PREFERENCE, pairs={traces[0].pk: pair}
    )
    services.label_queue_build(day=DAY, size=30)
    assert _tasks().count() == 30
    assert _tasks().filter(kind=TaskKind.PREFERENCE).count() == 1


def test_about_a_tenth_of_the_items_get_a_second_reviewer(traces_factory):
    traces_factory(50)
    queue, _ = services.label_queue_build(day=DAY, size=50)
    overlap = queue.tasks.filter(reason=TaskReason.OVERLAP)
    assert overlap.count() == 5
    assert set(overlap.values_list("trace_id", flat=True)) <= set(_tasks().values_list("trace_id", flat=True))
    assert queue.stats["overlap"] == 5


def test_it_writes_history_for_the_queued_items(traces_factory):
    traces_factory(10)
    services.label_queue_build(day=DAY)
    assert LabelTask.history.filter(history_change_reason="queued by build").count() == 10 + 1


@pytest.mark.parametrize("bad", ["2026-13-01", "yesterday"])
def test_the_command_rejects_a_bad_date(bad, db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--date"):
        call_command("build_label_queue", "--date", bad)


def test_overlap_traces_go_to_two_different_named_reviewers(traces_factory, reviewer, second_reviewer):
    traces_factory(40)
    queue, _ = services.label_queue_build(day=DAY, size=40)
    copies = list(queue.tasks.filter(reason=TaskReason.OVERLAP))
    assert len(copies) == 4 and queue.stats["overlap_assigned"] is True
    for copy in copies:
        first = queue.tasks.exclude(reason=TaskReason.OVERLAP).get(trace_id=copy.trace_id)
        assert {first.reviewer_id, copy.reviewer_id} == {reviewer.pk, second_reviewer.pk}
    # Every other item stays open to anyone in the group.
    assert queue.tasks.filter(reviewer__isnull=True).count() == 40 - 4


def test_overlap_copies_are_spread_round_robin_over_the_reviewers(traces_factory, django_user_model, reviewer):
    from labeling.access import reviewers_group

    others = [django_user_model.objects.create_user(username=f"r{i}") for i in range(2)]
    for user in others:
        user.groups.add(reviewers_group())
    traces_factory(50)
    queue, _ = services.label_queue_build(day=DAY, size=50)
    counts = Counter(queue.tasks.filter(reason=TaskReason.OVERLAP).values_list("reviewer_id", flat=True))
    assert sorted(counts.values()) == [1, 2, 2] and set(counts) == {reviewer.pk, *(u.pk for u in others)}


def test_inactive_members_are_not_given_overlap_copies(traces_factory, reviewer, second_reviewer):
    second_reviewer.is_active = False
    second_reviewer.save()
    traces_factory(40)
    queue, _ = services.label_queue_build(day=DAY, size=40)
    assert not queue.tasks.filter(reviewer__isnull=False).exists()


def test_with_one_reviewer_the_overlap_copies_stay_unassigned(traces_factory, reviewer):
    traces_factory(40)
    queue, _ = services.label_queue_build(day=DAY, size=40)
    assert queue.tasks.filter(reason=TaskReason.OVERLAP, reviewer__isnull=True).count() == 4
    assert queue.stats["overlap_assigned"] is False
