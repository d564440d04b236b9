"""The open-weights training runs where production runs it: a Celery worker on the real Redis broker that
consumes only the `training` queue (a GPU host in production). PostgreSQL pass only (the worker shares the
test database); it also needs the training extra."""

import os
import subprocess
import sys

import pytest

from tests.celery_worker import ROOT, database_url, wait_for
from tests.training.trl_helpers import TINY_TRL_CONFIG, require_trl_extra, tiny_model_path
from training.models import TrainingStatus, TRLJob


@pytest.fixture
def training_worker(on_postgres, redis_broker, tmp_path, settings):
    require_trl_extra()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "zeke_rft.settings",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": redis_broker,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "TRACE_STORAGE_URL": settings.TRACE_STORAGE_URL,
        "TRL_OUTPUT_DIR": str(tmp_path / "trl-out"),
        "TRL_TORCH_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
    }
    log_path = tmp_path / "training-worker.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "zeke_rft", "worker", "-Q", "training", "--pool=solo", "-c", "1"]
            + ["-l", "info", "--without-mingle", "--without-gossip", "--without-heartbeat"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        yield process, log_path
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_consuming_only_the_training_queue_trains_the_submitted_job(
    training_worker, producer, dataset, tmp_path_factory
):
    from training.services import training_run_create, training_run_poll, training_run_submit

    worker, log_path = training_worker
    model = str(tiny_model_path(tmp_path_factory.getbasetemp()))
    run = training_run_create(dataset=dataset, base_model=model, config=TINY_TRL_CONFIG, backend="trl")
    # Its submission went to the default queue, which this worker does not consume: submit here instead.
    run = training_run_submit(run_id=run.pk)
    assert run.status == TrainingStatus.QUEUED and run.job_id.startswith("trljob-")

    def finished():
        return TRLJob.objects.get(job_id=run.job_id).status in (TrainingStatus.SUCCEEDED, TrainingStatus.FAILED)

    wait_for(finished, worker, log_path, seconds=900)  # a generous bound for a loaded 2-core CI machine
    run = training_run_poll(run_id=run.pk)
    assert run.status == TrainingStatus.SUCCEEDED, run.error
    assert [point["step"] for point in run.metrics["curve"]] == [1, 2, 3]
    assert "Task training.tasks.run_trl_job" in log_path.read_text()
