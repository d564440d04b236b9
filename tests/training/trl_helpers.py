"""Shared by the TRL backend's tests and bench/trl_learning.py: the tiny local model, built once per process."""

import os
from pathlib import Path

import pytest

TRL_MISSING_REASON = "the trl backend's tests need the training extra: make install-train (requirements-train.txt)"


def require_trl_extra():
    from training.openweights.backend import trl_missing_modules

    if trl_missing_modules():
        pytest.skip(TRL_MISSING_REASON)


_built: dict[str, Path] = {}


def tiny_model_path(root: Path) -> Path:
    """A tiny Llama + byte-level BPE tokenizer saved under `root` (nothing downloaded)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    if str(root) not in _built:
        from training.openweights.tiny_model import tiny_model_build

        _built[str(root)] = tiny_model_build(root / "tiny-llama")
    return _built[str(root)]


# Small enough for CPU tests: 2 prompts × 2 generations per step, short completions.
TINY_TRL_CONFIG = {
    "batch_size": 4,
    "episode_length": 1,
    "trl": {
        "num_generations": 2,
        "max_steps": 3,
        "max_completion_length": 12,
        "max_length": 256,
        "save_steps": 2,
        "learning_rate": 1e-3,
    },
}
