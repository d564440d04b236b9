"""Garbage posted to every panel form endpoint is a 4xx naming the field (or a refusal), never a 500."""

import json

import pytest
from django.utils import timezone

from labeling import services
from labeling.models import LabelTask, Preference, RewardEvent, ScoreCard, TaskStatus
from tests.labeling.conftest import SCORES

HX = {"HX-Request": "true"}


def _form(**changes):
    data = {**SCORES, "safety_notes": "", "correction": "", "corrected_tool_calls": "", "rationale": ""}
    data.update(changes)
    return {name: value for name, value in data.items() if value is not None}


@pytest.fixture
def task(traces_factory):
    traces_factory(3)
    services.label_queue_build(day=timezone.localdate(), size=30)
    return LabelTask.objects.filter(queue__day=timezone.localdate()).order_by("position").first()


@pytest.fixture
def ab_task(traces_factory):
    trace = traces_factory(1)[0]
    pair = {"a": {"policy_id": "p1", "response": "x"}, "b": {"policy_id": "p2", "response": "y"}}
    services.label_tasks_add(trace_ids=[trace.pk], reason="disagreement", kind="preference", pairs={trace.pk: pair})
    return trace.label_tasks.get()


def _nothing_written():
    return not ScoreCard.objects.exists() and not RewardEvent.objects.exists() and not Preference.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"success": "four"}, "success"),
        ({"success": "4.0"}, "success"),
        ({"helpfulness": "0"}, "helpfulness"),
        ({"tone_alignment": "6"}, "tone_alignment"),
        ({"safety": "-1"}, "safety"),
        ({"safety": None}, "safety"),
        ({"complexity": "4"}, "complexity"),
        ({"complexity": "x"}, "complexity"),
        ({"complexity": None}, "complexity"),
        ({"task_category": "finance"}, "task_category"),
        ({"task_category": None}, "task_category"),
        ({"rationale": "nul \x00 here"}, "rationale"),
        ({"correction": "nul \x00"}, "correction"),
    ],
)
def test_a_bad_score_form_is_a_400_naming_the_field(reviewer_client, task, change, field):
    response = reviewer_client.post(f"/review/item/{task.pk}/", _form(**change), headers=HX)
    assert response.status_code == 400
    assert f"{field}: " in response.content.decode() or f'data-dimension="{field}"' in response.content.decode()
    assert response.context["form"].errors.get(field)
    assert _nothing_written()


