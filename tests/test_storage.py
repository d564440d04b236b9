import pytest
from django.core.exceptions import ImproperlyConfigured

from zeke_rft.hashing import canonical_json, sha256_bytes, sha256_file, sha256_json
from zeke_rft.storage import LocalStorage, get_storage, storage_from_url


def test_it_writes_and_reads_back_bytes_by_key(tmp_path):
    storage = LocalStorage(tmp_path)
    storage.write_bytes("logs/2026-12-01/part-0000.parquet", b"abc")
    assert storage.read_bytes("logs/2026-12-01/part-0000.parquet") == b"abc"
    assert storage.list("logs") == ["logs/2026-12-01/part-0000.parquet"]


def test_it_refuses_a_key_that_escapes_the_root(tmp_path):
    storage = LocalStorage(tmp_path / "root")
    with pytest.raises(ValueError, match="escapes"):
        storage.write_bytes("../outside.txt", b"x")


def test_it_follows_trace_storage_url_at_call_time(settings, tmp_path):
    settings.TRACE_STORAGE_URL = f"file://{tmp_path}/elsewhere"
    assert get_storage().root == tmp_path / "elsewhere"


def test_it_names_the_unsupported_storage_scheme():
    with pytest.raises(ImproperlyConfigured, match="ftp"):
        storage_from_url("ftp://host/bucket")


def test_equal_values_hash_equally_whatever_the_key_order(tmp_path):
    assert canonical_json({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'
    assert sha256_json({"b": 1, "a": 2}) == sha256_json({"a": 2, "b": 1})
    path = tmp_path / "f.bin"
    path.write_bytes(b"hello")
    assert sha256_file(path) == sha256_bytes(b"hello")
