import json
from html import escape

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from labeling import services
from labeling.models import LabelTask, RewardEvent, ScoreCard, TaskReason, TaskStatus
from tests.labeling.conftest import RAW_MARKER, SCORES


def _form(**changes):
    data = {**SCORES, "safety_notes": "", "correction": "", "corrected_tool_calls": "", "rationale": ""}
    data.update(changes)
    return data


@pytest.fixture
def queued(traces_factory):
    def build(count):
        traces_factory(count)
        services.label_queue_build(day=timezone.localdate(), size=max(30, min(50, count)))
        return list(LabelTask.objects.filter(queue__day=timezone.localdate()).order_by("position"))

    return build


def test_anonymous_users_are_sent_to_log_in(client, db):
    response = client.get("/review/")
    assert response.status_code == 302
    assert response["Location"].startswith("/review/login/")


def test_a_user_outside_the_reviewers_group_gets_403(client, outsider, queued):
    tasks = queued(3)
    client.force_login(outsider)
    assert client.get("/review/").status_code == 403
    assert client.get(f"/review/item/{tasks[0].pk}/").status_code == 403
    assert client.post(f"/review/item/{tasks[0].pk}/", _form()).status_code == 403
    assert client.get("/review/stats/").status_code == 403
    assert not ScoreCard.objects.exists()


def test_staff_without_the_review_permission_may_not_review(client, django_user_model, db):
    staff = django_user_model.objects.create_user(username="boss", password="x", is_staff=True)
    client.force_login(staff)
    assert client.get("/review/").status_code == 403


def test_a_reviewer_logs_in_through_the_panel_login(client, reviewer):
    response = client.post("/review/login/", {"username": "nate", "password": "pw-secret-123"})
    assert response.status_code == 302 and response["Location"] == "/review/"


def test_the_queue_shows_progress_n_of_total(reviewer_client, reviewer, queued):
    tasks = queued(30)
    services.scorecard_submit(task=tasks[1], reviewer=reviewer, **SCORES)  # an item without an overlap copy
    response = reviewer_client.get("/review/")
    assert response.status_code == 200
    # The only reviewer: the 3 overlap copies wait for a second reviewer and are not in the total.
    assert "1 of 30" in response.content.decode()


def test_with_two_reviewers_each_sees_the_day_plus_their_overlap_share(client, reviewer, second_reviewer, queued):
    queued(30)  # 30 items + 3 overlap copies; each overlapped trace has one item for each reviewer
    for user in (reviewer, second_reviewer):
        client.force_login(user)
        assert "0 of 30" in client.get("/review/").content.decode()


@pytest.mark.parametrize("count", [5, 50])
def test_the_queue_view_runs_a_constant_number_of_queries(reviewer_client, queued, django_assert_num_queries, count):
    queued(count)
    with django_assert_num_queries(5):  # session, user, user and group permissions (review check), tasks
        assert reviewer_client.get("/review/").status_code == 200


@pytest.mark.parametrize("count", [5, 50])
def test_the_item_view_runs_a_constant_number_of_queries(reviewer_client, queued, django_assert_num_queries, count):
    tasks = queued(count)
    reviewer_client.get(f"/review/item/{tasks[0].pk}/")  # seeds the rubric on first use
    # session, user, user + group permissions, task+trace, opened_at, positions, card, rubric (the stamp's
    # asynchronous commit on PostgreSQL is part of its one UPDATE; inside the test's transaction it is a plain UPDATE).
    with django_assert_num_queries(9):
        assert reviewer_client.get(f"/review/item/{tasks[1].pk}/").status_code == 200


