"""The panel as `make run` serves it (DEBUG on): errors swap into the item, drafts survive a re-login,
and an A/B item shows no policy id before it is answered (Playwright + Debian Chromium + live server)."""

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from labeling.access import reviewers_group
from labeling.models import LabelTask, ScoreCard
from labeling.services import label_queue_build, label_tasks_add
from tests.labeling.conftest import make_trace
from traces.services import agent_create

pytestmark = [pytest.mark.e2e]


def _reviewer(username: str):
    user = get_user_model().objects.create_user(username=username, password="debug-on-1")
    user.groups.add(reviewers_group())
    return user


def _log_in(page, live_server, username: str, next_url: str):
    page.goto(f"{live_server.url}/review/login/?next={next_url}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "debug-on-1")
    page.keyboard.press("Enter")


def _queue(agent_name: str) -> list[LabelTask]:
    agent, _ = agent_create(name=agent_name)
    for category in ("scheduling", "communication"):
        make_trace(agent, category=category)
    label_queue_build(day=timezone.localdate(), size=30)
    return list(LabelTask.objects.filter(queue__day=timezone.localdate()).order_by("position"))


def _ready(page, task_id: int):
    page.wait_for_selector(f'#review-item[data-task-id="{task_id}"]', timeout=10_000)
    page.wait_for_function("document.activeElement && document.activeElement.name === 'success'", timeout=10_000)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_with_debug_on_an_invalid_submit_keeps_the_styled_panel(live_server, page, settings):
    settings.DEBUG = True
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    tasks = _queue("conductor-debug-400")
    _reviewer("ivy")
    _log_in(page, live_server, "ivy", f"/review/item/{tasks[0].pk}/")
    _ready(page, tasks[0].pk)
    page.evaluate("window.__samePage = true")

    page.keyboard.press("4")
    page.keyboard.press("Enter")  # three dimensions missing: a 400
    page.wait_for_selector("text=helpfulness: This field is required.")

    assert page.evaluate("window.__samePage === true")  # swapped in, not a document replaced by the fragment
    assert page.is_visible("header.topbar") and page.is_visible(f'#review-item[data-task-id="{tasks[0].pk}"]')
    background = page.eval_on_selector("header.topbar", "el => getComputedStyle(el).backgroundColor")
    assert background == "rgb(17, 24, 39)"  # the site stylesheet still applies
    page.wait_for_function("document.activeElement && document.activeElement.name === 'helpfulness'")
    assert not ScoreCard.objects.exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_with_debug_on_a_draft_survives_an_expired_session_and_a_new_login(live_server, page, settings):
    settings.DEBUG = True
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    tasks = _queue("conductor-debug-draft")
    _reviewer("jo")
    _log_in(page, live_server, "jo", f"/review/item/{tasks[0].pk}/")
    _ready(page, tasks[0].pk)
    page.keyboard.press("3")
    page.keyboard.press("4")
    page.keyboard.press("c")
    page.keyboard.type("Moved to Thursday 9:30 and told <PERSON>.")
    page.keyboard.press("Escape")

    page.context.clear_cookies(name="sessionid")  # the session expires while the reviewer works
    page.keyboard.press("Enter")
    page.wait_for_selector("#session-expired")
    assert not ScoreCard.objects.exists()
    page.fill("input[name=username]", "jo")
    page.fill("input[name=password]", "debug-on-1")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/review/item/{tasks[0].pk}/", timeout=15_000)
    page.wait_for_selector(f'#review-item[data-task-id="{tasks[0].pk}"]')
    page.wait_for_selector("#draft-note:not([hidden])")

    assert page.is_checked('input[name="success"][value="3"]')
    assert page.is_checked('input[name="helpfulness"][value="4"]')
    assert page.input_value('textarea[name="correction"]') == "Moved to Thursday 9:30 and told <PERSON>."


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_with_debug_on_an_ab_item_shows_no_policy_id_until_answered(live_server, page, settings):
    settings.DEBUG = True
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    agent, _ = agent_create(name="conductor-debug-ab")
    trace = make_trace(agent, category="scheduling")
    pair = {
        "a": {"policy_id": "ft:base-41", "response": "Moved to Friday 10:00.", "tool_calls": []},
        "b": {"policy_id": "ft:cand-77", "response": "Which Friday?", "tool_calls": []},
    }
    label_tasks_add(trace_ids=[trace.pk], reason="disagreement", kind="preference", pairs={trace.pk: pair})
    task = LabelTask.objects.get(trace=trace)
    _reviewer("kai")
    _log_in(page, live_server, "kai", f"/review/item/{task.pk}/")
    page.wait_for_selector(f'#review-item[data-task-id="{task.pk}"][data-kind="preference"]')
    page.wait_for_function("document.activeElement && document.activeElement.name === 'choice'", timeout=10_000)

    before = page.content()
    page.keyboard.press("a")
    page.keyboard.press("Enter")
    page.wait_for_selector('#review-item[data-kind="done"]')
    page.goto(f"{live_server.url}/review/item/{task.pk}/")
    page.wait_for_selector(f'#review-item[data-task-id="{task.pk}"]')

    assert "ft:base-41" not in before and "ft:cand-77" not in before
    assert "ft:base-41" in page.content() and "ft:cand-77" in page.content()
