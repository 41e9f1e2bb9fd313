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


# --- the export tests: a mirror with non-ASCII texts and one export in every format -----------------

EXPORT_FORMATS = ["parquet", "rlhf", "trl", "llamafactory"]


@pytest.fixture(scope="session")
def unicode_mirror(sample_dir, tmp_path_factory) -> Path:
    """A copy of the sample whose chosen responses end in non-ASCII text (Parquet and meta files)."""
    from helpers import non_ascii_mirror

    return non_ascii_mirror(sample_dir, tmp_path_factory.mktemp("unicode") / "spa-vl")


@pytest.fixture(scope="session")
def unicode_pool(unicode_mirror):
    """The train pool of :func:`unicode_mirror`."""
    from spa_vl.analysis.subsets.ablation import train_pool

    return train_pool(unicode_mirror)


@pytest.fixture(scope="session")
def all_formats(unicode_mirror, unicode_pool, tmp_path_factory):
    """Two nested subsets (a tenth and a third of the pool) in every format, seed 5."""
    from spa_vl.analysis.subsets.ablation import ScaleLadder
    from spa_vl.analysis.writers.export import export_subsets

    n = len(unicode_pool)
    subsets = ScaleLadder(sizes=[max(n // 10, 5), max(n // 3, 10)], random_state=5).sample(unicode_pool)
    out = tmp_path_factory.mktemp("all-formats") / "subsets"
    folders = export_subsets(unicode_mirror, subsets, out, pool=unicode_pool, formats=EXPORT_FORMATS, seed=5, progress=False)
    return {"out": out, "folders": folders, "subsets": subsets, "rows": [s.rows_in(unicode_pool) for s in subsets]}
