import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from training.models import TrainingEvent, TrainingRun, TrainingStatus
from training.services import (
    training_run_create,
    training_run_pause,
    training_run_poll,
    training_run_resume,
    training_run_submit,
)
from zeke_rft.errors import ApplicationError

pytestmark = pytest.mark.django_db


@pytest.fixture
def submit(django_capture_on_commit_callbacks):
    """Create a run and let its on-commit submission run (Celery is eager in tests)."""

    def run(dataset, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            created = training_run_create(dataset=dataset, **kwargs)
        created.refresh_from_db()
        return created

    return run


def poll_until_done(run, times=20):
    for _ in range(times):
        run = training_run_poll(run_id=run.pk)
        if run.status in ("succeeded", "failed", "cancelled"):
            break
    return run


def test_a_run_goes_from_upload_to_a_succeeded_job_and_training_registers_no_policy(fake_openai, dataset, submit):
    from rollout.models import Policy

    run = submit(dataset, base_model="o4-mini-test")
    assert run.status == TrainingStatus.VALIDATING_FILES and run.job_id.startswith("ftjob-")
    uploads = fake_openai.requests_to("^/v1/files$")
    assert len(uploads) == 2 and set(run.files) == {"train", "validation"}
    assert all(fake_openai.files[file_id]["purpose"] == "fine-tune" for file_id in run.files.values())
    (create,) = [r for r in fake_openai.requests_to("^/v1/fine_tuning/jobs$") if r["method"] == "POST"]
    method = create["body"]["method"]
    assert method["type"] == "reinforcement"
    assert set(method["reinforcement"]["grader"]["graders"]) == {"tool_calls", "rubric"}
    assert method["reinforcement"]["hyperparameters"]["reasoning_effort"] == "medium"
    assert create["body"]["model"] == "o4-mini-test"
    assert len(fake_openai.requests_to("/graders/validate")) == 1

    run = poll_until_done(run)
    assert run.status == TrainingStatus.SUCCEEDED and run.fine_tuned_model.startswith("ft:o4-mini-test")
    assert [point["step"] for point in run.metrics["curve"]] == [1, 2, 3]
    assert run.metrics["final_train_reward"] == 0.9 and run.metrics["final_valid_reward"] == 0.8
    assert len(run.checkpoints) == 2
    # The candidate policy is the pipeline's to register (training never calls rollout).
    assert not Policy.objects.exists()


def test_a_job_that_fails_records_the_error_and_makes_no_policy(fake_openai, dataset, submit):
    from rollout.models import Policy

    fake_openai.job_plan.update(fail_at_step=2, error={"code": "grader_error", "message": "grader timed out"})
    run = poll_until_done(submit(dataset))
    assert run.status == TrainingStatus.FAILED
    assert run.error == "grader_error: grader timed out" and run.finished_at is not None
    assert not Policy.objects.exists()


def test_rate_limits_and_server_errors_are_retried(fake_openai, dataset, submit):
    fake_openai.fail_next("^/v1/files$", status=429, times=1)
    fake_openai.fail_next("^/v1/fine_tuning/jobs$", status=500, times=2)
    run = submit(dataset)
    assert run.job_id and run.status == TrainingStatus.VALIDATING_FILES
    assert len(fake_openai.requests_to("^/v1/files$")) == 3  # one 429, then two uploads
    assert len(fake_openai.jobs) == 1


def test_errors_that_outlast_the_retries_give_the_run_back_to_pending(fake_openai, dataset, settings, submit):
    from celery.exceptions import Retry

    from training.backends import BackendUnavailable

    settings.OPENAI_MAX_RETRIES = 0
    fake_openai.fail_next("/graders/validate", status=500, times=10)
    with pytest.raises((BackendUnavailable, Retry)):  # eager Celery raises Retry for the task's autoretry
        submit(dataset)
    run = TrainingRun.objects.get()
    assert run.status == TrainingStatus.PENDING and "500" in run.error and not run.job_id


def test_an_invalid_grader_is_rejected_with_a_clear_error_and_no_job(fake_openai, dataset, submit):
    bad = {
        "type": "string_check",
        "name": "bad",
        "input": "{{sample.output_text}}",
        "reference": "x",
        "operation": "contains",
    }
    run = submit(dataset, config={"grader": bad})
    assert run.status == TrainingStatus.FAILED
    assert "grader validation" in run.error and "operation must be one of" in run.error
    assert fake_openai.jobs == {} and fake_openai.files == {}


def test_a_job_is_paused_and_resumed(fake_openai, dataset, submit):
    fake_openai.auto_advance = False
    run = submit(dataset)
    for _ in range(3):  # validating_files → queued → running → step 1
        fake_openai.advance_job(run.job_id)
    run = training_run_poll(run_id=run.pk)
    assert run.status == TrainingStatus.RUNNING
    run = training_run_pause(run=run)
    assert run.status == TrainingStatus.PAUSED
    fake_openai.advance_job(run.job_id)
    assert training_run_poll(run_id=run.pk).status == TrainingStatus.PAUSED
    with pytest.raises(ApplicationError, match="cannot pause"):
        training_run_pause(run=run)
    run = training_run_resume(run=run)
    assert run.status == TrainingStatus.RUNNING
    fake_openai.run_job(run.job_id)
    run = training_run_poll(run_id=run.pk)
    assert run.status == TrainingStatus.SUCCEEDED
    assert any("paused" in message for message in run.events.values_list("message", flat=True))
    reasons = list(run.history.values_list("history_change_reason", flat=True))
    assert any(reason.startswith("pause") for reason in reasons) and any(
        reason.startswith("resume") for reason in reasons
    )


def test_events_are_read_across_pages_until_the_last(fake_openai, dataset, submit):
    fake_openai.job_plan["steps"] = 120
    run = submit(dataset)
    fake_openai.run_job(run.job_id, max_stages=200)
    run = training_run_poll(run_id=run.pk)
    assert run.events.count() == len(fake_openai.events[run.job_id]) > 100
    assert len(fake_openai.requests_to("/events$")) == 2
    assert run.metrics["steps"] == 120


def test_polling_twice_stores_one_set_of_events(fake_openai, dataset, submit):
    run = submit(dataset)
    fake_openai.run_job(run.job_id)
    training_run_poll(run_id=run.pk)
    count = TrainingEvent.objects.count()
    run.refresh_from_db()
    run.last_polled_at = None
    run.save()
    training_run_poll(run_id=run.pk)
    assert TrainingEvent.objects.count() == count == len(fake_openai.events[run.job_id])


def test_the_same_dataset_and_config_is_never_submitted_twice(fake_openai, dataset, submit):
    first = submit(dataset)
    with pytest.raises(ApplicationError, match=f"already submitted as run {first.pk}"):
        submit(dataset)
    second = submit(dataset, config={"kl_penalty": 0.1})
    assert second.pk != first.pk and len(fake_openai.jobs) == 2


def test_submitting_a_run_twice_creates_one_job(fake_openai, dataset, submit):
    run = submit(dataset)
    again = training_run_submit(run_id=run.pk)
    assert again.job_id == run.job_id and len(fake_openai.jobs) == 1


def test_a_submit_that_died_after_creating_the_job_is_recovered_by_the_sweeper(fake_openai, dataset, submit):
    from training.tasks import poll_training_runs

    run = submit(dataset)
    job_id = run.job_id
    # The worker died after the backend created the job but before the job id was saved.
    TrainingRun.objects.filter(pk=run.pk).update(
        job_id="", status=TrainingStatus.UPLOADING, submitted_at=timezone.now() - timedelta(hours=1)
    )
    poll_training_runs()
    run.refresh_from_db()
    assert run.job_id == job_id and len(fake_openai.jobs) == 1


def test_bad_config_names_the_field(fake_openai, dataset):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as excinfo:
        training_run_create(dataset=dataset, config={"hyperparameters": {"n_epochs": 0}})
    assert "config.hyperparameters.n_epochs" in excinfo.value.message_dict
    with pytest.raises(ValidationError) as excinfo:
        training_run_create(dataset=dataset, config={"temperature": 1})
    assert "config.temperature" in excinfo.value.message_dict


def test_without_an_api_key_start_training_refuses_with_a_clear_message(settings, dataset):
    settings.OPENAI_API_KEY = ""
    with pytest.raises(CommandError, match="No OpenAI API key"):
        call_command("start_training", "--dataset", dataset.sha256[:12])
    assert not TrainingRun.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_start_training_runs_a_job_to_success_against_the_fake_server(fake_openai, dataset, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"hyperparameters": {"n_epochs": 2}, "episode_length": 3}))
    out = StringIO()
    call_command(
        "start_training",
        "--dataset",
        dataset.sha256,
        "--config",
        str(config),
        "--wait",
        "--poll-seconds",
        "0",
        stdout=out,
    )
    run = TrainingRun.objects.get()
    assert run.status == TrainingStatus.SUCCEEDED and run.config["episode_length"] == 3
    assert run.config["hyperparameters"]["n_epochs"] == 2
    assert f"fine-tuned model {run.fine_tuned_model} registered" in out.getvalue()