@pytest.mark.parametrize(
    "calls",
    [
        "[" * 50_000,  # deeper than the JSON parser recurses
        json.dumps([{"name": "x", "args": {"n": 1}}]).replace("1", "9" * 5000),  # more digits than Python reads
        '[{"name": "x", "args": {"v": NaN}}]',
        '[{"name": "x", "args": {"v": Infinity}}]',
        '[{"name": "x\\u0000", "args": {}}]',
        '[{"name": "x", "args": {"v": "\\ud800"}}]',
        json.dumps([{"name": "x", "args": {"a": [[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]}}]),
        '"just a string"',
        "[1, 2]",
        '[{"name": "", "args": {}}]',
        '[{"name": "x", "args": "not an object"}]',
    ],
)
def test_garbage_corrected_tool_calls_are_a_400_naming_the_field(reviewer_client, task, calls):
    response = reviewer_client.post(f"/review/item/{task.pk}/", _form(corrected_tool_calls=calls), headers=HX)
    assert response.status_code == 400
    assert response.context["form"].errors.get("corrected_tool_calls")
    assert 'id="tool-calls-errors"' in response.content.decode()
    assert _nothing_written()


@pytest.mark.parametrize("choice", ["c", "", "A", "a; drop table"])
def test_a_bad_preference_choice_is_a_400(reviewer_client, ab_task, choice):
    response = reviewer_client.post(f"/review/item/{ab_task.pk}/", {"choice": choice}, headers=HX)
    assert response.status_code == 400 and response.context["form"].errors.get("choice")
    assert _nothing_written()


def test_a_preference_posted_without_a_choice_is_a_400_on_its_own_form(reviewer_client, ab_task):
    response = reviewer_client.post(f"/review/item/{ab_task.pk}/", {"rationale": "forgot"}, headers=HX)
    assert response.status_code == 400
    assert response.context["form"].errors.get("choice") and 'data-kind="preference"' in response.content.decode()


def test_score_fields_posted_to_an_ab_item_are_refused(reviewer_client, ab_task):
    response = reviewer_client.post(f"/review/item/{ab_task.pk}/", _form(), headers=HX)
    assert response.status_code == 409 and "A/B preference" in response.content.decode()
    assert _nothing_written()


def test_a_choice_posted_to_a_score_item_is_refused(reviewer_client, task):
    response = reviewer_client.post(f"/review/item/{task.pk}/", {"choice": "a"}, headers=HX)
    assert response.status_code == 409 and "no A/B pair" in response.content.decode()
    assert 'data-kind="score"' in response.content.decode()
    assert _nothing_written()


@pytest.mark.parametrize("reason", [None, "", "   ", "x" * 301, "nul \x00"])
def test_a_bad_skip_reason_is_a_400_naming_the_field(reviewer_client, task, reason):
    response = reviewer_client.post(
        f"/review/item/{task.pk}/skip/", {} if reason is None else {"reason": reason}, headers=HX
    )
    assert response.status_code == 400 and response.context["skip_form"].errors.get("reason")
    task.refresh_from_db()
    assert task.status == TaskStatus.PENDING


@pytest.mark.parametrize("path", ["/review/item/{id}/", "/review/item/{id}/skip/"])
@pytest.mark.parametrize("task_id", [987654, 2**63 + 5])
def test_an_unknown_task_id_is_a_404(reviewer_client, db, path, task_id):
    url = path.format(id=task_id)
    assert reviewer_client.post(url, _form() | {"reason": "x"}).status_code == 404
    assert reviewer_client.post(url, _form() | {"reason": "x"}, headers=HX).status_code == 404
    assert _nothing_written()


def test_a_non_numeric_task_id_is_a_404(reviewer_client, db):
    assert reviewer_client.post("/review/item/abc/", _form()).status_code == 404


@pytest.mark.parametrize("path", ["/review/item/{id}/", "/review/item/{id}/skip/"])
def test_another_reviewers_task_is_a_403_whatever_is_posted(reviewer_client, second_reviewer, task, path):
    LabelTask.objects.filter(pk=task.pk).update(reviewer=second_reviewer)
    for data in (_form(), _form(success="garbage"), {"reason": "mine now"}, {}):
        assert reviewer_client.post(path.format(id=task.pk), data).status_code == 403
        assert reviewer_client.post(path.format(id=task.pk), data, headers=HX).status_code == 403
    task.refresh_from_db()
    assert task.status == TaskStatus.PENDING and _nothing_written()


def test_skipping_an_item_another_reviewer_scored_is_a_409(client, reviewer, second_reviewer, task):
    services.scorecard_submit(task=task, reviewer=second_reviewer, **SCORES)
    client.force_login(reviewer)
    response = client.post(f"/review/item/{task.pk}/skip/", {"reason": "mine"}, headers=HX)
    assert response.status_code == 409 and "Another reviewer" in response.content.decode()
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE


def test_the_login_form_with_garbage_is_a_200_with_errors_not_a_500(client, db):
    response = client.post("/review/login/", {"username": "\x00" * 3, "password": ""})
    assert response.status_code == 200 and response.context["form"].errors


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"success": True}, "success"),
        ({"success": "4"}, "success"),
        ({"complexity": True}, "complexity"),
        ({"rationale": "a\x00b"}, "rationale"),
        ({"correction": 5}, "correction"),
        ({"corrected_tool_calls": [{"name": "x", "args": {"v": float("nan")}}]}, "corrected_tool_calls"),
        ({"corrected_tool_calls": [{"name": "x", "args": {"v": object()}}]}, "corrected_tool_calls"),
    ],
)
def test_the_service_refuses_unstorable_input_naming_the_field(task, reviewer, change, field):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as error:
        services.scorecard_submit(task=task, reviewer=reviewer, **{**SCORES, **change})
    assert field in error.value.message_dict
    assert _nothing_written()
