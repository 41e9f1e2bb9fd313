"""Helpers for tests that edit a mirror folder."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
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
