"""Shared fixtures of the export tests: a mirror with non-ASCII texts and one export in every format.

Imported by the ``test_export_*`` modules (``from test_export_support import ...``); it holds no tests.
Expectations are derived from the train pool and the Parquet files, never hard-coded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from analysis.ablation import ScaleLadder, train_pool
from analysis.export import export_subsets

#: Appended to every response of the mirror: accents, CJK, symbols, a non-BMP character.
NON_ASCII = " Caf\u00e9 \u2602 \u5b89\u5168 \u2014 \u00fc\u00df \U0001f6e1"
FORMATS = ["parquet", "rlhf", "trl", "llamafactory"]


def _replace_strings(value, mapping: dict[str, str]):
    if isinstance(value, str):
        return mapping.get(value, value)
    if isinstance(value, list):
        return [_replace_strings(v, mapping) for v in value]
    if isinstance(value, dict):
        return {k: _replace_strings(v, mapping) for k, v in value.items()}
    return value


def non_ascii_mirror(sample_dir: Path, target: Path) -> Path:
    """A copy of the sample whose chosen responses end in :data:`NON_ASCII`, in the Parquet files
    and, consistently, in every meta file (so labels still match rows by their text)."""
    shutil.copytree(sample_dir, target)
    mapping: dict[str, str] = {}
    for path in sorted(target.rglob("*.parquet")):
        table = pq.read_table(path)
        if "chosen" not in table.column_names:
            continue
        old = table.column("chosen")
        new = pc.binary_join_element_wise(old, pa.scalar(NON_ASCII), "")
        mapping.update(zip(old.to_pylist(), new.to_pylist()))
        pq.write_table(table.set_column(table.column_names.index("chosen"), "chosen", new), path)
    for path in sorted((target / "meta_files").rglob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        path.write_text(json.dumps(_replace_strings(data, mapping), ensure_ascii=False), encoding="utf-8")
    for path in sorted((target / "meta_files").rglob("*.jsonl")):
        lines = [json.dumps(_replace_strings(json.loads(line), mapping), ensure_ascii=False) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


@pytest.fixture(scope="session")
def unicode_mirror(sample_dir, tmp_path_factory) -> Path:
    return non_ascii_mirror(sample_dir, tmp_path_factory.mktemp("unicode") / "spa-vl")


@pytest.fixture(scope="session")
def unicode_pool(unicode_mirror):
    return train_pool(unicode_mirror)


@pytest.fixture(scope="session")
def all_formats(unicode_mirror, unicode_pool, tmp_path_factory):
    """Two nested subsets (a tenth and a third of the pool) in every format, seed 5."""
    n = len(unicode_pool)
    subsets = ScaleLadder(sizes=[max(n // 10, 5), max(n // 3, 10)], random_state=5).sample(unicode_pool)
    out = tmp_path_factory.mktemp("all-formats") / "subsets"
    folders = export_subsets(unicode_mirror, subsets, out, pool=unicode_pool, formats=FORMATS, seed=5, progress=False)
    return {"out": out, "folders": folders, "subsets": subsets, "rows": [s.rows_in(unicode_pool) for s in subsets]}


def c_locale_python(code: str, *, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``code`` in a Python whose locale is plain C and whose default text encoding is ASCII
    (UTF-8 mode and C-locale coercion off), from ``cwd``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "PYTHONUTF8", "PYTHONIOENCODING"))}
    env.update({"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0", "PYTHONIOENCODING": "ascii:backslashreplace"})
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, encoding="ascii", errors="backslashreplace")
