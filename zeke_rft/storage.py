"""A small storage layer: callers speak in keys ("logs/2026-12-01/part-0000.parquet").

The local backend writes under a folder (TRACE_STORAGE_URL, default var/storage).
An S3 backend can be added here for s3:// URLs without changing any caller.
"""

import os
import tempfile
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


def storage_from_url(url: str):
    parsed = urlparse(url)
    if parsed.scheme in ("", "file"):
        return LocalStorage(parsed.path if parsed.scheme == "file" else url)
    if parsed.scheme == "s3":
        raise ImproperlyConfigured(
            f"TRACE_STORAGE_URL={url!r}: the S3 backend is not installed in this build; "
            "use a local folder or file:// URL"
        )
    raise ImproperlyConfigured(
        f"TRACE_STORAGE_URL scheme {parsed.scheme!r} is not supported (use a folder, file:// or s3://)"
    )


def get_storage():
    """The storage configured by TRACE_STORAGE_URL (read at call time, not import time)."""
    return storage_from_url(settings.TRACE_STORAGE_URL)
