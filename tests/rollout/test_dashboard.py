from datetime import timedelta

import pytest
from django.utils import timezone

from rollout.models import MonitorCheck, RolloutState
from rollout.services import rollout_rollback
from tests.conftest import user_in_groups


@pytest.fixture
def staff_client(client, db):
    client.force_login(user_in_groups("nate", "approvers", is_staff=True))
    return client


def _check(rollout, minutes_ago, win_rate, safety):
    check = MonitorCheck.objects.create(
        rollout=rollout,
        window_start=timezone.now() - timedelta(hours=1),
        window_end=timezone.now(),
        metrics={"baseline": {"safety_per_1000": 1.0}, "candidate": {"safety_per_1000": safety, "win_rate": win_rate}},
        decision="ok",
    )
    MonitorCheck.objects.filter(pk=check.pk).update(checked_at=timezone.now() - timedelta(minutes=minutes_ago))


def test_the_dashboard_needs_a_login(client, db, settings):
    response = client.get("/rollouts/")

    assert response.status_code == 302 and response["Location"].startswith(f"{settings.LOGIN_URL}?next=/rollouts/")


def test_it_shows_the_active_policy_the_running_rollout_and_svg_charts(staff_client, rollout):
    for minutes, win, safety in ((20, 0.55, 1.0), (10, 0.6, 2.0), (0, 0.62, 1.5)):
        _check(rollout, minutes, win, safety)

    page = staff_client.get("/rollouts/").content.decode()

    assert "Active policy:\n    <strong>gpt-4.1-mini</strong>" in page
    assert f"Running rollout {rollout.pk}: <strong>ft:o4-mini:zeke:cand1</strong>" in page
    assert "at 10.0%" in page and "passed (win-rate 0.62)" in page
    assert page.count("<svg") >= 2 and "<polyline" in page
    assert 'aria-label="Win-rate vs baseline"' in page and "Safety incidents per 1,000 messages" in page


def test_it_shows_the_policy_history_with_the_diff_between_versions(staff_client, candidate):
    page = staff_client.get("/rollouts/").content.decode()

    assert "candidate from training run" in page
    assert "config.system_prompt_version: — → v2" in page
    assert "config.t: 0.3 → 0.2" in page or "config.t: — → 0.2" in page


def test_a_rollback_reason_is_visible(staff_client, rollout):
    rollout_rollback(rollout=rollout, reason="online monitor: tool_error_rate 0.2 vs baseline 0.05", automatic=True)

    page = staff_client.get("/rollouts/").content.decode()

    assert "online monitor: tool_error_rate 0.2 vs baseline 0.05 — by the online monitor" in page
    assert "rolled_back (automatic)" in page


def test_staff_can_roll_back_from_the_dashboard(staff_client, rollout):
    data = {"reason": "looks off", "confirm": "yes"}
    response = staff_client.post(f"/rollouts/{rollout.pk}/rollback", data, follow=True)

    assert b"rolled back; the previous policy is active again" in response.content
    rollout.refresh_from_db()
    assert rollout.state == RolloutState.ROLLED_BACK and rollout.rolled_back_by.username == "nate"


def test_a_dashboard_rollback_without_a_reason_is_a_400_naming_the_reason(staff_client, rollout):
    response = staff_client.post(f"/rollouts/{rollout.pk}/rollback", {"reason": " "})

    assert response.status_code == 400 and b"reason: say why the rollout is rolled back" in response.content
    rollout.refresh_from_db()
    assert rollout.state == RolloutState.CANARY


def test_a_dashboard_rollback_without_the_confirmation_is_a_400_naming_it(staff_client, rollout):
    response = staff_client.post(f"/rollouts/{rollout.pk}/rollback", {"reason": "looks off"})

    assert response.status_code == 400 and "confirm:" in response.content.decode()
    rollout.refresh_from_db()
    assert rollout.state == RolloutState.CANARY


def test_a_dashboard_rollback_of_a_finished_rollout_is_a_409(staff_client, rollout):
    rollout_rollback(rollout=rollout, reason="first")

    response = staff_client.post(f"/rollouts/{rollout.pk}/rollback", {"reason": "again", "confirm": "yes"})

    assert response.status_code == 409 and b"already rolled back" in response.content


def test_staff_without_the_rollback_permission_may_not_roll_back_from_the_dashboard(client, rollout):
    client.force_login(user_in_groups("op", "operators", is_staff=True))

    response = client.post(f"/rollouts/{rollout.pk}/rollback", {"reason": "x", "confirm": "yes"})

    assert response.status_code == 403
    rollout.refresh_from_db()
    assert rollout.state == RolloutState.CANARY


def _queries(client) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        assert client.get("/rollouts/").status_code == 200
    return len(captured)


def test_the_dashboard_query_count_does_not_grow_with_checks_or_history(staff_client, rollout, candidate):
    _check(rollout, 1, 0.6, 1.0)
    before = _queries(staff_client)
    for minutes in range(2, 30):
        _check(rollout, minutes, 0.6, 1.0)
    for version in range(5):
        candidate.config = {**candidate.config, "version": version}
        candidate.save()

    assert _queries(staff_client) == before
