"""The backup/restore drill: back up, wipe the database and the storage, restore, compare everything."""

import json
import shutil
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from backups.database import table_counts
from zeke_rft.hashing import sha256_bytes
from zeke_rft.storage import get_storage

TRACE = {"user_message": "Move my 3pm", "final_response": "Done, moved.", "occurred_at": "2026-12-01T10:00:00Z"}
OBJECTS = {
    "logs/2026-12-01/part-0000.parquet": b"PAR1" + bytes(range(256)) * 40,
    "reward_models/rm-1/model.joblib": b"\x00\x01binary\xff" * 1000,
    "datasets/abc/train.jsonl": '{"messages": ["héllo"]}\n'.encode() * 50,
}


def _wipe_database():
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
            return
        cursor.execute("PRAGMA foreign_keys = OFF")
        for table in connection.introspection.table_names():
            cursor.execute(f'DROP TABLE "{table}"')
        cursor.execute("PRAGMA foreign_keys = ON")


@pytest.fixture
def loop_data(agent_client):
    body = {"traces": [TRACE | {"external_id": f"t{i}", "conversation_id": f"c{i}"} for i in range(5)]}
    assert agent_client.post("/api/traces/", body, format="json").status_code == 201
    storage = get_storage()
    for key, data in OBJECTS.items():
        storage.write_bytes(key, data)
    return storage


@pytest.mark.django_db(transaction=True)
def test_the_drill_restores_every_table_count_and_every_artifact_hash(loop_data, tmp_path, settings):
    before = table_counts()
    call_command("backup", "--to", str(tmp_path / "backup"))
    _wipe_database()
    shutil.rmtree(loop_data.root)
    assert table_counts() == {}

    call_command("restore", "--from", str(tmp_path / "backup"))

    assert table_counts() == before
    assert before["traces_trace"] == 5
    restored = get_storage()
    assert {key: sha256_bytes(restored.read_bytes(key)) for key in restored.list()} == {
        key: sha256_bytes(data) for key, data in OBJECTS.items()
    }


@pytest.mark.django_db(transaction=True)
def test_the_manifest_lists_each_object_with_its_sha256_and_each_table_count(loop_data, tmp_path):
    call_command("backup", "--to", str(tmp_path / "backup"))
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert manifest["engine"] == connection.vendor
    assert manifest["tables"]["traces_trace"] == 5
    assert {e["key"]: e["sha256"] for e in manifest["storage"]} == {k: sha256_bytes(v) for k, v in OBJECTS.items()}


@pytest.mark.django_db(transaction=True)
def test_restore_refuses_a_database_that_is_not_empty(loop_data, tmp_path):
    call_command("backup", "--to", str(tmp_path / "backup"))
    with pytest.raises(CommandError, match="restore needs an empty database"):
        call_command("restore", "--from", str(tmp_path / "backup"))
    assert table_counts()["traces_trace"] == 5


@pytest.mark.django_db(transaction=True)
def test_restore_refuses_a_damaged_backup_before_touching_the_database(loop_data, tmp_path):
    call_command("backup", "--to", str(tmp_path / "backup"))
    damaged = tmp_path / "backup" / "storage" / "reward_models" / "rm-1" / "model.joblib"
    damaged.write_bytes(b"X" + damaged.read_bytes()[1:])
    _wipe_database()
    with pytest.raises(CommandError, match="model.joblib does not match its sha256"):
        call_command("restore", "--from", str(tmp_path / "backup"))
    assert table_counts() == {}
    call_command("migrate", verbosity=0)  # the test run's teardown flushes tables, so give them back


@pytest.mark.django_db
def test_backup_refuses_a_folder_that_already_holds_files(tmp_path):
    (tmp_path / "backup").mkdir()
    (tmp_path / "backup" / "old.txt").write_text("x")
    with pytest.raises(CommandError, match="is not empty"):
        call_command("backup", "--to", str(tmp_path / "backup"))


@pytest.mark.django_db
def test_restore_names_a_folder_that_is_not_a_backup(tmp_path):
    with pytest.raises(CommandError, match="holds no manifest.json"):
        call_command("restore", "--from", str(tmp_path))


def test_a_backup_of_the_other_engine_is_refused(tmp_path, db):
    other = "sqlite" if connection.vendor == "postgresql" else "postgresql"
    Path(tmp_path / "manifest.json").write_text(json.dumps({"format": 1, "engine": other, "tables": {}, "storage": []}))
    with pytest.raises(CommandError, match=f"is a {other} backup"):
        call_command("restore", "--from", str(tmp_path))


@pytest.mark.django_db(transaction=True)
def test_the_drill_through_s3_restores_every_count_and_hash(s3_storage_url, agent_client):
    """Storage on S3 and the backup under another prefix of the same bucket, through zeke_rft/storage.py."""
    body = {"traces": [TRACE | {"external_id": f"t{i}", "conversation_id": f"c{i}"} for i in range(3)]}
    assert agent_client.post("/api/traces/", body, format="json").status_code == 201
    storage = get_storage()
    for key, data in OBJECTS.items():
        storage.write_bytes(key, data)
    before = table_counts()
    destination = s3_storage_url.rsplit("/", 1)[0] + "/backups/drill-1"

    call_command("backup", "--to", destination)
    _wipe_database()
    for key in storage.list():
        storage.delete(key)
    call_command("restore", "--from", destination)

    assert table_counts() == before
    assert {key: sha256_bytes(storage.read_bytes(key)) for key in storage.list()} == {
        key: sha256_bytes(data) for key, data in OBJECTS.items()
    }
