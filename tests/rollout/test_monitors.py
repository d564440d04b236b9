from datetime import timedelta

import pytest
from django.utils import timezone

from rollout.models import MonitorCheck, Policy, Rollout, RolloutState
from rollout.monitors import mann_whitney, monitor_check
from rollout.tasks import monitor_rollout, run_online_monitors
from traces.models import Trace


@pytest.fixture
def rollout(rollout, candidate):
    """The shared canary rollout, started two hours ago."""
    candidate.status = "canary"
    candidate.save()
    Rollout.objects.filter(pk=rollout.pk).update(started_at=timezone.now() - timedelta(hours=2))
    rollout.refresh_from_db()
    return rollout


def _arms(traces, rollout, n=300, **candidate):
    traces.make(rollout, "baseline", n, policy_id=str(rollout.baseline.pk), error_rate=0.05, safety_rate=0.003, seed=11)
    traces.make(
        rollout,
        "candidate",
        n,
        policy_id=str(rollout.candidate.pk),
        seed=12,
        **{"error_rate": 0.05, "safety_rate": 0.003, **candidate},
    )


def test_mann_whitney_win_rate_is_the_probability_of_outscoring():
    win_rate, p_value = mann_whitney([0.9, 0.8, 0.7], [0.1, 0.2, 0.3], alternative="less")

    assert win_rate == 1.0 and p_value > 0.9


def test_an_injected_tool_error_degradation_rolls_back_automatically(rollout, traces):
    _arms(traces, rollout, error_rate=0.25)

    check = monitor_check(rollout_id=rollout.pk)

    assert check.decision == "rollback"
    assert check.metrics["candidate"]["tool_error_rate"] >= 0.15
    assert (
        "tool_error_rate" in check.reason and "e=" in check.reason and "n=300 candidate / 300 baseline" in check.reason
    )
    rollout.refresh_from_db()
    assert rollout.state == RolloutState.ROLLED_BACK and rollout.automatic_rollback
    assert rollout.rollback_reason == check.reason and rollout.rolled_back_by is None
    assert Policy.objects.get(pk=rollout.baseline_id).status == "active"
    assert Trace.objects.filter(arm="candidate", quarantined=True).count() == 300


def test_more_safety_flags_roll_back(rollout, traces):
    _arms(traces, rollout, safety_rate=0.08)

    check = monitor_check(rollout_id=rollout.pk)

    assert check.decision == "rollback"
    assert "safety_per_1000" in check.reason


def test_slower_replies_roll_back_on_latency_p95(rollout, traces):
    _arms(traces, rollout, latency=(2000, 300))

    check = monitor_check(rollout_id=rollout.pk)

    assert check.decision == "rollback"
    assert "latency p95" in check.reason and "replies over" in check.reason


def test_noise_does_not_roll_back(rollout, traces):
    _arms(traces, rollout, error_rate=0.07, safety_rate=0.006, latency=(830, 210))

    check = monitor_check(rollout_id=rollout.pk)

    assert check.decision == "ok", check.reason
    assert all(not guard["failed"] for guard in check.metrics["guards"])
    rollout.refresh_from_db()
    assert rollout.state == RolloutState.CANARY


def test_with_no_baseline_trace_yet_the_decision_is_insufficient_data(rollout, traces):
    traces.make(rollout, "candidate", 50, policy_id="c", error_rate=0.9)

    check = monitor_check(rollout_id=rollout.pk)

    assert check.decision == "insufficient_data"
    assert "need one in each arm" in check.reason
    rollout.refresh_from_db()
    assert rollout.state == RolloutState.CANARY


def test_fifty_traces_per_arm_are_enough_to_roll_back_a_gross_degradation(rollout, traces):
    _arms(traces, rollout, n=50, error_rate=0.9)

    assert monitor_check(rollout_id=rollout.pk).decision == "rollback"


def test_a_few_traces_of_a_slightly_worse_candidate_do_not_roll_back(rollout, traces):
    _arms(traces, rollout, n=20, error_rate=0.15)

    assert monitor_check(rollout_id=rollout.pk).decision == "ok"


def test_traces_from_before_the_rollout_started_are_ignored(rollout, traces):
    _arms(traces, rollout, error_rate=0.25)
    Trace.objects.update(occurred_at=rollout.started_at - timedelta(minutes=1))

    assert monitor_check(rollout_id=rollout.pk).decision == "insufficient_data"


def test_the_monitor_task_is_safe_to_run_twice(rollout, traces):
    _arms(traces, rollout, error_rate=0.25)

    assert monitor_rollout(rollout.pk) == "rollback"
    assert monitor_rollout(rollout.pk) == "skipped"

    assert MonitorCheck.objects.count() == 1
    assert rollout.history.filter(state="rolled_back").count() == 1


