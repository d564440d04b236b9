"""The S3 backend against a real S3 HTTP API (moto's standalone server on 127.0.0.1)."""

import io
import os
from datetime import UTC, date, datetime

import pandas as pd
import pytest
from pyarrow import fs

from traces.models import Trace, TraceStatus
from traces.partitions import partition_export
from zeke_rft.storage import S3Storage, get_storage, storage_from_url

DAY = date(2026, 11, 30)


def test_an_s3_url_gives_the_s3_backend_with_bucket_and_prefix():
    storage = storage_from_url("s3://zeke-bucket/prod/rft")

    assert isinstance(storage, S3Storage)
    assert (storage.bucket, storage.prefix) == ("zeke-bucket", "prod/rft")
    assert storage.url("logs/a.parquet") == "s3://zeke-bucket/prod/rft/logs/a.parquet"


def test_an_s3_key_that_climbs_out_of_the_prefix_is_refused():
    with pytest.raises(ValueError, match="escapes"):
        storage_from_url("s3://zeke-bucket/prod").write_bytes("../other/x", b"x")


def test_it_writes_lists_reads_and_deletes_objects_on_s3(s3_storage_url):
    storage = get_storage()

    storage.write_bytes("logs/2026-11-30/part-0000.parquet", b"abc")
    storage.write_bytes("datasets/h/train.jsonl", b"{}")

    assert storage.list("logs") == ["logs/2026-11-30/part-0000.parquet"]
    assert storage.read_bytes("logs/2026-11-30/part-0000.parquet") == b"abc"
    assert storage.exists("datasets/h/train.jsonl") and not storage.exists("datasets/h/missing.jsonl")
    storage.delete("datasets/h/train.jsonl")
    assert not storage.exists("datasets/h/train.jsonl")


@pytest.mark.django_db
def test_a_partition_lands_on_s3_and_reads_back_with_pandas(s3_storage_url, agent):
    Trace.objects.create(
        agent=agent, external_id="s3-1", conversation_id="c-1", user_message="raw", final_response="raw",
        occurred_at=datetime(2026, 11, 30, 9, tzinfo=UTC), status=TraceStatus.ELIGIBLE,
        scrubbed_user_message="hello <PERSON_1>", scrubbed_final_response="hi", scrubbed_context={},
        scrubbed_tool_calls=[],
    )  # fmt: skip

    export = partition_export(day=DAY)

    s3 = fs.S3FileSystem(endpoint_override=os.environ["AWS_ENDPOINT_URL"], region="us-east-1")
    bucket_path = get_storage().url(export.key).removeprefix("s3://")
    frame = pd.read_parquet(bucket_path, filesystem=s3)
    assert list(frame["user_message"]) == ["hello <PERSON_1>"]


@pytest.mark.django_db
def test_a_reward_model_artifact_round_trips_through_s3_with_its_sha256(s3_storage_url):
    from rewards.artifacts import artifact_write

    key, sha256 = artifact_write(version="rm-s3", artifact={"weights": [1, 2, 3]})

    from zeke_rft.hashing import sha256_bytes

    assert key in get_storage().list("reward_models")
    assert sha256_bytes(get_storage().read_bytes(key)) == sha256


def test_the_same_bytes_written_twice_read_back_the_same(s3_storage_url):
    storage = get_storage()
    payload = bytes(range(256)) * 4096

    storage.write_bytes("blob.bin", payload)
    storage.write_bytes("blob.bin", payload)

    assert io.BytesIO(storage.read_bytes("blob.bin")).getvalue() == payload