def test_the_poll_sweeper_queues_unfinished_runs_only(fake_openai, dataset, submit):
    from training.tasks import poll_training_runs

    run = submit(dataset)
    fake_openai.run_job(run.job_id)
    assert poll_training_runs() == 1
    run.refresh_from_db()
    assert run.status == TrainingStatus.SUCCEEDED
    assert poll_training_runs() == 0


def test_cancel_stops_the_job(fake_openai, dataset, submit):
    from training.services import training_run_cancel

    run = training_run_cancel(run=submit(dataset))
    assert run.status == TrainingStatus.CANCELLED and fake_openai.jobs[run.job_id]["status"] == "cancelled"


def test_a_poll_that_dies_midway_writes_nothing_and_the_next_poll_stores_everything(
    fake_openai, dataset, submit, monkeypatch
):
    import training.services

    run = submit(dataset)
    fake_openai.run_job(run.job_id)
    real_metrics = training.services.metrics_from_events

    def worker_killed(events):
        raise SystemExit("worker restarted")

    monkeypatch.setattr(training.services, "metrics_from_events", worker_killed)
    with pytest.raises(SystemExit):
        training_run_poll(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == TrainingStatus.VALIDATING_FILES and not run.events.exists()
    monkeypatch.setattr(training.services, "metrics_from_events", real_metrics)
    run = training_run_poll(run_id=run.pk)
    assert run.status == TrainingStatus.SUCCEEDED
    assert run.events.count() == len(fake_openai.events[run.job_id]) and run.fine_tuned_model


def test_a_job_the_backend_no_longer_knows_is_reported_on_the_run(fake_openai, dataset, submit):
    run = submit(dataset)
    fake_openai.jobs.pop(run.job_id)
    run = training_run_poll(run_id=run.pk)
    assert run.status == TrainingStatus.VALIDATING_FILES and "Could not find fine-tune" in run.error


def test_azure_openai_runs_the_same_flow(fake_openai, dataset, settings, submit):
    settings.OPENAI_AZURE_ENDPOINT = fake_openai.azure_endpoint
    settings.OPENAI_API_VERSION = "2025-04-01-preview"
    run = poll_until_done(submit(dataset))
    assert run.status == TrainingStatus.SUCCEEDED
    paths = {r["path"] for r in fake_openai.requests}
    assert "/openai/fine_tuning/jobs" in paths and "/openai/files" in paths
    assert all(r["query"].get("api-version") == "2025-04-01-preview" for r in fake_openai.requests)


def test_a_stuck_submit_whose_job_was_never_created_is_submitted_again(fake_openai, dataset, submit):
    from training.tasks import poll_training_runs

    run = submit(dataset)
    fake_openai.jobs.clear()
    fake_openai.job_order.clear()
    # As if the worker died after uploading but before creating the job.
    TrainingRun.objects.filter(pk=run.pk).update(
        job_id="", status=TrainingStatus.UPLOADING, submitted_at=timezone.now() - timedelta(hours=1)
    )
    uploads_before = len(fake_openai.requests_to("^/v1/files$"))
    poll_training_runs()
    run.refresh_from_db()
    assert run.job_id in fake_openai.jobs and len(fake_openai.jobs) == 1
    assert len(fake_openai.requests_to("^/v1/files$")) == uploads_before  # the uploaded files were reused


@pytest.mark.django_db(transaction=True)
def test_two_workers_submitting_the_same_run_at_once_create_one_job(on_postgres, fake_openai, dataset):
    import threading

    from django.db import connection

    run = TrainingRun.objects.create(
        dataset=dataset, base_model="o4-mini", config=_config(dataset), config_hash="race", modality="chat"
    )
    barrier = threading.Barrier(2)

    def worker():
        try:
            barrier.wait()
            training_run_submit(run_id=run.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run.refresh_from_db()
    assert len(fake_openai.jobs) == 1 and run.job_id in fake_openai.jobs


def _config(dataset):
    from training.services import training_config_resolve

    return training_config_resolve(dataset=dataset, overrides={})


@pytest.mark.parametrize(
    ("dataset_argument", "message"),
    [
        ("", r"give the dataset hash \(at least 6 characters\)"),
        ("abcdef012345", "no dataset build with hash abcdef012345"),
    ],
)
def test_start_training_names_a_missing_or_unknown_dataset_hash(fake_openai, dataset, dataset_argument, message):
    with pytest.raises(CommandError, match=f"dataset: {message}"):
        call_command("start_training", "--dataset", dataset_argument)
    assert not TrainingRun.objects.exists()


def test_start_training_names_an_ambiguous_hash_prefix(fake_openai, dataset):
    from training.models import DatasetBuild

    DatasetBuild.objects.create(sha256=dataset.sha256[:8] + "0" * 56, manifest={}, files={})
    with pytest.raises(CommandError, match="matches more than one build"):
        call_command("start_training", "--dataset", dataset.sha256[:8])
    assert not TrainingRun.objects.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "No such file or directory"),
        ("{oops", "Expecting property name"),
        ('["n_epochs", 2]', "must hold a JSON object"),
        (
            '{"hyperparameters": {"n_epochs": "lots"}}',
            r"config.hyperparameters.n_epochs: must be an integer in \[1, 50\]",
        ),
        ('{"hyperparameters": [1]}', "config.hyperparameters: must be an object"),
        ('{"hyperparameters": {"reasoning_effort": "max"}}', "config.hyperparameters.reasoning_effort: must be one of"),
        ('{"kl_penalty": NaN}', r"config.kl_penalty: must be a number in \[0.0, 10.0\]"),
        ('{"batch_size": true}', "config.batch_size: must be an integer"),
        ('{"grader": "use the rubric"}', 'config.grader: must be a grader object with a "type"'),
        ('{"base_model": 42}', "config.base_model: must be a non-empty model id"),
        ('{"temperature": 0.2}', "config.temperature: unknown setting"),
    ],
)
def test_start_training_names_what_is_wrong_with_the_config_file(fake_openai, dataset, tmp_path, content, message):
    path = tmp_path / "config.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(CommandError, match=message):
        call_command("start_training", "--dataset", dataset.sha256, "--config", str(path))
    assert not TrainingRun.objects.exists() and fake_openai.jobs == {}


