"""`backup_create` and `backup_restore`: the database dump plus every storage object, with a manifest.

A backup is a folder (or an s3:// prefix, through zeke_rft/storage.py):
    manifest.json      engine, created_at, table row counts, storage objects (key, size, sha256)
    database.dump      pg_dump custom format (PostgreSQL) or a SQLite database file
    storage/<key>      a copy of each storage object (Parquet partitions, datasets, model artifacts)
"""

import json
import tempfile
from pathlib import Path

from django.db import connection
from django.utils import timezone

from backups.database import BackupError, database_tables, dump_database, restore_database, table_counts
from zeke_rft.hashing import sha256_bytes
from zeke_rft.storage import get_storage, storage_from_url

MANIFEST = "manifest.json"
DUMP = "database.dump"
FORMAT_VERSION = 1


def _destination(url: str):
    try:
        return storage_from_url(url)
    except Exception as exc:
        raise BackupError(f"{url}: {exc}") from exc


def _copy_storage_objects(target) -> list[dict]:
    source = get_storage()
    objects = []
    for key in source.list():
        data = source.read_bytes(key)
        target.write_bytes(f"storage/{key}", data)
        objects.append({"key": key, "size": len(data), "sha256": sha256_bytes(data)})
    return objects


def backup_create(*, destination: str) -> dict:
    """Dump the database and copy the storage objects to `destination`; returns the manifest."""
    target = _destination(destination)
    if target.list():
        raise BackupError(f"{destination} is not empty: back up into a new folder or prefix")
    with tempfile.TemporaryDirectory(prefix="zeke-backup-") as folder:
        dump_path = Path(folder) / DUMP
        counts = dump_database(dump_path)
        target.write_bytes(DUMP, dump_path.read_bytes())
    manifest = {
        "format": FORMAT_VERSION,
        "created_at": timezone.now().isoformat(),
        "engine": connection.vendor,
        "tables": counts,
        "storage": _copy_storage_objects(target),
    }
    target.write_bytes(MANIFEST, json.dumps(manifest, indent=2, sort_keys=True).encode())
    return manifest


def _read_manifest(source, url: str) -> dict:
    if not source.exists(MANIFEST):
        raise BackupError(f"{url} holds no {MANIFEST}: not a ZEKE RFT backup")
    manifest = json.loads(source.read_bytes(MANIFEST))
    if manifest.get("format") != FORMAT_VERSION:
        raise BackupError(f"{url}: backup format {manifest.get('format')!r} is not {FORMAT_VERSION}")
    if manifest["engine"] != connection.vendor:
        raise BackupError(f"{url} is a {manifest['engine']} backup; this database is {connection.vendor}")
    return manifest


def _verified_objects(source, manifest: dict) -> dict[str, bytes]:
    """Every object of the backup, read and checked against the manifest before anything is written."""
    objects = {}
    for entry in manifest["storage"]:
        data = source.read_bytes(f"storage/{entry['key']}")
        if sha256_bytes(data) != entry["sha256"]:
            raise BackupError(
                f"storage/{entry['key']} does not match its sha256 in the manifest: the backup is damaged"
            )
        objects[entry["key"]] = data
    return objects


def _check_restored(manifest: dict) -> dict:
    counts = table_counts()
    wrong = {t: (n, counts.get(t)) for t, n in manifest["tables"].items() if counts.get(t) != n}
    if wrong:
        raise BackupError(f"restored row counts differ from the manifest (table: expected, found): {wrong}")
    storage = get_storage()
    bad = [e["key"] for e in manifest["storage"] if sha256_bytes(storage.read_bytes(e["key"])) != e["sha256"]]
    if bad:
        raise BackupError(f"restored storage objects differ from the manifest: {bad}")
    return {"tables": len(counts), "rows": sum(counts.values()), "objects": len(manifest["storage"])}


def backup_restore(*, source: str) -> dict:
    """Restore a backup into an empty database and the configured storage; checks every count and hash."""
    backup = _destination(source)
    manifest = _read_manifest(backup, source)
    existing = database_tables()
    if existing:
        raise BackupError(
            f"restore needs an empty database; {connection.settings_dict['NAME']} has {len(existing)} tables "
            "(create a new database, or drop its tables first)"
        )
    objects = _verified_objects(backup, manifest)
    with tempfile.TemporaryDirectory(prefix="zeke-restore-") as folder:
        dump_path = Path(folder) / DUMP
        dump_path.write_bytes(backup.read_bytes(DUMP))
        restore_database(dump_path)
    storage = get_storage()
    for key, data in objects.items():
        storage.write_bytes(key, data)
    return _check_restored(manifest)
