from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.heartbeat import job_heartbeat
from alerts.models import JobHeartbeat, Notification
from alerts.selectors import job_heartbeats, job_stale_after, stale_jobs
from alerts.tasks import check_job_heartbeats

pytestmark = pytest.mark.django_db


def beat(name, **times):
    return JobHeartbeat.objects.create(name=name, last_started_at=timezone.now() - timedelta(days=30), **times)


def test_a_successful_run_records_its_start_and_success():
    with job_heartbeat("run-filters-nightly"):
        pass
    row = JobHeartbeat.objects.get(name="run-filters-nightly")
    assert row.last_started_at and row.last_succeeded_at and row.last_failed_at is None and row.runs == 1


def test_a_failing_run_records_the_failure_and_reraises_it():
    with pytest.raises(RuntimeError), job_heartbeat("run-filters-nightly"):
        raise RuntimeError("disk full")
    row = JobHeartbeat.objects.get(name="run-filters-nightly")
    assert row.last_failed_at and row.last_succeeded_at is None and "disk full" in row.last_error


def test_a_failing_run_sends_a_job_failed_notification():
    with pytest.raises(RuntimeError), job_heartbeat("run-filters-nightly"):
        raise RuntimeError("disk full")
    notification = Notification.objects.get(kind="job_failed")
    assert "run-filters-nightly" in notification.subject and "disk full" in notification.body


def test_job_heartbeat_works_as_a_decorator():
    @job_heartbeat("score-traces-nightly")
    def job():
        return 3

    assert job() == 3
    assert JobHeartbeat.objects.get(name="score-traces-nightly").last_succeeded_at is not None


def test_every_beat_task_records_a_heartbeat_when_it_runs():
    check_job_heartbeats.delay()
    assert JobHeartbeat.objects.get(name="check-job-heartbeats").last_succeeded_at is not None


def test_a_task_outside_the_beat_schedule_records_no_heartbeat():
    from alerts.tasks import deliver_notification

    deliver_notification.delay(12345)
    assert not JobHeartbeat.objects.filter(task="alerts.tasks.deliver_notification").exists()


def test_thresholds_are_three_intervals_26_hours_daily_and_a_week_weekly():
    assert job_stale_after("run-online-monitors") == timedelta(minutes=15)
    assert job_stale_after("run-filters-nightly") == timedelta(hours=26)
    assert job_stale_after("train-reward-model-weekly") == timedelta(days=7, hours=2)


def test_a_threshold_can_be_set_per_job(settings):
    settings.JOB_STALE_MINUTES = {"run-filters-nightly": 90}
    assert job_stale_after("run-filters-nightly") == timedelta(minutes=90)


def test_the_nightly_filter_without_a_success_in_26_hours_is_stale():
    beat("run-filters-nightly", last_succeeded_at=timezone.now() - timedelta(hours=27))
    assert "run-filters-nightly" in [job["name"] for job in stale_jobs()]


def test_the_nightly_filter_that_succeeded_25_hours_ago_is_not_stale():
    beat("run-filters-nightly", last_succeeded_at=timezone.now() - timedelta(hours=25))
    assert "run-filters-nightly" not in [job["name"] for job in stale_jobs()]


def test_monitors_not_run_for_16_minutes_are_stale():
    beat("run-online-monitors", last_succeeded_at=timezone.now() - timedelta(minutes=16))
    assert "run-online-monitors" in [job["name"] for job in stale_jobs()]


def test_with_no_heartbeat_at_all_nothing_is_stale():
    assert stale_jobs() == []


def test_once_beat_runs_a_job_that_never_succeeded_since_is_stale():
    beat("run-online-monitors", last_succeeded_at=timezone.now())
    names = [job["name"] for job in stale_jobs()]
    assert "run-filters-nightly" in names and "run-online-monitors" not in names


def test_job_heartbeats_lists_every_scheduled_job(settings):
    assert {row["name"] for row in job_heartbeats()} >= set(settings.CELERY_BEAT_SCHEDULE)


def test_a_stale_job_is_announced_once_per_missed_success():
    beat("run-filters-nightly", last_succeeded_at=timezone.now() - timedelta(hours=30))
    check_job_heartbeats()
    check_job_heartbeats()
    late = Notification.objects.filter(kind="job_late", subject__contains="run-filters-nightly")
    assert late.count() == 1