def test_start_training_refuses_a_blank_base_model_and_a_negative_poll_interval(fake_openai, dataset):
    with pytest.raises(CommandError, match="base_model: must be a non-empty model id"):
        call_command("start_training", "--dataset", dataset.sha256, "--base-model", " ")
    with pytest.raises(CommandError, match="--poll-seconds must be 0 or more"):
        call_command("start_training", "--dataset", dataset.sha256, "--poll-seconds", "-1")
    assert not TrainingRun.objects.exists()


def test_start_training_refuses_a_dataset_that_did_not_build(fake_openai, db):
    from training.models import DatasetBuild, DatasetStatus

    DatasetBuild.objects.create(
        sha256="e" * 64, manifest={}, files={}, status=DatasetStatus.FAILED, error="an example lacks the refusal policy"
    )
    with pytest.raises(CommandError, match="did not build .failed.: an example lacks the refusal policy"):
        call_command("start_training", "--dataset", "e" * 12)
    assert not TrainingRun.objects.exists()


def test_the_run_tracks_every_config_field_and_sends_the_backend_its_hyperparameters(fake_openai, dataset, submit):
    run = submit(
        dataset,
        base_model="o4-mini-test",
        config={
            "kl_penalty": 0.2,
            "reward_scaling": 2.0,
            "batch_size": 16,
            "episode_length": 3,
            "hyperparameters": {"n_epochs": 2, "compute_multiplier": 1.5, "eval_samples": 4},
        },
    )
    assert run.base_model == run.config["base_model"] == "o4-mini-test"
    assert (run.config["kl_penalty"], run.config["reward_scaling"], run.config["batch_size"]) == (0.2, 2.0, 16)
    assert run.config["episode_length"] == 3
    assert run.config["hyperparameters"] == {
        "n_epochs": 2,
        "batch_size": 16,  # follows the top-level batch size unless the backend's own is given
        "learning_rate_multiplier": 1.0,
        "reasoning_effort": "medium",
        "compute_multiplier": 1.5,
        "eval_interval": 5,
        "eval_samples": 4,
    }
    (create,) = [r for r in fake_openai.requests_to("^/v1/fine_tuning/jobs$") if r["method"] == "POST"]
    assert create["body"]["method"]["reinforcement"]["hyperparameters"] == run.config["hyperparameters"]
    # Recorded for comparison and other backends; OpenAI's RFT has no field for them.
    assert "kl_penalty" not in json.dumps(create["body"]["method"])