@pytest.mark.parametrize("count", [5, 50])
def test_a_submission_runs_a_constant_number_of_queries(reviewer_client, queued, django_assert_num_queries, count):
    tasks = queued(count)
    reviewer_client.get(f"/review/item/{tasks[0].pk}/")
    # session, user, user + group permissions; the service's transaction (here a savepoint and its release):
    # the task locked with the reviewer's card id (the view does not load it first), rubric, card + its history, reward
    # event, task + its history; then the next item: positions, task+trace, opened_at. No card look-up
    # for the next item: a pending item the reviewer can see has no card of theirs.
    with django_assert_num_queries(16):
        response = reviewer_client.post(f"/review/item/{tasks[0].pk}/", _form(), headers={"HX-Request": "true"})
    assert response.status_code == 200 and f'data-task-id="{tasks[1].pk}"' in response.content.decode()


def test_the_item_view_shows_only_scrubbed_text(reviewer_client, queued):
    task = queued(3)[0]
    body = reviewer_client.get(f"/review/item/{task.pk}/").content.decode()
    assert RAW_MARKER not in body
    assert escape(task.trace.scrubbed_user_message) in body
    assert escape(task.trace.scrubbed_final_response) in body
    assert "calendar.create" in body and "<details" in body


def test_the_queue_never_shows_raw_text(reviewer_client, queued):
    queued(3)
    assert RAW_MARKER not in reviewer_client.get("/review/").content.decode()


def test_opening_an_item_stamps_when_it_was_opened(reviewer_client, queued):
    task = queued(3)[0]
    reviewer_client.get(f"/review/item/{task.pk}/")
    task.refresh_from_db()
    assert task.opened_at is not None


def test_submitting_without_js_redirects_303_to_the_next_item(reviewer_client, queued):
    tasks = queued(3)
    response = reviewer_client.post(f"/review/item/{tasks[0].pk}/", _form())
    assert response.status_code == 303
    assert response["Location"] == f"/review/item/{tasks[1].pk}/"
    assert ScoreCard.objects.get().task == tasks[0]
    assert RewardEvent.objects.filter(source="human").count() == 1


