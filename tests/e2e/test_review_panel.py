"""A reviewer works through the queue by keyboard alone (Playwright + Debian Chromium + live server)."""

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from labeling.access import reviewers_group
from labeling.models import LabelTask, RewardEvent, ScoreCard, TaskStatus
from labeling.services import label_queue_build
from tests.labeling.conftest import make_trace
from traces.services import agent_create

SCREENSHOT = Path(__file__).resolve().parents[2] / "test-results" / "review-panel.png"

pytestmark = [pytest.mark.e2e]


def _wait_for_item(page, task_id: int):
    page.wait_for_selector(f'#review-item[data-task-id="{task_id}"]', timeout=10_000)
    # The panel script focuses the first dimension once the new partial has settled.
    page.wait_for_function("document.activeElement && document.activeElement.name === 'success'", timeout=10_000)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_reviewer_scores_three_items_and_skips_one_by_keyboard(live_server, page, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    agent, _ = agent_create(name="conductor-e2e")
    for category in ("scheduling", "communication", "ops", "research", "memory"):
        make_trace(agent, category=category)
    label_queue_build(day=timezone.localdate(), size=30)
    tasks = list(LabelTask.objects.filter(queue__day=timezone.localdate()).order_by("position"))
    user = get_user_model().objects.create_user(username="nate", password="keyboard-only-1")
    user.groups.add(reviewers_group())

    page.goto(f"{live_server.url}/review/login/")
    page.fill("input[name=username]", "nate")
    page.fill("input[name=password]", "keyboard-only-1")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/review/")
    assert "0 of 5" in page.inner_text("#progress-count")

    page.goto(f"{live_server.url}/review/item/{tasks[0].pk}/")
    _wait_for_item(page, tasks[0].pk)
    page.evaluate("window.__samePage = true")  # survives HTMX swaps, not a full page load
    page.keyboard.press("?")
    assert page.is_visible("#key-help")
    page.keyboard.press("Escape")
    assert not page.is_visible("#key-help")

    page.keyboard.press("4")
    page.keyboard.press("Enter")  # three dimensions missing: the 400 partial is swapped in with the errors
    page.wait_for_selector("text=helpfulness: This field is required.")
    page.wait_for_function("document.activeElement && document.activeElement.name === 'helpfulness'")
    for index, keys in enumerate(["355", "2435", "5555"]):
        for key in keys:
            page.keyboard.press(key)
        if index == 2:  # back up two dimensions with the arrow keys and change helpfulness
            page.keyboard.press("ArrowUp")
            page.keyboard.press("ArrowUp")
            page.keyboard.press("3")
        if index == 1:
            page.keyboard.press("c")
            page.keyboard.type("Booked for 12:30, confirmed with <PERSON>.")
            page.keyboard.press("Escape")
        page.keyboard.press("Enter")
        _wait_for_item(page, tasks[index + 1].pk)
        assert page.url == f"{live_server.url}/review/item/{tasks[index + 1].pk}/"

    page.keyboard.press("s")
    page.keyboard.type("conversation is cut off")
    page.keyboard.press("Enter")
    _wait_for_item(page, tasks[4].pk)
    page.keyboard.press("k")
    _wait_for_item(page, tasks[3].pk)
    assert page.evaluate("window.__samePage === true")
    assert "4 of 5" in page.inner_text("#progress-count")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 10_000, SCREENSHOT

    cards = {card.task_id: card for card in ScoreCard.objects.all()}
    assert set(cards) == {tasks[0].pk, tasks[1].pk, tasks[2].pk}
    assert (cards[tasks[0].pk].success, cards[tasks[0].pk].helpfulness, cards[tasks[0].pk].safety) == (4, 3, 5)
    assert cards[tasks[1].pk].correction == "Booked for 12:30, confirmed with <PERSON>."
    assert (cards[tasks[2].pk].success, cards[tasks[2].pk].helpfulness, cards[tasks[2].pk].tone_alignment) == (5, 3, 5)
    assert RewardEvent.objects.filter(source="human", score_card__in=cards.values()).count() == 3
    assert all(card.history.get().history_user == user for card in cards.values())
    skipped = LabelTask.objects.get(status=TaskStatus.SKIPPED)
    assert (skipped.pk, skipped.skip_reason) == (tasks[3].pk, "conversation is cut off")
    assert skipped.history.latest().history_user == user
    assert skipped.history.latest().history_change_reason == "skipped: conversation is cut off"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_reviewer_prefers_a_side_of_an_ab_item_by_keyboard(live_server, page, settings):
    from labeling.models import Preference
    from labeling.services import label_tasks_add

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    agent, _ = agent_create(name="conductor-e2e-ab")
    trace = make_trace(agent, category="scheduling")
    pair = {
        "a": {"policy_id": "ft:base", "response": "Moved to Friday 10:00.", "tool_calls": []},
        "b": {"policy_id": "ft:cand-7", "response": "Which Friday?", "tool_calls": []},
    }
    label_tasks_add(trace_ids=[trace.pk], reason="disagreement", kind="preference", pairs={trace.pk: pair})
    task = LabelTask.objects.get(trace=trace)
    user = get_user_model().objects.create_user(username="maria", password="keyboard-only-2")
    user.groups.add(reviewers_group())
    page.goto(f"{live_server.url}/review/login/?next=/review/item/{task.pk}/")
    page.fill("input[name=username]", "maria")
    page.fill("input[name=password]", "keyboard-only-2")
    page.keyboard.press("Enter")
    page.wait_for_selector(f'#review-item[data-task-id="{task.pk}"][data-kind="preference"]')
    # The element can exist before the deferred panel script runs; it focuses the choice once it has.
    page.wait_for_function("document.activeElement && document.activeElement.name === 'choice'", timeout=10_000)
    assert page.is_visible("#side-a") and page.is_visible("#side-b")
    page.keyboard.press("t")
    page.keyboard.press("b")
    page.keyboard.press("Enter")
    page.wait_for_selector('#review-item[data-kind="done"]')
    preference = Preference.objects.get(task=task)
    # "b" is the side shown second: the pair's "a" when this item's sides were drawn swapped (blind A/B).
    expected = "a" if task.sides_swapped else "b"
    assert (preference.choice, preference.reviewer, preference.policy_b) == (expected, user, "ft:cand-7")
    assert preference.history.get().history_user == user


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_refused_htmx_request_keeps_the_panel_and_says_why(live_server, page, settings):
    """A CSRF failure (Django's full 403 page) is not swapped into the item; an expired session goes to the login."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    agent, _ = agent_create(name="conductor-e2e-refused")
    for category in ("scheduling", "communication"):
        make_trace(agent, category=category)
    label_queue_build(day=timezone.localdate(), size=30)
    tasks = list(LabelTask.objects.filter(queue__day=timezone.localdate()).order_by("position"))
    user = get_user_model().objects.create_user(username="lee", password="keyboard-only-3")
    user.groups.add(reviewers_group())
    page.goto(f"{live_server.url}/review/login/?next=/review/item/{tasks[0].pk}/")
    page.fill("input[name=username]", "lee")
    page.fill("input[name=password]", "keyboard-only-3")
    page.keyboard.press("Enter")
    _wait_for_item(page, tasks[0].pk)

    page.context.clear_cookies(name="csrftoken")  # the next POST fails Django's CSRF check with a full page
    for key in "5555":
        page.keyboard.press(key)
    page.keyboard.press("Enter")
    page.wait_for_selector("#panel-problem:not([hidden])")
    assert "403" in page.inner_text("#panel-problem")
    assert page.is_visible(f'#review-item[data-task-id="{tasks[0].pk}"]')  # the item and its form are still there
    assert not ScoreCard.objects.exists()

    page.context.clear_cookies(name="sessionid")  # the session is gone: the browser is sent to the login
    page.keyboard.press("j")
    page.wait_for_url(f"{live_server.url}/review/login/**")
    assert f"next=/review/item/{tasks[0].pk}/" in page.url