def test_the_grader_is_validated_before_any_file_is_uploaded(fake_openai, dataset, submit):
    run = submit(dataset)
    paths = [r["path"] for r in fake_openai.requests]
    validate = paths.index("/v1/fine_tuning/alpha/graders/validate")
    assert validate < paths.index("/v1/files") and validate < paths.index("/v1/fine_tuning/jobs")
    assert run.job_id


def test_cancelling_a_run_that_was_never_submitted_records_who_and_why(dataset, reviewer, settings):
    settings.OPENAI_API_KEY = "test-key"
    run = training_run_create(dataset=dataset)  # no on-commit callbacks run: the run stays pending

    from training.services import training_run_cancel

    run = training_run_cancel(run=run, user=reviewer)
    assert run.status == TrainingStatus.CANCELLED and run.finished_at is not None
    latest = run.history.first()
    assert latest.status == "cancelled" and latest.history_user == reviewer
    assert latest.history_change_reason.startswith("cancel")


def test_poll_training_names_an_unknown_run(db):
    with pytest.raises(CommandError, match="--run: no training run 4242 with a backend job"):
        call_command("poll_training", "--run", "4242")


def test_poll_training_polls_a_run_to_its_candidate_policy(fake_openai, dataset, submit):
    run = submit(dataset)
    fake_openai.run_job(run.job_id)
    out = StringIO()
    call_command("poll_training", stdout=out)
    run.refresh_from_db()
    assert run.status == TrainingStatus.SUCCEEDED and f"run {run.pk}: succeeded (3 steps)" in out.getvalue()


