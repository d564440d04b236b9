"""The curriculum advances on outcomes: a stage is done when a policy trained at it was promoted."""

import pytest
from django.utils import timezone

from training.models import DatasetBuild, TrainingRun, TrainingStatus
from training.services import curriculum_next_stage

pytestmark = pytest.mark.django_db


def _run(stage, **fields):
    dataset = DatasetBuild.objects.create(sha256=f"{stage}{TrainingRun.objects.count()}".ljust(64, "0"), stage=stage)
    defaults = {"status": TrainingStatus.SUCCEEDED, "config_hash": "c" * 64, "base_model": "o4-mini"}
    return TrainingRun.objects.create(dataset=dataset, **{**defaults, **fields})


def test_a_stage_whose_job_merely_succeeded_is_not_done():
    _run(1)
    assert curriculum_next_stage(modality="chat") == 1


def test_a_stage_whose_policy_was_promoted_is_done():
    _run(1, rollout_started_at=timezone.now(), rollout_ended_at=timezone.now())
    assert curriculum_next_stage(modality="chat") == 2


def test_a_rolled_back_stage_is_retried():
    _run(1, rollout_started_at=timezone.now(), rollout_ended_at=timezone.now(), rollback_reason="tool errors")
    assert curriculum_next_stage(modality="chat") == 1


def test_the_curriculum_stays_at_stage_three():
    _run(3, rollout_ended_at=timezone.now())
    assert curriculum_next_stage(modality="chat") == 3


def test_another_modalitys_promotion_does_not_advance_this_one():
    _run(1, rollout_ended_at=timezone.now(), modality="voice")
    assert curriculum_next_stage(modality="chat") == 1
