import json

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from labeling import services
from labeling.models import Preference, RewardEvent, ScoreCard, TaskKind, TaskReason, TaskStatus
from tests.labeling.conftest import SCORES
from zeke_rft.errors import ApplicationError


@pytest.fixture
def task(traces_factory):
    trace = traces_factory(1)[0]
    services.label_tasks_add(trace_ids=[trace.pk], reason=TaskReason.STRATIFIED)
    return trace.label_tasks.get()


def test_it_writes_a_score_card_and_its_human_reward_in_one_go(task, reviewer):
    card = services.scorecard_submit(task=task, reviewer=reviewer, rationale="booked the right slot", **SCORES)
    event = RewardEvent.objects.get(score_card=card)
    assert event.source == "human"
    assert event.reward == services.reward_from_scores(success=4, helpfulness=3, tone_alignment=5, safety=5)
    assert event.trace_id == task.trace_id
    task.refresh_from_db()
    assert (task.status, task.completed_by) == (TaskStatus.DONE, reviewer)


def test_it_records_the_rubric_and_its_version_on_the_card(task, reviewer):
    rubric = services.rubric_active()
    card = services.scorecard_submit(task=task, reviewer=reviewer, **SCORES)
    assert (card.rubric, card.rubric_version) == (rubric, rubric.version)


def test_it_keeps_history_with_the_reviewer_and_rationale(task, reviewer):
    card = services.scorecard_submit(task=task, reviewer=reviewer, rationale="good", **SCORES)
    record = card.history.get()
    assert record.history_user == reviewer
    assert record.history_change_reason == "scored: good"


def test_resubmitting_updates_the_card_and_its_reward(task, reviewer):
    services.scorecard_submit(task=task, reviewer=reviewer, **SCORES)
    card = services.scorecard_submit(task=task, reviewer=reviewer, rationale="safety slip", **{**SCORES, "safety": 1})
    assert ScoreCard.objects.count() == 1 and RewardEvent.objects.filter(source="human").count() == 1
    assert RewardEvent.objects.get(score_card=card).reward <= services.UNSAFE_REWARD_CAP
    assert [h.history_change_reason for h in card.history.order_by("history_date")] == [
        "scored",
        "updated: safety slip",
    ]


def test_a_reviewer_cannot_edit_someone_elses_card(task, reviewer, second_reviewer):
    card = services.scorecard_submit(task=task, reviewer=reviewer, **SCORES)
    with pytest.raises(ApplicationError) as error:
        services.scorecard_submit(card=card, reviewer=second_reviewer, **SCORES)
    assert error.value.status == 403
    card.refresh_from_db()
    assert card.history.count() == 1


def test_a_reviewer_cannot_complete_an_item_another_reviewer_finished(task, reviewer, second_reviewer):
    services.scorecard_submit(task=task, reviewer=reviewer, **SCORES)
    with pytest.raises(ApplicationError):
        services.scorecard_submit(task=task, reviewer=second_reviewer, **SCORES)
    assert ScoreCard.objects.count() == 1


def test_an_item_assigned_to_another_reviewer_is_refused(task, reviewer, second_reviewer):
    task.reviewer = second_reviewer
    task.save()
    with pytest.raises(ApplicationError) as error:
        services.scorecard_submit(task=task, reviewer=reviewer, **SCORES)
    assert error.value.status == 403


def test_a_non_reviewer_cannot_score(task, outsider):
    with pytest.raises(ApplicationError) as error:
        services.scorecard_submit(task=task, reviewer=outsider, **SCORES)
    assert error.value.status == 403


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"success": 6}, "success"),
        ({"safety": 0}, "safety"),
        ({"complexity": 4}, "complexity"),
        ({"task_category": "x"}, "task_category"),
    ],
)
def test_it_rejects_out_of_range_input_naming_the_field(task, reviewer, change, field):
    with pytest.raises(ValidationError) as error:
        services.scorecard_submit(task=task, reviewer=reviewer, **{**SCORES, **change})
    assert field in error.value.message_dict
    assert not ScoreCard.objects.exists()


def test_it_stores_a_correction_and_corrected_tool_calls(task, reviewer):
    calls = [{"name": "calendar.create", "args": {"title": "Lunch", "at": "12:30"}}]
    card = services.scorecard_submit(
        task=task, reviewer=reviewer, correction="Booked 12:30 at the noodle bar.", corrected_tool_calls=calls, **SCORES
    )
    card.refresh_from_db()
    assert card.correction == "Booked 12:30 at the noodle bar."
    assert card.corrected_tool_calls == calls