def test_the_recover_task_run_twice_adopts_one_job(fake_openai, dataset, submit):
    from training.tasks import recover_training_run

    run = submit(dataset)
    job_id = run.job_id
    TrainingRun.objects.filter(pk=run.pk).update(job_id="", status=TrainingStatus.UPLOADING)
    recover_training_run(run.pk)
    recover_training_run(run.pk)
    run.refresh_from_db()
    assert run.job_id == job_id and len(fake_openai.jobs) == 1
    assert run.history.filter(history_change_reason__startswith="recovered job").count() == 1


def test_a_job_that_fails_sends_a_training_failed_notification(fake_openai, dataset, submit):
    from alerts.models import Notification

    fake_openai.job_plan.update(fail_at_step=2, error={"code": "grader_error", "message": "grader timed out"})
    run = poll_until_done(submit(dataset))

    notification = Notification.objects.get(kind="training_failed")
    assert notification.payload["training_run_id"] == run.pk and "grader timed out" in notification.body


@pytest.fixture
def broker_down(monkeypatch):
    """Celery as production runs it (not eager) with its broker on a port where nothing listens."""
    from zeke_rft.celery import app

    # Celery prefers the CELERY_BROKER_URL environment variable to its conf (set in .ci/run's PostgreSQL pass).
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    monkeypatch.setitem(app.conf, "broker_write_url", "redis://127.0.0.1:1/0")
    monkeypatch.setitem(app.conf, "task_always_eager", False)
    monkeypatch.setitem(app.conf, "broker_url", "redis://127.0.0.1:1/0")
    monkeypatch.setitem(app.conf, "broker_connection_retry", False)
    monkeypatch.setitem(app.conf, "broker_connection_timeout", 1)
    monkeypatch.setitem(app.conf, "task_publish_retry", False)
    monkeypatch.setattr(app, "_pool", None)  # the connection pool is built from broker_url on first use
    monkeypatch.setattr(app.amqp, "_producer_pool", None)


@pytest.mark.django_db(transaction=True)
def test_start_training_during_a_broker_outage_says_so_in_one_line_and_leaves_no_pending_run(
    fake_openai, dataset, broker_down
):
    with pytest.raises(CommandError) as raised:
        call_command("start_training", "--dataset", dataset.sha256[:12])
    message = str(raised.value)
    assert "Celery broker is unreachable" in message and "no training run was created" in message
    assert "\n" not in message
    assert not TrainingRun.objects.exists()
