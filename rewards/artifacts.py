"""Reward model artifacts in the storage layer: joblib bytes + sha256, checked on every load.

Loaded artifacts are cached per process by (version, sha256): a new version or a
re-trained artifact gets a new key, and nothing stale is served.
"""

import io
import threading

import joblib

from zeke_rft.errors import ApplicationError
from zeke_rft.hashing import sha256_bytes
from zeke_rft.storage import get_storage

_cache: dict[tuple[str, str], dict] = {}
_cache_lock = threading.Lock()


class ArtifactIntegrityError(ApplicationError):
    """The stored artifact is missing or its sha256 differs from the one recorded."""


def artifact_key(version: str) -> str:
    return f"reward_models/{version}/model.joblib"


def artifact_serialize(artifact: dict) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(artifact, buffer, compress=3)
    return buffer.getvalue()


def artifact_write(*, version: str, artifact: dict) -> tuple[str, str]:
    """Write the artifact; returns (key, sha256)."""
    data = artifact_serialize(artifact)
    key = artifact_key(version)
    get_storage().write_bytes(key, data)
    return key, sha256_bytes(data)


def artifact_load(reward_model) -> dict:
    """The artifact of a RewardModel, refusing one whose bytes do not match artifact_sha256."""
    cache_key = (reward_model.version, reward_model.artifact_sha256)
    with _cache_lock:
        if cache_key in _cache:
            return _cache[cache_key]
    storage = get_storage()
    if not storage.exists(reward_model.artifact_key):
        raise ArtifactIntegrityError(
            f"artifact of reward model {reward_model.version} is missing at {reward_model.artifact_key}"
        )
    data = storage.read_bytes(reward_model.artifact_key)
    actual = sha256_bytes(data)
    if actual != reward_model.artifact_sha256:
        raise ArtifactIntegrityError(
            f"artifact of reward model {reward_model.version} fails its sha256 check "
            f"(expected {reward_model.artifact_sha256[:12]}…, got {actual[:12]}…); refusing to load it"
        )
    artifact = joblib.load(io.BytesIO(data))
    with _cache_lock:
        _cache[cache_key] = artifact
    return artifact


def artifact_cache_clear() -> None:
    with _cache_lock:
        _cache.clear()
