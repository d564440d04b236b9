from io import StringIO

import pytest

from training.demo import demo_load
from training.models import DatasetBuild, TrainingRun

pytestmark = pytest.mark.django_db


def test_the_demo_skips_with_a_message_when_there_are_no_rewards():
    out = StringIO()
    demo_load(stdout=out)
    assert "skipped" in out.getvalue() and not DatasetBuild.objects.exists()


def test_the_demo_builds_datasets_once_and_prints_the_command_without_starting_a_job(make_trace, rubric):
    make_trace(message="Book lunch")
    make_trace(message="Text Ana")
    out = StringIO()
    demo_load(stdout=out)
    demo_load(stdout=out)
    assert DatasetBuild.objects.count() == 2  # stage 1 and stage 3, built once
    assert "start_training --dataset" in out.getvalue() and not TrainingRun.objects.exists()
