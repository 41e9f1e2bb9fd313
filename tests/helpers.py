"""Helpers shared by the tests: editing a mirror folder, a non-ASCII mirror, a C-locale Python."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent


def rewrite_parquet(path: Path, edit: Callable[[pa.Table], pa.Table]) -> None:
    """Apply ``edit`` to a Parquet file's table and write it back."""
    table = pq.read_table(path)
    pq.write_table(edit(table), path)


def set_column(table: pa.Table, name: str, values: list) -> pa.Table:
    """``table`` with column ``name`` replaced by ``values`` (strings)."""
    return table.set_column(table.column_names.index(name), name, pa.array(values, pa.string()))


def tree_digest(folder: Path) -> dict[str, str]:
    """sha256 of every file below ``folder``, keyed by relative path."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


#: Appended to every response of the non-ASCII mirror: accents, CJK, symbols, a non-BMP character.
NON_ASCII = " Caf\u00e9 \u2602 \u5b89\u5168 \u2014 \u00fc\u00df \U0001f6e1"


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


def c_locale_python(code: str, *, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``code`` in a Python whose locale is plain C and whose default text encoding is ASCII
    (UTF-8 mode and C-locale coercion off), from ``cwd``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "PYTHONUTF8", "PYTHONIOENCODING"))}
    env.update({"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0", "PYTHONIOENCODING": "ascii:backslashreplace"})
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, encoding="ascii", errors="backslashreplace")