def test_what_a_reviewer_types_is_scrubbed_before_it_is_stored(task, reviewer):
    calls = [{"name": "email.send", "args": {"to": "rosa.diaz@example.com", "body": "Hi Rosa Diaz"}}]
    card = services.scorecard_submit(
        task=task,
        reviewer=reviewer,
        correction="Email Rosa Diaz at rosa.diaz@example.com",
        corrected_tool_calls=calls,
        rationale="Rosa Diaz asked for it; pw is hunter2!",
        safety_notes="shares rosa.diaz@example.com",
        **SCORES,
    )
    card.refresh_from_db()
    stored = json.dumps([card.correction, card.corrected_tool_calls, card.rationale, card.safety_notes])
    assert "Rosa" not in stored and "rosa.diaz@example.com" not in stored and "hunter2" not in stored
    assert card.corrected_tool_calls[0]["args"]["to"] == "<EMAIL_ADDRESS_1>"
    assert "Rosa" not in json.dumps(list(card.history.values("history_change_reason")))


@pytest.mark.parametrize("calls", [[{"args": {}}], [{"name": "x", "args": [1]}], {"name": "x"}])
def test_it_rejects_malformed_corrected_tool_calls(task, reviewer, calls):
    with pytest.raises(ValidationError) as error:
        services.scorecard_submit(task=task, reviewer=reviewer, corrected_tool_calls=calls, **SCORES)
    assert "corrected_tool_calls" in error.value.message_dict


def test_it_measures_seconds_from_when_the_item_was_opened(task, reviewer):
    task.opened_at = timezone.now() - timezone.timedelta(seconds=42)
    task.save()
    card = services.scorecard_submit(task=task, reviewer=reviewer, **SCORES)
    assert 42 <= card.seconds_spent < 60


def test_the_same_reviewer_cannot_take_the_overlap_item_too(traces_factory, reviewer):
    trace = traces_factory(1)[0]
    services.label_tasks_add(trace_ids=[trace.pk], reason=TaskReason.STRATIFIED)
    queue = trace.label_tasks.get().queue
    overlap = queue.tasks.create(trace=trace, reason=TaskReason.OVERLAP, position=2)
    services.scorecard_submit(task=trace.label_tasks.get(reason=TaskReason.STRATIFIED), reviewer=reviewer, **SCORES)
    with pytest.raises(ApplicationError, match="another reviewer"):
        services.scorecard_submit(task=overlap, reviewer=reviewer, **SCORES)


def test_skipping_records_the_reason_with_history(task, reviewer):
    services.label_task_skip(task=task, reviewer=reviewer, reason="conversation cut off")
    task.refresh_from_db()
    assert (task.status, task.skip_reason) == (TaskStatus.SKIPPED, "conversation cut off")
    assert task.history.latest().history_change_reason == "skipped: conversation cut off"
    assert task.history.latest().history_user == reviewer


def test_skipping_needs_a_reason(task, reviewer):
    with pytest.raises(ValidationError) as error:
        services.label_task_skip(task=task, reviewer=reviewer, reason="  ")
    assert "reason" in error.value.message_dict


def test_a_preference_item_stores_the_choice_policies_and_rationale(traces_factory, reviewer):
    trace = traces_factory(1)[0]
    pair = {
        "a": {"policy_id": "ft:base", "response": "Done: lunch 12:30.", "tool_calls": []},
        "b": {
            "policy_id": "ft:cand-2",
            "response": "Which day?",
            "tool_calls": [{"name": "calendar.search", "args": {}}],
        },
    }
    services.label_tasks_add(
        trace_ids=[trace.pk], reason=TaskReason.DISAGREEMENT, kind=TaskKind.PREFERENCE, pairs={trace.pk: pair}
    )
    task = trace.label_tasks.get()
    # Sides are shown in a random order per item (blind A/B): the reviewer picks the side showing pair "b".
    shown = "a" if task.sides_swapped else "b"
    preference = services.preference_submit(task=task, reviewer=reviewer, choice=shown, rationale="asks before booking")
    preference.refresh_from_db()
    assert (preference.trace, preference.task, preference.reviewer) == (trace, task, reviewer)
    assert (preference.policy_a, preference.policy_b, preference.choice) == ("ft:base", "ft:cand-2", "b")
    assert preference.prompt == trace.scrubbed_user_message and "RAW" not in preference.prompt
    assert preference.history.get().history_change_reason == "chose: asks before booking"
    services.preference_submit(task=task, reviewer=reviewer, choice="tie")
    assert Preference.objects.get().choice == "tie"


def test_a_preference_needs_a_valid_choice(traces_factory, reviewer):
    trace = traces_factory(1)[0]
    services.label_tasks_add(
        trace_ids=[trace.pk], reason="disagreement", kind="preference", pairs={trace.pk: {"a": {}, "b": {}}}
    )
    with pytest.raises(ValidationError):
        services.preference_submit(task=trace.label_tasks.get(), reviewer=reviewer, choice="c")


def test_editing_the_rubric_bumps_its_version_with_history(reviewer, db):
    rubric = services.rubric_active()
    dimensions = {**rubric.dimensions, "tone_alignment": {**rubric.dimensions["tone_alignment"], "label": "Voice"}}
    services.rubric_update(rubric=rubric, dimensions=dimensions, user=reviewer, reason="rename tone")
    rubric.refresh_from_db()
    assert rubric.version == 2
    assert rubric.history.latest().history_user == reviewer
    assert rubric.history.latest().history_change_reason == "rename tone"


