"""Ablation subsets of the train config: nested scale ladders and diversity recipes.

The pool (:func:`train_pool`) has one row per train item with a stable, content-derived
``row_id``, its labels, and its place in the source (``file``, ``position``). Samplers follow the
scikit-learn habit: constructor parameters (with ``random_state``), then ``sample(pool)`` returning
:class:`Subset` objects. Randomness is drawn over the pool sorted by ``row_id``, so the same seed
picks the same rows whatever order the shards were read in.

Stratified allocations use :func:`nested_allocations` (Balinski and Young's quota method): every
stratum's count is within one row of proportional at every size, and counts never decrease as the
size grows, so a ladder's subsets are nested. (Largest-remainder rounding alone is not nested: the
Alabama paradox.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from spa_vl.errors import SpaVLError
from spa_vl.columns import MODEL_COLUMNS
from spa_vl.labels import label_batch
from spa_vl.meta import read_meta_index
from spa_vl.sources import Source, resolve_source
from spa_vl.tables import check_schema, open_parquet, split_files
from spa_vl.taxonomy import LABEL_COLUMNS, QUESTION_TYPE, UNKNOWN

from .sampling import proportional_allocation

DEFAULT_SIZES: tuple[int, ...] = (100, 1_000, 5_000, 10_000, 30_000, 90_000)
DEFAULT_STRATA: tuple[str, ...] = ("class1", QUESTION_TYPE)
ID_COLUMNS: tuple[str, ...] = ("image_name", "question", "chosen", "rejected")


def row_ids(frame: pd.DataFrame) -> pd.Series:
    """Stable ids from row content (``image_name``, ``question``, ``chosen``, ``rejected``).

    A keyed 64-bit hash (pandas' fixed default key, independent of ``PYTHONHASHSEED``) as 16 hex
    digits; rows with identical content get ``-1``, ``-2`` ... suffixes in source order.
    """
    columns = [c for c in ID_COLUMNS if c in frame]
    hashes = pd.util.hash_pandas_object(frame[columns].fillna(""), index=False).to_numpy()
    ids = pd.Series([format(h, "016x") for h in hashes.tolist()], index=frame.index)
    repeat = ids.groupby(ids).cumcount()
    return ids.where(repeat == 0, ids + "-" + repeat.astype(str))


def train_pool(source: str | os.PathLike | Source = "sample") -> pd.DataFrame:
    """Every train row: ``row_id``, ``file``, ``position``, labels (``unknown`` where unknown),
    ``chosen_model``/``rejected_model`` (None where the meta files do not say) and ``question``;
    sorted by ``row_id``. Images are not read.
    """
    source = resolve_source(source)
    meta = read_meta_index(source)
    frames = []
    for file_index, path in enumerate(split_files(source, "train", "train")):
        parquet = open_parquet(source, path)
        check_schema(parquet.schema_arrow, "train", path)
        table = parquet.read(columns=[c for c in ID_COLUMNS if c in parquet.schema_arrow.names])
        view = label_batch(table, meta, models=True)
        frame = table.to_pandas()
        frame[[*LABEL_COLUMNS, *MODEL_COLUMNS]] = view.select([*LABEL_COLUMNS, *MODEL_COLUMNS]).to_pandas()
        frame["file"], frame["position"] = file_index, np.arange(len(frame))
        frames.append(frame)
    pool = pd.concat(frames, ignore_index=True)
    pool.insert(0, "row_id", row_ids(pool))
    pool[list(LABEL_COLUMNS)] = pool[list(LABEL_COLUMNS)].fillna(UNKNOWN)
    keep = ["row_id", "file", "position", *LABEL_COLUMNS, "chosen_model", "rejected_model", "question"]
    return pool[keep].sort_values("row_id", kind="stable").reset_index(drop=True)


@dataclass
class Subset:
    """One ablation subset: which pool rows, how it was drawn, and what it holds."""

    name: str
    recipe: str
    parameters: dict[str, Any]
    rows: pd.DataFrame  # pool rows, in source order (file, position)
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def row_ids(self) -> list[str]:
        return self.rows["row_id"].tolist()

    def strata_counts(self, strata: Sequence[str] = DEFAULT_STRATA) -> dict[str, int]:
        """Rows per stratum, keyed ``"<class1>|<question_type>"``."""
        counts = self.rows.groupby(list(strata)).size()
        return {"|".join(map(str, k if isinstance(k, tuple) else (k,))): int(v) for k, v in counts.items()}


def nested_allocations(stratum_sizes: Sequence[int], sizes: Sequence[int]) -> dict[int, np.ndarray]:
    """Rows per stratum for each total size: within one row of proportional, and nested.

    The quota method adds one row at a time to the stratum with the highest ``share/(count+1)``
    among those still under their upper quota at the new size.
    """
    capacity = np.asarray(stratum_sizes, dtype=np.int64)
    share = capacity / capacity.sum()
    targets, counts, out = set(sizes), np.zeros(len(capacity), np.int64), {}
    for h in range(1, max(sizes) + 1):
        eligible = (counts + 1 <= np.ceil(h * share - 1e-9)) & (counts < capacity)
        counts[np.argmax(np.where(eligible, share / (counts + 1), -1.0))] += 1
        if h in targets:
            out[h] = counts.copy()
    return out


def check_sizes(sizes: Sequence[int], pool_size: int, what: str = "pool") -> list[int]:
    """Sizes sorted; error on a size <= 0, a duplicate, or one larger than the pool."""
    bad = [s for s in sizes if s <= 0 or s > pool_size]
    if bad or not sizes:
        raise SpaVLError(f"size {bad[0] if bad else 'list'} is invalid: the {what} has {pool_size} rows, so sizes must be 1..{pool_size}")
    if len(set(sizes)) != len(sizes):
        dupes = sorted({s for s in sizes if list(sizes).count(s) > 1})
        raise SpaVLError(f"duplicate size(s) {dupes}: give each size once; the {what} has {pool_size} rows (valid range 1..{pool_size})")
    return sorted(sizes)


def _priority(pool: pd.DataFrame, random_state: int) -> np.ndarray:
    # a seeded permutation over the pool in row_id order: independent of shard order
    order = np.argsort(pool["row_id"].to_numpy(), kind="stable")
    priority = np.empty(len(pool), np.int64)
    priority[order] = np.random.default_rng(random_state).permutation(len(pool))
    return priority


def _ranked(pool: pd.DataFrame, strata: Sequence[str], random_state: int) -> pd.DataFrame:
    ranked = pool.assign(_priority=_priority(pool, random_state)).sort_values([*strata, "_priority"], kind="stable")
    ranked["_rank"] = ranked.groupby(list(strata), sort=False).cumcount()
    return ranked


def _in_source_order(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.drop(columns=["_priority", "_rank"], errors="ignore").sort_values(["file", "position"]).reset_index(drop=True)


def stratified_take(pool: pd.DataFrame, n: int, strata: Sequence[str], random_state: int, what: str = "pool") -> pd.DataFrame:
    """``n`` pool rows, proportional over ``strata`` (largest remainder), seeded."""
    check_sizes([n], len(pool), what)
    ranked = _ranked(pool, strata, random_state)
    sizes = ranked.groupby(list(strata), sort=True).size()
    quota = proportional_allocation(sizes, n)
    limit = ranked.set_index(list(strata)).index.map(quota.to_dict())
    return _in_source_order(ranked[ranked["_rank"].to_numpy() < np.asarray(limit)])


@dataclass
class ScaleLadder:
    """Nested subsets of increasing size, stratified by ``strata`` (proportional allocation)."""

    sizes: Sequence[int] = DEFAULT_SIZES
    strata: Sequence[str] = DEFAULT_STRATA
    random_state: int = 0

    def sample(self, pool: pd.DataFrame) -> list[Subset]:
        sizes = check_sizes(list(self.sizes), len(pool))
        ranked = _ranked(pool, self.strata, self.random_state)
        strata_sizes = ranked.groupby(list(self.strata), sort=True).size()
        allocations = nested_allocations(strata_sizes.to_numpy(), sizes)
        keys = ranked.set_index(list(self.strata)).index
        subsets = []
        for n in sizes:
            limit = np.asarray(keys.map(dict(zip(strata_sizes.index, allocations[n].tolist()))))
            rows = _in_source_order(ranked[ranked["_rank"].to_numpy() < limit])
            params = {"size": n, "sizes": sizes, "strata": list(self.strata), "seed": self.random_state}
            subsets.append(Subset(f"scale-{n}", "scale", params, rows))
        return subsets
