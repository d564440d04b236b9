"""The whole loop as production runs it: PostgreSQL, a real Celery worker on Redis, the fake OpenAI server.
The test only plays beat (it sends the scheduled tasks) and the agents (they post traces): no command typed.

Skipped on SQLite (the worker cannot share an in-memory database); .ci/run runs it in its PostgreSQL pass."""

import time

import pytest

from pipeline.models import PipelineRun, RunStatus
from pipeline.tasks import advance_pipeline_runs, pipeline_weekly
from rollout.models import Policy, PolicyStatus, Rollout, RolloutState
from rollout.tasks import run_online_monitors
from tests.celery_worker import wait_for
from tests.rollout.conftest import BAD_REPLY, GOOD_REPLY

from .conftest import FineTunedAre

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker_env(monkeypatch, fake_openai, loop):
    """The worker reads its settings from the environment, as in production."""
    for name, value in {
        "OPENAI_API_KEY": "test-key",
        "OPENAI_BASE_URL": fake_openai.base_url,
        "OPENAI_MAX_RETRIES": "0",
        "PIPELINE_APPROVALS": "none",
        "PIPELINE_MIN_EXAMPLES": "5",
        "ROLLOUT_MONITOR_MIN_SAMPLES": "30",
        "ROLLOUT_MONITOR_MIN_INTERVAL_SECONDS": "0",
        "ROLLOUT_PROMOTION_MIN_HOURS": "0",
        "ROLLOUT_PROMOTION_MIN_CONVERSATIONS": "30",
    }.items():
        monkeypatch.setenv(name, value)
    return loop


@pytest.fixture
def pipeline_worker(on_postgres, worker_env, worker):
    return worker


class Beat:
    """Sends the sweeper (every 5 minutes in production) at most once a second while we wait."""

    def __init__(self, producer):
        self.producer, self.sent = producer, 0.0

    def tick(self):
        if time.monotonic() - self.sent > 1.0:
            advance_pipeline_runs.apply_async(connection=self.producer)
            self.sent = time.monotonic()


def _wait(condition, beat, worker, tmp_path, seconds=180):
    def ticking():
        beat.tick()
        return condition()

    wait_for(ticking, worker, tmp_path / "worker.log", seconds=seconds)


def _run():
    return PipelineRun.objects.first()


def test_a_better_candidate_reaches_active_through_a_real_worker(pipeline_worker, producer, traces, tmp_path):
    beat = Beat(producer)
    pipeline_weekly.apply_async(connection=producer)
    _wait(lambda: _run() is not None and _run().current_step == "monitor", beat, pipeline_worker, tmp_path)

    rollout = Rollout.objects.get()
    assert rollout.state == RolloutState.CANARY
    for arm, reply, seed in (("baseline", BAD_REPLY, 1), ("candidate", GOOD_REPLY, 2)):
        policy_id = str(rollout.baseline_id if arm == "baseline" else rollout.candidate_id)
        traces.make(rollout, arm, 250, policy_id=policy_id, response=reply, seed=seed, ago_minutes=(0, 0))
    run_online_monitors.apply_async(connection=producer)
    _wait(lambda: _run().status == RunStatus.SUCCEEDED, beat, pipeline_worker, tmp_path)

    run = _run()
    assert Policy.objects.get(modality="chat", status=PolicyStatus.ACTIVE) == run.policy
    assert run.policy.training_run == run.training_run and run.policy.lineage["dataset_sha256"] == run.dataset.sha256
    log = (tmp_path / "worker.log").read_text()
    assert "pipeline.tasks.pipeline_weekly" in log and "training.tasks.submit_training_run" in log


def test_a_worse_candidate_stops_at_the_gate_through_a_real_worker(
    pipeline_worker, producer, tmp_path, worker_env, admin_client
):
    worker_env.unsafe_models = FineTunedAre()
    beat = Beat(producer)
    pipeline_weekly.apply_async(connection=producer)
    _wait(lambda: _run() is not None and _run().status == RunStatus.FAILED, beat, pipeline_worker, tmp_path)

    run = _run()
    assert "gate failed" in run.stop_reason and not Rollout.objects.exists()
    assert "safety worse than baseline" in admin_client.get("/pipeline/").content.decode()
