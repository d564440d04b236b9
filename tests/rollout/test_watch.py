from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import Notification
from rollout.models import Policy, PolicyCheck, Rollout, RolloutState
from rollout.tasks import watch_active_policies, watch_active_policy
from rollout.watch import policy_watch


@pytest.fixture
def promoted(rollout, candidate, baseline):
    """The canary was promoted two hours ago: candidate active, baseline retired."""
    baseline.status = "retired"
    baseline.save()
    candidate.status = "active"
    candidate.save()
    Rollout.objects.filter(pk=rollout.pk).update(
        state=RolloutState.ACTIVE, ended_at=timezone.now() - timedelta(hours=2), traffic_percent=100
    )
    rollout.refresh_from_db()
    return rollout


def _before_and_after(traces, rollout, *, before_errors, after_errors, n=150):
    traces.make(rollout, "", n, policy_id=str(rollout.baseline_id), error_rate=before_errors, ago_minutes=(130, 9000))
    traces.make(
        rollout, "", n, policy_id=str(rollout.candidate_id), error_rate=after_errors, ago_minutes=(1, 110), seed=2
    )


def test_a_recently_promoted_policy_that_degrades_is_rolled_back_to_the_previous_one(promoted, traces):
    _before_and_after(traces, promoted, before_errors=0.05, after_errors=0.4)

    check = policy_watch(modality="chat")

    assert check.decision == "rollback" and "since promotion" in check.reason
    promoted.refresh_from_db()
    assert promoted.state == RolloutState.ROLLED_BACK and promoted.automatic_rollback
    assert Policy.objects.get(pk=promoted.baseline_id).status == "active"
    assert Policy.objects.get(pk=promoted.candidate_id).status == "rolled_back"
    assert Notification.objects.filter(kind="rollback").count() == 1


def test_a_promoted_policy_as_good_as_the_previous_one_stays(promoted, traces):
    _before_and_after(traces, promoted, before_errors=0.05, after_errors=0.05)

    check = policy_watch(modality="chat")

    assert check.decision == "ok", check.reason
    promoted.refresh_from_db()
    assert promoted.state == RolloutState.ACTIVE


def test_after_the_watch_window_a_degradation_is_an_anomaly_alert_not_a_rollback(promoted, traces, settings):
    settings.ROLLOUT_PROMOTION_WATCH_HOURS = 1
    policy_id = str(promoted.candidate_id)
    traces.make(promoted, "", 300, policy_id=policy_id, error_rate=0.03, ago_minutes=(1500, 9000))
    traces.make(promoted, "", 80, policy_id=policy_id, error_rate=0.5, ago_minutes=(1, 50), seed=2)

    check = policy_watch(modality="chat")

    assert check.decision == "anomaly" and "tool_error_rate" in check.reason
    promoted.refresh_from_db()
    assert promoted.state == RolloutState.ACTIVE
    assert Notification.objects.get(kind="policy_anomaly").payload["metrics"] == ["tool_error_rate"]


def test_with_no_traffic_the_watch_says_insufficient_data(promoted):
    assert policy_watch(modality="chat").decision == "insufficient_data"


def test_no_active_policy_means_nothing_to_watch(db):
    assert policy_watch(modality="voice") is None


def test_the_watch_task_is_safe_to_run_twice(promoted, traces):
    _before_and_after(traces, promoted, before_errors=0.05, after_errors=0.05)

    assert watch_active_policies() == 1
    assert watch_active_policy("chat") == "skipped"
    assert PolicyCheck.objects.count() == 1


def test_a_watch_that_crashes_is_recorded_and_notified(promoted, monkeypatch):
    from rollout import watch

    monkeypatch.setattr(watch, "watch_evaluate", lambda **kwargs: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        policy_watch(modality="chat")

    assert PolicyCheck.objects.get().decision == "error"
    assert Notification.objects.filter(kind="monitor_failed").count() == 1


def test_policy_checks_are_read_only_in_admin(admin_client, promoted):
    check = policy_watch(modality="chat")

    assert admin_client.get(f"/admin/rollout/policycheck/{check.pk}/change/").status_code == 200
    assert admin_client.get("/admin/rollout/policycheck/add/").status_code == 403


def test_the_watch_records_the_mean_reward_model_score_of_recent_and_reference_traffic(
    promoted, traces, active_reward_model, settings
):
    from .conftest import BAD_REPLY, GOOD_REPLY

    settings.ROLLOUT_PROMOTION_WATCH_HOURS = 1
    policy_id = str(promoted.candidate_id)
    traces.make(promoted, "", 40, policy_id=policy_id, response=GOOD_REPLY, scrubbed=True, ago_minutes=(1500, 9000))
    traces.make(promoted, "", 40, policy_id=policy_id, response=BAD_REPLY, scrubbed=True, ago_minutes=(1, 50), seed=2)

    check = policy_watch(modality="chat")

    hour = check.metrics["hour"]
    assert hour["recent"]["mean_reward"] < hour["reference"]["mean_reward"]