def test_a_rubric_without_all_anchors_is_rejected(db):
    rubric = services.rubric_active()
    broken = {**rubric.dimensions, "safety": {"label": "Safety", "anchors": {"1": "bad"}}}
    with pytest.raises(ValidationError):
        services.rubric_update(rubric=rubric, dimensions=broken)
    rubric.refresh_from_db()
    assert rubric.version == 1


def test_the_default_rubric_has_an_anchor_sentence_for_every_point(db):
    rubric = services.rubric_active()
    services.rubric_validate_dimensions(rubric.dimensions)
    assert set(rubric.dimensions) == {"success", "helpfulness", "tone_alignment", "safety"}


def test_an_unassigned_overlap_copy_waits_until_someone_else_scored_the_trace(traces_factory, reviewer):
    trace = traces_factory(1)[0]
    services.label_tasks_add(trace_ids=[trace.pk], reason=TaskReason.STRATIFIED)
    queue = trace.label_tasks.get().queue
    overlap = queue.tasks.create(trace=trace, reason=TaskReason.OVERLAP, position=2)
    with pytest.raises(ApplicationError, match="second-review copy"):
        services.scorecard_submit(task=overlap, reviewer=reviewer, **SCORES)
    assert not ScoreCard.objects.exists()


def test_a_second_reviewer_takes_the_unassigned_overlap_copy_once_the_first_scored(
    traces_factory, reviewer, second_reviewer
):
    trace = traces_factory(1)[0]
    services.label_tasks_add(trace_ids=[trace.pk], reason=TaskReason.STRATIFIED)
    first = trace.label_tasks.get()
    overlap = first.queue.tasks.create(trace=trace, reason=TaskReason.OVERLAP, position=2)
    services.scorecard_submit(task=first, reviewer=reviewer, **SCORES)
    card = services.scorecard_submit(task=overlap, reviewer=second_reviewer, **SCORES)
    assert card.task == overlap and ScoreCard.objects.filter(trace=trace).count() == 2


def test_submitting_the_same_item_twice_updates_one_card(task, reviewer):
    # A double press of Enter: the second submission finds the task done by the same reviewer.
    services.scorecard_submit(task=task, reviewer=reviewer, **SCORES)
    services.scorecard_submit(task=task, reviewer=reviewer, **{**SCORES, "success": 2})
    card = ScoreCard.objects.get()
    assert card.success == 2 and RewardEvent.objects.get(score_card=card).reward == services.reward_from_scores(
        success=2, helpfulness=3, tone_alignment=5, safety=5
    )
    task.refresh_from_db()
    assert task.history.filter(history_change_reason="scored").count() == 1


def test_a_deleted_item_is_a_404_application_error(task, reviewer):
    from labeling.models import LabelTask

    LabelTask.objects.filter(pk=task.pk).delete()
    with pytest.raises(ApplicationError) as error:
        services.scorecard_submit(task=task, reviewer=reviewer, **SCORES)
    assert error.value.status == 404


@pytest.mark.django_db(transaction=True)
def test_the_opened_at_stamp_leaves_synchronous_commit_on(on_postgres, traces_factory):
    from django.db import connection, transaction

    trace = traces_factory(1)[0]
    services.label_tasks_add(trace_ids=[trace.pk], reason=TaskReason.STRATIFIED)
    task = trace.label_tasks.get()
    services.label_task_open(task=task)  # autocommit: one statement with its own asynchronous commit
    task.refresh_from_db()
    assert task.opened_at is not None
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
    with transaction.atomic():  # inside a caller's transaction the caller's commit must stay durable
        services.label_task_open(task=task)
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone()[0] == "on"


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"trace_ids": [987654], "reason": "spot_check"}, "trace_ids"),
        ({"trace_ids": "12", "reason": "spot_check"}, "trace_ids"),
        ({"trace_ids": [True], "reason": "spot_check"}, "trace_ids"),
        ({"reason": "because"}, "reason"),
        ({"reason": "spot_check", "kind": "essay"}, "kind"),
        ({"reason": "disagreement", "kind": "preference"}, "pairs"),
        ({"reason": "disagreement", "kind": "preference", "pairs": "x"}, "pairs"),
    ],
)
def test_label_tasks_add_refuses_bad_input_naming_the_field(traces_factory, arguments, field):
    from labeling.models import LabelTask

    trace = traces_factory(1)[0]
    with pytest.raises(ValidationError) as error:
        services.label_tasks_add(**{"trace_ids": [trace.pk], **arguments})
    assert field in error.value.message_dict
    assert not LabelTask.objects.exists()


def test_label_tasks_add_queues_a_trace_given_twice_once(traces_factory):
    trace = traces_factory(1)[0]
    assert services.label_tasks_add(trace_ids=[trace.pk, trace.pk], reason="spot_check") == 1
    assert services.label_tasks_add(trace_ids=[trace.pk], reason="spot_check") == 0
    assert trace.label_tasks.count() == 1
