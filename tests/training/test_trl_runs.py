"""The open-weights backend end to end on a tiny local model: GRPO and DPO through the real graders, the reward
model, storage and the candidate policy. Needs the training extra (skips with the reason otherwise)."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from tests.rollout.conftest import active_reward_model  # noqa: F401
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
def test_start_training_with_the_trl_backend_ends_succeeded_with_a_curve_checkpoints_and_a_candidate_policy(
    tiny_model,
    dataset,
    active_reward_model,
    tmp_path,  # noqa: F811
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
    policy = Policy.objects.get(model_id=run.fine_tuned_model)
    assert policy.status == "candidate" and policy.config["base_url"] == "http://127.0.0.1:8001/v1"
    artifact = policy.config["artifact"]
    assert sha256_bytes(get_storage().read_bytes(artifact["key"])) == artifact["sha256"]
    assert "adapter_model.safetensors" in artifact["files"]
    assert "registered as a candidate policy" in out.getvalue()