def test_a_second_check_within_the_interval_does_nothing(rollout, traces):
    _arms(traces, rollout, n=20)
    monitor_rollout(rollout.pk)
    monitor_rollout(rollout.pk)

    assert MonitorCheck.objects.count() == 1


def test_the_beat_sweeper_queues_one_check_per_running_rollout(rollout, traces):
    _arms(traces, rollout, n=20)

    assert run_online_monitors() == 1
    assert MonitorCheck.objects.filter(rollout=rollout, decision="ok").count() == 1


def test_a_lower_reward_model_win_rate_rolls_back(rollout, traces, active_reward_model):
    from .conftest import BAD_REPLY, GOOD_REPLY

    traces.make(rollout, "baseline", 250, policy_id="b", scrubbed=True, response=GOOD_REPLY, seed=3)
    traces.make(rollout, "candidate", 250, policy_id="c", scrubbed=True, response=BAD_REPLY, seed=4)

    check = monitor_check(rollout_id=rollout.pk)

    assert check.metrics["candidate"]["win_rate"] < 0.1
    assert check.decision == "rollback"
    assert check.reason.startswith("online monitor: win-rate 0.")


def test_in_shadow_mode_shadow_replies_are_the_candidate_arm(rollout, traces):
    Rollout.objects.filter(pk=rollout.pk).update(state=RolloutState.SHADOW, traffic_percent=0)
    traces.make(rollout, "baseline", 300, policy_id="b", error_rate=0.05, seed=11)
    traces.make(rollout, "shadow", 300, policy_id="c", error_rate=0.3, seed=12)

    check = monitor_check(rollout_id=rollout.pk)

    assert check.metrics["candidate"]["n"] == 300
    assert check.decision == "rollback"


def test_the_beat_sweeper_run_twice_stores_one_check(rollout, traces):
    _arms(traces, rollout, n=20)

    run_online_monitors()
    run_online_monitors()

    assert MonitorCheck.objects.filter(rollout=rollout).count() == 1


def test_received_traces_are_checked_before_any_filter_run(rollout, traces):
    _arms(traces, rollout, error_rate=0.3)
    Trace.objects.update(status="received")

    assert monitor_check(rollout_id=rollout.pk).decision == "rollback"


def _spy_on_scored_items(monkeypatch):
    import rewards.services

    seen = []
    real = rewards.services.reward_model_predict

    def spy(*, items, reward_model=None):
        seen.extend(items)
        return real(items=items, reward_model=reward_model)

    monkeypatch.setattr(rewards.services, "reward_model_predict", spy)
    return seen


def test_the_win_rate_scores_received_replies_scrubbed_at_check_time(rollout, traces, active_reward_model, monkeypatch):
    from .conftest import GOOD_REPLY

    seen = _spy_on_scored_items(monkeypatch)
    reply = f"{GOOD_REPLY} I sent it to maria.lopez@example.com."
    traces.make(rollout, "baseline", 5, policy_id="b", response=reply, seed=3)
    traces.make(rollout, "candidate", 5, policy_id="c", response=reply, seed=4)
    Trace.objects.update(status="received")

    check = monitor_check(rollout_id=rollout.pk)

    assert check.metrics["candidate"]["win_rate"] is not None
    assert len(seen) == 10
    assert all("maria.lopez@example.com" not in item["final_response"] for item in seen)
    assert all("<EMAIL_ADDRESS" in item["final_response"] for item in seen)
    assert not Trace.objects.filter(rollout_id=rollout.pk).exclude(scrubbed_final_response="").exists()


def test_empty_replies_are_never_scored_as_replies(rollout, traces, active_reward_model, monkeypatch):
    seen = _spy_on_scored_items(monkeypatch)
    traces.make(rollout, "baseline", 5, policy_id="b", response="", seed=3)
    traces.make(rollout, "candidate", 5, policy_id="c", response="   ", seed=4)

    check = monitor_check(rollout_id=rollout.pk)

    assert seen == [] and check.metrics["candidate"]["win_rate"] is None
    assert check.decision == "ok"


def test_a_monitor_check_that_crashes_is_recorded_and_notified_then_retried(rollout, traces, monkeypatch):
    from alerts.models import Notification
    from rollout import monitors

    _arms(traces, rollout, n=20)
    monkeypatch.setattr(monitors, "monitor_evaluate", lambda **kwargs: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        monitor_rollout(rollout.pk)
    assert MonitorCheck.objects.get().decision == "error"
    assert Notification.objects.get(kind="monitor_failed").payload == {"rollout_id": rollout.pk}

    monkeypatch.undo()
    assert monitor_rollout(rollout.pk) == "ok"


def test_an_automatic_rollback_sends_a_notification(rollout, traces):
    from alerts.models import Notification

    _arms(traces, rollout, error_rate=0.3)
    monitor_check(rollout_id=rollout.pk)

    notification = Notification.objects.get(kind="rollback")
    assert "rolled back automatically" in notification.subject and "tool_error_rate" in notification.body
