"""The open-weights backend end to end on a tiny local model: GRPO and DPO through the real graders, the reward
model, storage and the candidate policy. Needs the training extra (skips with the reason otherwise)."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from pipeline.services import candidates_register_trained
from tests.rollout.conftest import active_reward_model  # noqa: F401  (a fixture)
from tests.training.trl_helpers import TINY_TRL_CONFIG, require_trl_extra, tiny_model_path
from training.models import TrainingRun, TrainingStatus, TRLJob
from zeke_rft.hashing import sha256_bytes
from zeke_rft.storage import get_storage

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def tiny_model(tmp_path_factory, settings):
    require_trl_extra()
    settings.TRL_OUTPUT_DIR = str(tmp_path_factory.mktemp("trl-out"))
    settings.TRL_SERVE_BASE_URL = "http://127.0.0.1:8001/v1"
    settings.TRL_TORCH_THREADS = 1
    return str(tiny_model_path(tmp_path_factory.getbasetemp()))


def _config_file(tmp_path, **trl):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**TINY_TRL_CONFIG, "trl": {**TINY_TRL_CONFIG["trl"], **trl}}))
    return str(path)


@pytest.mark.django_db(transaction=True)  # on-commit hooks fire as in production: submit, then the training task
@pytest.mark.usefixtures("active_reward_model")
def test_start_training_with_the_trl_backend_ends_succeeded_with_a_curve_checkpoints_and_a_candidate_policy(
    tiny_model, dataset, tmp_path
):
    from rollout.models import Policy

    out = StringIO()
    call_command(
        "start_training",
        "--dataset",
        dataset.sha256,
        "--backend",
        "trl",
        "--base-model",
        tiny_model,
        "--config",
        _config_file(tmp_path),
        "--wait",
        "--poll-seconds",
        "0",
        stdout=out,
    )
    run = TrainingRun.objects.get()
    assert run.status == TrainingStatus.SUCCEEDED, run.error
    assert [point["step"] for point in run.metrics["curve"]] == [1, 2, 3]
    assert all(isinstance(point["train"], float) for point in run.metrics["curve"])
    metrics = run.events.filter(type="metrics").first().data
    assert {"kl", "loss", "rewards/tool_calls/mean", "rewards/reward_model/mean"} <= set(metrics)
    assert [c["step_number"] for c in run.checkpoints] == [2, 3]  # every save_steps, and the last step
    checkpoint = run.checkpoints[0]
    assert sha256_bytes(get_storage().read_bytes(checkpoint["fine_tuned_model_checkpoint"])) == checkpoint["sha256"]
    candidates_register_trained()  # the pipeline registers candidates (training never calls rollout)
    policy = Policy.objects.get(model_id=run.fine_tuned_model)
    assert policy.status == "candidate" and policy.config["base_url"] == "http://127.0.0.1:8001/v1"
    artifact = policy.config["artifact"]
    assert sha256_bytes(get_storage().read_bytes(artifact["key"])) == artifact["sha256"]
    assert "adapter_model.safetensors" in artifact["files"]
    assert "registered as a candidate policy" in out.getvalue()


def _submit_without_training(dataset, config, django_capture_on_commit_callbacks, base_model):
    """Create and submit a run; its training task stays queued (the test runs it, with extra callbacks)."""
    from training.services import training_run_create, training_run_submit

    with django_capture_on_commit_callbacks(execute=False):
        run = training_run_create(dataset=dataset, base_model=base_model, config=config, backend="trl")
    with django_capture_on_commit_callbacks(execute=False):
        return training_run_submit(run_id=run.pk)


def _config(**trl):
    return {**TINY_TRL_CONFIG, "trl": {**TINY_TRL_CONFIG["trl"], **trl}}


def test_dpo_trains_on_the_dataset_s_preference_pairs_and_registers_a_candidate(
    tiny_model, dataset_with_corrections, django_capture_on_commit_callbacks
):
    from rollout.models import Policy
    from training.openweights.runner import trl_job_run
    from training.services import training_run_poll

    run = _submit_without_training(
        dataset_with_corrections, _config(method="dpo", max_steps=2), django_capture_on_commit_callbacks, tiny_model
    )
    assert dataset_with_corrections.files["preferences_train"]["rows"] >= 2
    trl_job_run(job_id=run.job_id)
    run = training_run_poll(run_id=run.pk)
    assert run.status == TrainingStatus.SUCCEEDED, run.error
    assert [point["step"] for point in run.metrics["curve"]] == [1, 2]
    assert {"rewards/margins", "rewards/accuracies", "loss"} <= set(run.events.filter(type="metrics").first().data)
    candidates_register_trained()
    assert Policy.objects.get(model_id=run.fine_tuned_model).config["method"] == "dpo"


def _cancel_after_first_step(run):
    """Stands in for the admin pressing Cancel while step 1 trains."""
    from transformers import TrainerCallback

    from training.services import training_run_cancel

    class CancelAfterFirstStep(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 1:
                training_run_cancel(run=run)

    return CancelAfterFirstStep()


def test_cancel_mid_run_stops_training_between_steps_and_makes_no_policy(
    tiny_model, dataset, django_capture_on_commit_callbacks
):
    from rollout.models import Policy
    from training.openweights.runner import trl_job_run
    from training.services import training_run_poll

    run = _submit_without_training(
        dataset, _config(max_steps=6, save_steps=100), django_capture_on_commit_callbacks, tiny_model
    )
    job = trl_job_run(job_id=run.job_id, callbacks=[_cancel_after_first_step(run)])
    run = training_run_poll(run_id=run.pk)
    assert job.status == run.status == TrainingStatus.CANCELLED
    assert [point["step"] for point in run.metrics["curve"]] == [1, 2]  # our callback reads the cancel after step 2
    assert run.events.filter(message="cancel honoured after train step 2").exists()
    assert not job.artifact and not run.fine_tuned_model and not Policy.objects.exists()


def test_a_job_another_worker_already_claimed_is_not_trained_twice(
    tiny_model, dataset, django_capture_on_commit_callbacks
):
    from training.tasks import run_trl_job

    run = _submit_without_training(dataset, _config(), django_capture_on_commit_callbacks, tiny_model)
    TRLJob.objects.filter(job_id=run.job_id).update(status=TrainingStatus.RUNNING)
    assert run_trl_job(run.job_id) == TrainingStatus.RUNNING
    assert TRLJob.objects.get(job_id=run.job_id).events == []


def test_a_paused_job_waits_between_steps_until_it_is_resumed(
    tiny_model, dataset, django_capture_on_commit_callbacks, settings, monkeypatch
):
    from transformers import TrainerControl, TrainerState

    from training.openweights import runner
    from training.services import training_run_pause, training_run_poll, training_run_resume

    run = _submit_without_training(dataset, _config(), django_capture_on_commit_callbacks, tiny_model)
    TRLJob.objects.filter(job_id=run.job_id).update(status=TrainingStatus.RUNNING)
    run = training_run_pause(run=training_run_poll(run_id=run.pk))
    sleeps = []

    def sleep(seconds):  # the admin presses Resume while the worker waits
        sleeps.append(seconds)
        if len(sleeps) == 3:
            training_run_resume(run=run)

    monkeypatch.setattr(runner.time, "sleep", sleep)
    job = TRLJob.objects.get(job_id=run.job_id)
    callback = runner.JobCallback(job, runner.JobRecorder(job), method="grpo")
    control = TrainerControl()
    callback.on_step_end(None, TrainerState(global_step=1), control)
    assert len(sleeps) == 3 and not control.should_training_stop
    assert [e["message"] for e in TRLJob.objects.get(pk=job.pk).events] == [
        "paused after train step 1",
        "resumed at train step 1",
    ]
    assert training_run_poll(run_id=run.pk).status == TrainingStatus.RUNNING


def test_a_full_fine_tune_after_an_sft_warm_start_logs_both_phases_and_stores_the_whole_model(
    tiny_model, dataset, django_capture_on_commit_callbacks
):
    from training.openweights.runner import trl_job_run
    from training.services import training_run_poll

    config = _config(lora=False, sft_warm_start_steps=2, max_steps=1, save_steps=100)
    run = _submit_without_training(dataset, config, django_capture_on_commit_callbacks, tiny_model)
    job = trl_job_run(job_id=run.job_id)
    run = training_run_poll(run_id=run.pk)
    assert run.status == TrainingStatus.SUCCEEDED, run.error
    phases = [event.data.get("phase", "train") for event in run.events.filter(type="metrics")]
    assert phases == ["sft", "sft", "train"] and run.metrics["steps"] == 1
    assert "model.safetensors" in job.artifact["files"] and "adapter_config.json" not in job.artifact["files"]