def test_submitting_with_htmx_swaps_in_the_next_item_and_pushes_its_url(reviewer_client, queued):
    tasks = queued(3)
    response = reviewer_client.post(f"/review/item/{tasks[0].pk}/", _form(), headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response["HX-Push-Url"] == f"/review/item/{tasks[1].pk}/"
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="review-item"') and "<html" not in body
    assert f'data-task-id="{tasks[1].pk}"' in body


def test_the_last_item_swaps_in_the_done_partial(reviewer_client, reviewer, queued):
    tasks = queued(2)
    services.label_task_skip(task=tasks[1], reviewer=reviewer, reason="dup")
    response = reviewer_client.post(f"/review/item/{tasks[0].pk}/", _form(), headers={"HX-Request": "true"})
    assert response["HX-Push-Url"] == "/review/" and "Queue done" in response.content.decode()


def test_an_invalid_form_rerenders_the_partial_with_errors_and_400(reviewer_client, queued):
    task = queued(3)[0]
    response = reviewer_client.post(f"/review/item/{task.pk}/", _form(success=""), headers={"HX-Request": "true"})
    assert response.status_code == 400
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="review-item"') and "success: This field is required." in body
    assert not ScoreCard.objects.exists()


def test_bad_json_in_corrected_tool_calls_names_the_field(reviewer_client, queued):
    task = queued(3)[0]
    response = reviewer_client.post(f"/review/item/{task.pk}/", _form(corrected_tool_calls='[{"name": "x",'))
    assert response.status_code == 400
    assert "corrected_tool_calls is not valid JSON" in response.content.decode()


def test_corrections_are_stored_from_the_form(reviewer_client, queued):
    task = queued(3)[0]
    calls = [{"name": "calendar.create", "args": {"title": "Lunch"}}]
    reviewer_client.post(
        f"/review/item/{task.pk}/", _form(correction="Lunch booked at 12:30.", corrected_tool_calls=json.dumps(calls))
    )
    card = ScoreCard.objects.get()
    assert (card.correction, card.corrected_tool_calls) == ("Lunch booked at 12:30.", calls)


def test_a_structurally_wrong_tool_call_is_a_form_error(reviewer_client, queued):
    task = queued(3)[0]
    response = reviewer_client.post(f"/review/item/{task.pk}/", _form(corrected_tool_calls='[{"args": {}}]'))
    assert response.status_code == 400
    assert "needs a tool name" in response.content.decode()


def test_skipping_from_the_panel_records_the_reason(reviewer_client, queued):
    tasks = queued(3)
    response = reviewer_client.post(f"/review/item/{tasks[0].pk}/skip/", {"reason": "not english"})
    assert response.status_code == 303 and response["Location"] == f"/review/item/{tasks[1].pk}/"
    tasks[0].refresh_from_db()
    assert (tasks[0].status, tasks[0].skip_reason) == (TaskStatus.SKIPPED, "not english")


def test_skipping_without_a_reason_is_a_400(reviewer_client, queued):
    task = queued(3)[0]
    response = reviewer_client.post(f"/review/item/{task.pk}/skip/", {"reason": ""}, headers={"HX-Request": "true"})
    assert response.status_code == 400
    task.refresh_from_db()
    assert task.status == TaskStatus.PENDING


def test_an_item_assigned_to_someone_else_is_403(reviewer_client, second_reviewer, queued):
    task = queued(3)[0]
    LabelTask.objects.filter(pk=task.pk).update(reviewer=second_reviewer)
    assert reviewer_client.get(f"/review/item/{task.pk}/").status_code == 403


def test_an_item_another_reviewer_finished_cannot_be_overwritten(client, second_reviewer, reviewer, queued):
    task = queued(3)[0]
    services.scorecard_submit(task=task, reviewer=second_reviewer, **SCORES)
    client.force_login(reviewer)
    response = client.post(f"/review/item/{task.pk}/", _form(), headers={"HX-Request": "true"})
    assert response.status_code == 409
    assert ScoreCard.objects.count() == 1


def test_the_overlap_item_is_hidden_from_the_reviewer_who_scored_the_trace(reviewer_client, reviewer, queued):
    tasks = queued(10)
    overlap = next(task for task in tasks if task.reason == TaskReason.OVERLAP)
    primary = next(task for task in tasks if task.trace_id == overlap.trace_id and task.pk != overlap.pk)
    services.scorecard_submit(task=primary, reviewer=reviewer, **SCORES)
    body = reviewer_client.get("/review/").content.decode()
    assert f'href="/review/item/{overlap.pk}/"' not in body


def test_the_ab_view_shows_both_sides_and_stores_a_preference(reviewer_client, traces_factory):
    trace = traces_factory(1)[0]
    pair = {
        "a": {"policy_id": "ft:base", "response": "Side A text"},
        "b": {"policy_id": "ft:c1", "response": "Side B text"},
    }
    services.label_tasks_add(trace_ids=[trace.pk], reason="disagreement", kind="preference", pairs={trace.pk: pair})
    task = trace.label_tasks.get()
    body = reviewer_client.get(f"/review/item/{task.pk}/").content.decode()
    assert "Side A text" in body and "Side B text" in body and 'data-kind="preference"' in body
    response = reviewer_client.post(f"/review/item/{task.pk}/", {"choice": "a", "rationale": "A books it"})
    assert response.status_code == 303
    # "a" is the side shown first: the pair's "b" when this item's sides were drawn swapped.
    assert trace.preferences.get().choice == ("b" if task.sides_swapped else "a")


def test_an_ab_item_shows_no_policy_id_until_it_is_answered(reviewer_client, traces_factory):
    trace = traces_factory(1)[0]
    pair = {"a": {"policy_id": "ft:base-7", "response": "one"}, "b": {"policy_id": "ft:cand-9", "response": "two"}}
    services.label_tasks_add(trace_ids=[trace.pk], reason="disagreement", kind="preference", pairs={trace.pk: pair})
    task = trace.label_tasks.get()

    before = reviewer_client.get(f"/review/item/{task.pk}/").content.decode()
    reviewer_client.post(f"/review/item/{task.pk}/", {"choice": "tie", "rationale": ""})
    after = reviewer_client.get(f"/review/item/{task.pk}/").content.decode()

    assert "ft:base-7" not in before and "ft:cand-9" not in before
    assert "ft:base-7" in after and "ft:cand-9" in after


def test_ab_sides_are_drawn_per_item_and_recorded(traces_factory):
    traces = traces_factory(40)
    pairs = {t.pk: {"a": {"policy_id": "x", "response": "1"}, "b": {"policy_id": "y", "response": "2"}} for t in traces}
    services.label_tasks_add(trace_ids=list(pairs), reason="disagreement", kind="preference", pairs=pairs)

    swapped = [task.sides_swapped for task in LabelTask.objects.filter(kind="preference")]

    assert len(swapped) == 40 and 0 < sum(swapped) < 40  # both orders occur (all one way: p = 2 × 2^-40)


def test_the_stats_page_shows_alpha_and_throughput(reviewer_client, reviewer, second_reviewer, traces_factory):
    traces = traces_factory(4)
    for i, trace in enumerate(traces):
        services.scorecard_submit(trace=trace, reviewer=reviewer, **{**SCORES, "success": 1 + i})
        services.scorecard_submit(trace=trace, reviewer=second_reviewer, **{**SCORES, "success": 1 + i})
    response = reviewer_client.get("/review/stats/")
    assert response.status_code == 200
    rows = {row["dimension"]: row for row in response.context["agreement"]["rows"]}
    assert rows["success"]["ordinal"] == pytest.approx(1.0)
    assert response.context["agreement"]["units"] == 4
    throughput = {row["reviewer"]: row for row in response.context["throughput"]}
    assert throughput["nate"]["items"] == 4 and throughput["nate"]["items_per_day"] == 4.0


def test_median_seconds_per_item_comes_from_opened_at(reviewer, queued):
    from labeling.selectors import reviewer_throughput

    tasks = queued(3)
    for seconds, task in zip([10, 20, 90], tasks, strict=False):
        LabelTask.objects.filter(pk=task.pk).update(opened_at=timezone.now() - timezone.timedelta(seconds=seconds))
        task.refresh_from_db()
        services.scorecard_submit(task=task, reviewer=reviewer, **SCORES)
    assert reviewer_throughput()[0]["median_seconds"] == pytest.approx(20, abs=1)


def test_the_item_url_for_a_missing_task_is_404(reviewer_client):
    assert reviewer_client.get("/review/item/999999/").status_code == 404


def test_the_queue_for_today_is_empty_without_a_build(reviewer_client):
    response = reviewer_client.get(reverse("labeling:queue"))
    assert response.status_code == 200 and "No queue for today" in response.content.decode()
    assert response.context["progress"] == {"done": 0, "total": 0, "percent": 0}


def test_an_ab_item_stays_visible_after_the_reviewer_scored_the_same_trace(reviewer_client, reviewer, traces_factory):
    trace = traces_factory(1)[0]
    services.scorecard_submit(trace=trace, reviewer=reviewer, **SCORES)
    pair = {"a": {"policy_id": "p1", "response": "x"}, "b": {"policy_id": "p2", "response": "y"}}
    services.label_tasks_add(trace_ids=[trace.pk], reason="disagreement", kind="preference", pairs={trace.pk: pair})
    task = trace.label_tasks.get()
    assert f'href="/review/item/{task.pk}/"' in reviewer_client.get("/review/").content.decode()


def test_the_panel_never_loads_raw_trace_text(reviewer_client, queued):
    from django.test.utils import CaptureQueriesContext

    task = queued(3)[0]
    with CaptureQueriesContext(connection) as captured:
        reviewer_client.get(f"/review/item/{task.pk}/")
        reviewer_client.post(f"/review/item/{task.pk}/", _form(success=""), headers={"HX-Request": "true"})
    trace_selects = [
        q["sql"]
        for q in captured.captured_queries
        if 'FROM "labeling_labeltask"' in q["sql"] and "traces_trace" in q["sql"]
    ]
    assert trace_selects
    assert not any(
        '"traces_trace"."user_message"' in sql or '"traces_trace"."final_response"' in sql for sql in trace_selects
    )


def test_the_plain_html_form_carries_a_working_csrf_token(reviewer, queued):
    import re

    from django.test import Client

    tasks = queued(3)
    client = Client(enforce_csrf_checks=True)
    client.force_login(reviewer)
    page = client.get(f"/review/item/{tasks[0].pk}/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    assert client.post(f"/review/item/{tasks[0].pk}/", _form()).status_code == 403  # no token
    response = client.post(f"/review/item/{tasks[0].pk}/", {**_form(), "csrfmiddlewaretoken": token})
    assert response.status_code == 303


HX = {"HX-Request": "true", "HX-Current-URL": "http://testserver/review/item/1/"}


def _is_error_partial(response, status):
    body = response.content.decode()
    return (
        response.status_code == status
        and body.lstrip().startswith('<div id="review-item"')
        and 'data-kind="error"' in body
        and "<html" not in body
    )


def test_a_non_reviewer_over_htmx_gets_the_error_partial_not_a_page(client, outsider, queued):
    task = queued(3)[0]
    client.force_login(outsider)
    assert _is_error_partial(client.post(f"/review/item/{task.pk}/", _form(), headers=HX), 403)
    assert _is_error_partial(client.get(f"/review/item/{task.pk}/", headers=HX), 403)
    assert not ScoreCard.objects.exists()


def test_another_reviewers_item_over_htmx_gets_the_error_partial(reviewer_client, second_reviewer, queued):
    task = queued(3)[0]
    LabelTask.objects.filter(pk=task.pk).update(reviewer=second_reviewer)
    response = reviewer_client.post(f"/review/item/{task.pk}/skip/", {"reason": "x"}, headers=HX)
    assert _is_error_partial(response, 403) and "assigned to another reviewer" in response.content.decode()
    task.refresh_from_db()
    assert task.status == TaskStatus.PENDING


def test_a_missing_item_over_htmx_is_a_404_partial(reviewer_client):
    assert _is_error_partial(reviewer_client.get("/review/item/999999/", headers=HX), 404)


def test_an_expired_session_over_htmx_redirects_the_browser_to_the_login(client, queued):
    task = queued(3)[0]
    # The browser is on this item's page (ids differ between databases: PostgreSQL keeps its sequences).
    headers = {**HX, "HX-Current-URL": f"http://testserver/review/item/{task.pk}/"}
    response = client.post(f"/review/item/{task.pk}/", _form(), headers=headers)
    assert response["HX-Redirect"] == f"/review/login/?next=/review/item/{task.pk}/&expired=1"
    assert not ScoreCard.objects.exists()


@pytest.mark.parametrize("count", [2, 12])
def test_the_stats_page_runs_a_constant_number_of_queries(
    reviewer_client, reviewer, second_reviewer, traces_factory, django_assert_num_queries, count
):
    for trace in traces_factory(count):
        services.scorecard_submit(trace=trace, reviewer=reviewer, **SCORES)
        services.scorecard_submit(trace=trace, reviewer=second_reviewer, **SCORES)
    with django_assert_num_queries(7):  # session, user, user + group permissions, overlap cards, cards per day, seconds
        assert reviewer_client.get("/review/stats/").status_code == 200


def test_the_stats_page_flags_an_alpha_below_0_667(reviewer_client, reviewer, second_reviewer, traces_factory):
    for i, trace in enumerate(traces_factory(4)):
        services.scorecard_submit(trace=trace, reviewer=reviewer, **{**SCORES, "success": 1 + i})
        services.scorecard_submit(trace=trace, reviewer=second_reviewer, **{**SCORES, "success": 4 - i})

    page = reviewer_client.get("/review/stats/").content.decode()

    assert 'class="alpha-ordinal flagged"' in page and "⚠ low" in page
