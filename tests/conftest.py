"""Shared fixtures: one small sample per session, hermetic caches, no network."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

SAMPLE_ROWS = 300


@pytest.fixture(scope="session", autouse=True)
def _hermetic_caches(tmp_path_factory):
    """Every cache (sample, datasets, embeddings) lives in this session's temp folder."""
    root = tmp_path_factory.mktemp("caches")
    saved = {k: os.environ.get(k) for k in ("SPA_VL_CACHE", "HF_DATASETS_CACHE", "HF_HUB_OFFLINE")}
    os.environ["SPA_VL_CACHE"] = str(root / "spa-vl")
    os.environ["HF_DATASETS_CACHE"] = str(root / "datasets")
    os.environ["HF_HUB_OFFLINE"] = "1"  # nothing in the suite may reach a network
    yield root
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory) -> Path:
    """A small synthetic SPA-VL in the hub layout (read-only: copy it before changing anything)."""
    from spa_vl.sample import generate_sample

    return generate_sample(tmp_path_factory.mktemp("sample") / "spa-vl", rows=SAMPLE_ROWS, seed=7)


@pytest.fixture
def mirror(sample_dir, tmp_path) -> Path:
    """A private, writable copy of the sample, for tests that damage or edit it."""
    target = tmp_path / "mirror"
    shutil.copytree(sample_dir, target)
    return target
