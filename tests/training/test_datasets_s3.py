import json

import pytest

from training.datasets import dataset_build
from training.models import DatasetStatus
from zeke_rft.storage import get_storage

pytestmark = pytest.mark.django_db


def test_a_dataset_build_writes_its_files_and_manifest_to_s3(s3_storage_url, make_trace, rubric):
    make_trace(message="What's on today?")
    make_trace(message="Move standup to 10")

    build, created = dataset_build(stage=1, modality="chat")

    assert created and build.status == DatasetStatus.SUCCEEDED
    keys = get_storage().list(f"datasets/{build.sha256}")
    assert f"datasets/{build.sha256}/manifest.json" in keys
    train = get_storage().read_bytes(build.files["train"]["key"]).decode().splitlines()
    assert all(json.loads(line)["messages"][-1]["role"] == "user" for line in train)
