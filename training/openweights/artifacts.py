"""Model folders stored as one deterministic tar through zeke_rft.storage, with its sha256."""

import io
import tarfile
from pathlib import Path

from zeke_rft.hashing import sha256_bytes
from zeke_rft.storage import get_storage


def directory_tar(path: Path) -> bytes:
    """The folder's files as an uncompressed tar with fixed metadata: the same files give the same bytes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for file in sorted(p for p in Path(path).rglob("*") if p.is_file()):
            info = tarfile.TarInfo(str(file.relative_to(path)))
            info.size, info.mode, info.mtime = file.stat().st_size, 0o644, 0
            with file.open("rb") as handle:
                tar.addfile(info, handle)
    return buffer.getvalue()


def directory_store(path: Path, *, key: str) -> dict:
    """Write the folder's tar to storage; {"key", "sha256", "bytes", "files"}."""
    blob = directory_tar(path)
    get_storage().write_bytes(key, blob)
    files = sorted(str(p.relative_to(path)) for p in Path(path).rglob("*") if p.is_file())
    return {"key": key, "sha256": sha256_bytes(blob), "bytes": len(blob), "files": files}
