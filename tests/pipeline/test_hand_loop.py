"""The hand loop (README) matches the pipeline: every step has a command and gives the same records."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from pipeline.models import PipelineRun
from pipeline.services import pipeline_run_advance, pipeline_run_start
from rollout.models import Policy, Rollout
from training.models import DatasetBuild


def _out(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_the_hand_loops_dataset_is_the_pipelines_dataset(loop):
    printed = _out("build_dataset", "--modality", "chat")

    run, _ = pipeline_run_start(modality="chat", until="dataset")
    run = pipeline_run_advance(run_id=run.pk)

    assert DatasetBuild.objects.count() == 1 and run.dataset.sha256 in printed
    assert "unchanged, existing build" not in printed


def test_score_traces_and_recalibrate_name_the_missing_reward_model(db):
    with pytest.raises(CommandError, match="no reward model is active"):
        _out("score_traces")
    with pytest.raises(CommandError, match="no reward model is active"):
        _out("recalibrate_reward_model")


def test_register_candidates_then_monitor_check_follow_the_pipeline_order(loop, traces, settings):
    run, _ = pipeline_run_start(modality="chat", until="canary")
    pipeline_run_advance(run_id=run.pk)
    for _ in range(20):
        run = pipeline_run_advance(run_id=run.pk)
        if run.status == "paused":
            break
    assert "0 candidate policies registered" in _out("register_candidates")  # the pipeline did it
    rollout = Rollout.objects.get()
    traces.make(rollout, "baseline", 40, policy_id=str(rollout.baseline_id), seed=1, ago_minutes=(0, 0))
    traces.make(rollout, "candidate", 40, policy_id=str(rollout.candidate_id), seed=2, ago_minutes=(0, 0))

    printed = _out("monitor_check", "--rollout", str(rollout.pk))

    assert printed.startswith(f"rollout {rollout.pk}: ok")
    assert PipelineRun.objects.get().policy == Policy.objects.get(status="canary")


def test_monitor_check_names_a_bad_rollout_id(db):
    with pytest.raises(CommandError, match="rollout_id: no rollout 99"):
        _out("monitor_check", "--rollout", "99")
