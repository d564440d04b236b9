"""Crash recovery: run records left `running` by a dead worker, and Celery's redelivery settings."""

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from traces.filtering import filter_run
from traces.models import FilterRun, FilterRunStatus, Trace, TraceStatus

ROOT = Path(__file__).resolve().parent.parent


def _celery_settings(**env) -> dict:
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({'options': getattr(s, 'CELERY_BROKER_TRANSPORT_OPTIONS', None), "
        "'reject': s.CELERY_TASK_REJECT_ON_WORKER_LOST, 'acks_late': s.CELERY_TASK_ACKS_LATE}))"
    )
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "zeke_rft.settings", **env}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_on_redis_a_dead_workers_task_is_redelivered_after_the_time_limit_plus_five_minutes_not_an_hour():
    found = _celery_settings(CELERY_BROKER_URL="redis://127.0.0.1:6379/15", CELERY_TASK_TIME_LIMIT="600")

    assert found["options"] == {"visibility_timeout": 900}
    assert found["acks_late"] is True and found["reject"] is True


def test_the_visibility_timeout_can_be_set():
    found = _celery_settings(CELERY_BROKER_URL="redis://127.0.0.1:6379/15", CELERY_BROKER_VISIBILITY_TIMEOUT="4000")

    assert found["options"] == {"visibility_timeout": 4000}


@pytest.mark.django_db
def test_a_filter_run_left_running_by_a_dead_worker_is_marked_failed_and_the_next_run_resumes(agent):
    dead = FilterRun.objects.create(trigger="beat")
    FilterRun.objects.filter(pk=dead.pk).update(started_at=timezone.now() - timedelta(hours=2))
    Trace.objects.create(
        agent=agent,
        external_id="left",
        conversation_id="c",
        user_message="Remind me to call mum",
        occurred_at=timezone.now(),
    )

    run = filter_run(trigger="beat")

    dead.refresh_from_db()
    assert dead.status == FilterRunStatus.FAILED and "worker died" in dead.error and dead.finished_at
    assert run.status == FilterRunStatus.SUCCEEDED and run.processed == 1
    assert not Trace.objects.filter(status=TraceStatus.RECEIVED).exists()


@pytest.mark.django_db
def test_a_filter_run_still_within_the_time_limit_is_left_running():
    alive = FilterRun.objects.create(trigger="beat")

    filter_run(trigger="beat")

    alive.refresh_from_db()
    assert alive.status == FilterRunStatus.RUNNING


@pytest.mark.django_db
def test_an_eval_run_left_running_by_a_dead_worker_is_marked_failed():
    from rollout.evaluation import eval_runs_recover
    from rollout.models import EvalRun, EvalSuite, Policy

    suite = EvalSuite.objects.create(name="s", kind="regression", threshold=0.5)
    policy = Policy.objects.create(model_id="m", modality="chat")
    dead = EvalRun.objects.create(suite=suite, policy=policy)
    EvalRun.objects.filter(pk=dead.pk).update(started_at=timezone.now() - timedelta(hours=2))
    fresh = EvalRun.objects.create(suite=suite, policy=policy)

    assert eval_runs_recover() == 1
    dead.refresh_from_db()
    fresh.refresh_from_db()
    assert (dead.status, dead.passed, fresh.status) == ("failed", False, "running")
