from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.models import LabelTask, RewardEvent, ScoreCard
from rewards.models import AgreementCheck, RewardModel
from rewards.selectors import reward_model_alerts
from rewards.services import agreement_check_run, reward_model_train, spot_checks_queue, traces_score
from rewards.tasks import score_traces_nightly, train_reward_model_weekly
from traces.models import TraceStatus
from zeke_rft.errors import ApplicationError


@pytest.fixture
def active_model(labels):
    labels.labeled(40)
    reward_model, _ = reward_model_train()
    assert reward_model.status == "active"
    return reward_model


def test_it_scores_eligible_traces_without_a_human_label(labels, active_model):
    unlabeled = labels.unlabeled(6)
    dropped = labels.unlabeled(1)[0]
    dropped.status = TraceStatus.DROPPED
    dropped.save()

    result = traces_score()

    assert result == {"reward_model": active_model.version, "scored": 6}
    events = RewardEvent.objects.filter(source="model")
    assert sorted(events.values_list("trace_id", flat=True)) == sorted(t.pk for t in unlabeled)
    for event in events:
        assert event.reward_model_version == active_model.version
        assert 0 <= event.reward <= 1
        assert event.uncertainty is not None and event.uncertainty >= 0


def test_it_scores_each_trace_once_per_version_when_run_twice(labels, active_model):
    labels.unlabeled(5)

    score_traces_nightly()
    second = score_traces_nightly()

    assert second["scored"] == 0
    assert RewardEvent.objects.filter(source="model").count() == 5


def test_it_skips_nightly_scoring_when_no_model_is_active(labels):
    labels.unlabeled(2)

    assert score_traces_nightly() == {"skipped": "no active reward model"}
    with pytest.raises(ApplicationError):
        traces_score()


def test_it_queues_a_spot_check_slice_of_model_scored_traces_once(labels, active_model, settings):
    settings.REWARD_SPOT_CHECK_SIZE = 3
    labels.unlabeled(8)
    traces_score()
    day = timezone.localdate()

    first = spot_checks_queue(day=day)
    second = spot_checks_queue(day=day)

    assert (first, second) == (3, 0)
    tasks = LabelTask.objects.filter(reason="spot_check")
    assert tasks.count() == 3
    scored = set(RewardEvent.objects.filter(source="model").values_list("trace_id", flat=True))
    assert set(tasks.values_list("trace_id", flat=True)) <= scored


def _scored_then_labeled(labels, version, pairs):
    from labeling.services import reward_events_record_model

    traces = labels.unlabeled(len(pairs))
    reward_events_record_model(
        rows=[{"trace_id": t.pk, "reward": m, "uncertainty": 0.1} for t, (m, _) in zip(traces, pairs, strict=True)],
        reward_model_version=version,
    )
    for trace, (_, score) in zip(traces, pairs, strict=True):
        labels.card(trace, {"success": score, "helpfulness": score, "tone_alignment": score, "safety": 5})
    return traces


def test_it_raises_an_alert_when_model_and_reviewers_disagree(labels, active_model, settings, agent_client):
    settings.REWARD_AGREEMENT_THRESHOLD = 0.5
    _scored_then_labeled(labels, active_model.version, [(0.9, 1), (0.8, 2), (0.6, 3), (0.4, 4), (0.1, 5), (0.2, 5)])

    check = agreement_check_run()

    assert check.n == 6 and check.spearman < 0 and check.alert
    [alert] = reward_model_alerts()
    assert alert["reward_model"] == active_model.version
    status = agent_client.get("/api/agents/status").json()
    assert [a["kind"] for a in status["alerts"]] == ["reward_model_agreement"]


def test_it_raises_no_alert_when_model_and_reviewers_agree(labels, active_model):
    _scored_then_labeled(labels, active_model.version, [(0.1, 1), (0.3, 2), (0.5, 3), (0.7, 4), (0.9, 5), (0.8, 5)])

    check = agreement_check_run()

    assert check.spearman > 0.9 and not check.alert
    assert reward_model_alerts() == []


def test_it_does_not_alert_on_too_few_spot_checks(labels, active_model, settings):
    settings.REWARD_AGREEMENT_MIN_N = 5
    _scored_then_labeled(labels, active_model.version, [(0.9, 1), (0.8, 2), (0.1, 5)])

    check = agreement_check_run()

    assert check.n == 3 and not check.alert


def test_it_keeps_one_agreement_check_per_window_when_run_twice(labels, active_model):
    _scored_then_labeled(labels, active_model.version, [(0.1, 1), (0.5, 3), (0.9, 5)])
    day = timezone.localdate()

    agreement_check_run(window_end=day)
    agreement_check_run(window_end=day)
    agreement_check_run(window_end=day + timedelta(days=7))

    assert AgreementCheck.objects.count() == 2


def test_the_weekly_job_makes_one_version_when_run_twice(labels):
    labels.labeled(40)

    first = train_reward_model_weekly()
    second = train_reward_model_weekly()

    assert first["trained"]["created"] is True
    assert second["trained"] == {**first["trained"], "created": False, "status": "active"}


def test_the_weekly_job_reports_when_there_are_not_enough_labels(db):
    summary = train_reward_model_weekly()

    assert summary["trained"] is None
    assert "not enough labels" in summary["skipped"]


def test_the_weekly_job_checks_agreement_and_queues_spot_checks_for_the_active_model(labels, active_model, settings):
    settings.REWARD_SPOT_CHECK_SIZE = 2
    labels.unlabeled(4)
    traces_score()

    summary = train_reward_model_weekly()

    assert summary["spot_checks"] == 2
    assert summary["agreement"] == {"n": 0, "spearman": None, "alert": False}
    assert AgreementCheck.objects.filter(reward_model=active_model).count() == 1
    assert summary["trained"]["version"] == active_model.version and summary["trained"]["created"] is False


def test_the_weekly_job_run_twice_queues_spot_checks_and_records_agreement_once(labels, active_model, settings):
    settings.REWARD_SPOT_CHECK_SIZE = 2
    labels.unlabeled(4)
    traces_score()

    first = train_reward_model_weekly()
    second = train_reward_model_weekly()

    assert (first["spot_checks"], second["spot_checks"]) == (2, 0)
    assert LabelTask.objects.filter(reason="spot_check").count() == 2
    assert AgreementCheck.objects.count() == 1
    assert RewardModel.objects.count() == 1


def test_it_counts_only_human_cards_written_in_the_window(labels, active_model):
    traces = _scored_then_labeled(labels, active_model.version, [(0.1, 1), (0.5, 3), (0.9, 5), (0.3, 2)])
    ScoreCard.objects.filter(trace=traces[-1]).update(created_at=timezone.now() - timedelta(days=30))

    check = agreement_check_run()

    assert check.n == 3 and check.spearman == 1.0


def test_an_agreement_alert_sends_one_notification_per_model_and_window(labels, active_model, settings):
    from alerts.models import Notification

    settings.REWARD_AGREEMENT_THRESHOLD = 0.5
    _scored_then_labeled(labels, active_model.version, [(0.9, 1), (0.8, 2), (0.6, 3), (0.4, 4), (0.1, 5), (0.2, 5)])

    agreement_check_run()
    agreement_check_run()

    notification = Notification.objects.get(kind="agreement_alert")
    assert active_model.version in notification.subject and notification.payload["n"] == 6
