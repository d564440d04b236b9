"""A small storage layer: callers speak in keys ("logs/2026-12-01/part-0000.parquet").

The local backend writes under a folder (TRACE_STORAGE_URL, default var/storage);
`s3://bucket/prefix` writes to S3 or any S3-compatible server through boto3, configured
by the standard AWS variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_DEFAULT_REGION, AWS_ENDPOINT_URL). Callers never see which.
"""

import os
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlparse

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class LocalStorage:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def __repr__(self):
        return f"LocalStorage({str(self.root)!r})"

    def path(self, key: str) -> Path:
        """Absolute path for a key; refuses keys that would escape the root."""
        candidate = (self.root / key).resolve()
        if self.root.resolve() not in candidate.parents and candidate != self.root.resolve():
            raise ValueError(f"storage key {key!r} escapes the storage root")
        return candidate

    def url(self, key: str) -> str:
        return self.path(key).as_uri()

    def write_bytes(self, key: str, data: bytes) -> str:
        """Write atomically (temp file + rename) so readers never see half a file."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp_name, target)
        except BaseException:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
            raise
        return key

    def read_bytes(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self.path(key).exists()

    def delete(self, key: str) -> None:
        target = self.path(key)
        if target.exists():
            target.unlink()

    def list(self, prefix: str = "") -> list[str]:
        base = self.path(prefix) if prefix else self.root
        if not base.exists():
            return []
        return sorted(
            str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file() and not p.name.startswith(".tmp-")
        )


_AWS_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_PROFILE")
_s3_clients: dict[tuple, object] = {}
_s3_clients_lock = threading.Lock()


def _s3_client():
    """A boto3 S3 client for the current AWS_* variables (clients are thread-safe and costly to build)."""
    import boto3

    key = tuple(os.environ.get(name) for name in _AWS_VARIABLES)
    with _s3_clients_lock:
        if key not in _s3_clients:
            _s3_clients[key] = boto3.client("s3")
        return _s3_clients[key]


class S3Storage:
    """Keys under s3://bucket/prefix. One PUT per write: S3 never shows half an object."""

    def __init__(self, *, bucket: str, prefix: str = "", client=None):
        self.bucket, self.prefix = bucket, prefix
        self._client = client

    def __repr__(self):
        return f"S3Storage({self.url('')!r})"

    @property
    def client(self):
        if self._client is None:
            self._client = _s3_client()
        return self._client

    def _object_key(self, key: str) -> str:
        if key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"storage key {key!r} escapes the storage root")
        return f"{self.prefix}/{key}" if self.prefix else key

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._object_key(key)}" if key else f"s3://{self.bucket}/{self.prefix}"

    def write_bytes(self, key: str, data: bytes) -> str:
        self.client.put_object(Bucket=self.bucket, Key=self._object_key(key), Body=data)
        return key

    def read_bytes(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self._object_key(key))["Body"].read()

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._object_key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._object_key(key))

    def list(self, prefix: str = "") -> list[str]:
        start = f"{self.prefix}/" if self.prefix else ""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start + prefix)
        return sorted(item["Key"][len(start) :] for page in pages for item in page.get("Contents", []))


def storage_from_url(url: str):
    parsed = urlparse(url)
    if parsed.scheme in ("", "file"):
        return LocalStorage(parsed.path if parsed.scheme == "file" else url)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ImproperlyConfigured(f"TRACE_STORAGE_URL={url!r} names no bucket (s3://bucket/prefix)")
        return S3Storage(bucket=parsed.netloc, prefix=parsed.path.strip("/"))
    raise ImproperlyConfigured(
        f"TRACE_STORAGE_URL scheme {parsed.scheme!r} is not supported (use a folder, file:// or s3://)"
    )


def get_storage():
    """The storage configured by TRACE_STORAGE_URL (read at call time, not import time)."""
    return storage_from_url(settings.TRACE_STORAGE_URL)
