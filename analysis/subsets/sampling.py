"""The sampling contract shared by the report and every ablation recipe.

One seeded ranker and one pair of allocation helpers, so the same seed picks the same rows wherever
rows are drawn:

* :func:`row_ids` — a content-derived id per row (a keyed hash of ``image_name``, ``question``,
  ``chosen``, ``rejected``; whichever of them the frame has), independent of the order rows were read;
* :func:`rank` — a seeded priority per row, drawn over the rows sorted by id: the same ids and seed
  give the same priorities whatever the frame's order;
* :func:`proportional_allocation` (largest remainder) and :func:`nested_allocations` (Balinski and
  Young's quota method: also nested as the size grows) — rows per stratum;
* :func:`stratified_positions` — allocation + ranker: inside each stratum the rows of lowest priority;
  :func:`stratified_take` (pool rows, in source order) and :func:`stratified_sample` (index labels of
  any labelled frame, the report's sample) are thin views of it;
* :class:`Subset` — what a sampler returns: row ids plus the parameters that drew them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from spa_vl.errors import UsageError

#: Columns hashed into a row id (those a frame has).
ID_COLUMNS: tuple[str, ...] = ("image_name", "question", "chosen", "rejected")
#: Columns that give a pool's source order.
SOURCE_ORDER: tuple[str, ...] = ("file", "position")


def row_ids(frame: pd.DataFrame) -> pd.Series:
    """Stable, content-derived ids: 16 hex digits of a keyed 64-bit hash of the row's id columns.

    The key is pandas' fixed default (independent of ``PYTHONHASHSEED``); rows with identical
    content get ``-1``, ``-2`` ... suffixes in frame order.

    Parameters
    ----------
    frame : pandas.DataFrame, shape (n, ...)
        Rows holding at least one of :data:`ID_COLUMNS` (all four in the ablation pool).

    Returns
    -------
    pandas.Series of str, shape (n,)
        Ids aligned with ``frame.index``.

    Raises
    ------
    UsageError
        If ``frame`` has none of :data:`ID_COLUMNS`.
    """
    columns = [c for c in ID_COLUMNS if c in frame]
    if not columns:
        raise UsageError(
            f"rows without content columns cannot get row ids: give the frame a row_id column or one of {', '.join(ID_COLUMNS)}"
        )
    hashes = pd.util.hash_pandas_object(frame[columns].fillna(""), index=False).to_numpy()
    # hex of every hash in one pass: big-endian bytes → one hex string → fixed-width slices
    hexed = np.frombuffer(hashes.astype(">u8").tobytes().hex().encode("ascii"), dtype="S16").astype(str)
    ids = pd.Series(hexed, index=frame.index)
    repeat = ids.groupby(ids, sort=False).cumcount()
    return ids.where(repeat == 0, ids + "-" + repeat.astype(str))


def frame_row_ids(frame: pd.DataFrame) -> np.ndarray:
    """The frame's ``row_id`` column if it has one, else :func:`row_ids` of its content.

    Parameters
    ----------
    frame : pandas.DataFrame, shape (n, ...)
        Rows with ``row_id``, or with at least one of :data:`ID_COLUMNS`.

    Returns
    -------
    numpy.ndarray of object (str), shape (n,)
        One id per row, in frame order.

    Raises
    ------
    UsageError
        If ``frame`` has neither ``row_id`` nor any of :data:`ID_COLUMNS`.
    """
    if "row_id" in frame:
        return frame["row_id"].to_numpy(dtype=object)
    return row_ids(frame).to_numpy(dtype=object)


def rank(ids: Sequence[str] | np.ndarray | pd.Series, random_state: int) -> np.ndarray:
    """Seeded priorities: a permutation of ``0..n-1`` drawn over the ids in sorted order.

    Because the draw follows the sorted ids, a row's priority depends on the set of ids and the
    seed only, never on the order the rows arrive in.

    Parameters
    ----------
    ids : sequence of str, shape (n,)
        Distinct row ids (:func:`row_ids`).
    random_state : int
        Seed of the permutation.

    Returns
    -------
    numpy.ndarray of int64, shape (n,)
        ``priority[i]`` for ``ids[i]``; lower is drawn first.
    """
    ids = np.asarray(ids, dtype=object)
    order = np.argsort(ids, kind="stable")
    priority = np.empty(len(ids), np.int64)
    priority[order] = np.random.default_rng(random_state).permutation(len(ids))
    return priority


def proportional_allocation(sizes: pd.Series | Sequence[int], n: int) -> pd.Series:
    """Rows to draw from each stratum for a sample of ``n``: within one row of ``n·size/total``.

    Each stratum gets ``floor(n·share)``; the rows left over go to the largest fractional
    remainders, ties by stratum order.

    Parameters
    ----------
    sizes : pandas.Series or sequence of int, shape (k,)
        Rows in each stratum.
    n : int
        Total rows to draw, ``0 <= n <= sum(sizes)``.

    Returns
    -------
    pandas.Series of int, shape (k,)
        Rows per stratum (same index as ``sizes``), summing to ``n``.

    Raises
    ------
    UsageError
        If ``n`` is negative or larger than the pool.
    """
    sizes = sizes if isinstance(sizes, pd.Series) else pd.Series(list(sizes), dtype=np.int64)
    total = int(sizes.sum())
    if not 0 <= n <= total:
        raise UsageError(f"cannot allocate {n} rows from a pool of {total}: choose a size in 0..{total}")
    if total == 0:
        return sizes.astype(int) * 0
    exact = sizes.to_numpy(dtype=float) * n / total
    base = np.floor(exact).astype(int)
    remainder = exact - base
    extra = n - base.sum()
    # stable sort on -remainder: larger remainders first, ties by stratum order
    base[np.argsort(-remainder, kind="stable")[:extra]] += 1
    return pd.Series(base, index=sizes.index)


def nested_allocations(stratum_sizes: Sequence[int] | np.ndarray, sizes: Sequence[int]) -> dict[int, np.ndarray]:
    """Rows per stratum for each total size: within one row of proportional, and nested.

    The quota method adds one row at a time to the stratum with the highest ``share/(count+1)``
    among those still under their upper quota at the new size, so counts never decrease as the
    size grows (largest-remainder rounding alone is not nested: the Alabama paradox).

    Parameters
    ----------
    stratum_sizes : sequence of int, shape (k,)
        Rows in each stratum.
    sizes : sequence of int
        Total sizes, each at most ``sum(stratum_sizes)``.

    Returns
    -------
    dict of int to numpy.ndarray of int64, shape (k,)
        Size → rows per stratum.
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
    """Sizes sorted, after checking each is in ``1..pool_size`` and given once.

    Parameters
    ----------
    sizes : sequence of int
        Requested subset sizes.
    pool_size : int
        Rows available.
    what : str
        How errors name the pool (``"pool"``, ``"easy pool"``...).

    Returns
    -------
    list of int
        ``sorted(sizes)``.

    Raises
    ------
    UsageError
        On an empty list, a size <= 0 or above ``pool_size``, a non-integer, or a duplicate.
    """
    sizes = list(sizes)
    bad = [s for s in sizes if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s <= 0 or s > pool_size]
    if bad or not sizes:
        raise UsageError(f"size {bad[0] if bad else 'list'} is invalid: the {what} has {pool_size} rows, so sizes must be 1..{pool_size}")
    if len(set(sizes)) != len(sizes):
        dupes = sorted({s for s in sizes if sizes.count(s) > 1})
        raise UsageError(f"duplicate size(s) {dupes}: give each size once; the {what} has {pool_size} rows (valid range 1..{pool_size})")
    return sorted(int(s) for s in sizes)


def strata_codes(frame: pd.DataFrame, strata: Sequence[str] | str) -> np.ndarray:
    """Stratum of each row, numbered in sorted key order (a missing label is its own stratum).

    Parameters
    ----------
    frame : pandas.DataFrame, shape (n, ...)
        Rows holding the ``strata`` columns.
    strata : str or sequence of str
        Columns whose value combination is the stratum.

    Returns
    -------
    numpy.ndarray of int64, shape (n,)
        ``0..k-1`` for the k strata, in sorted key order.

    Raises
    ------
    UsageError
        If a ``strata`` column is not in ``frame``.
    """
    strata = [strata] if isinstance(strata, str) else list(strata)
    missing = [c for c in strata if c not in frame]
    if missing:
        raise UsageError(f"stratum column(s) {', '.join(missing)} not in the rows: choose strata from {', '.join(map(str, frame.columns))}")
    return frame.groupby(strata, sort=True, dropna=False).ngroup().to_numpy(np.int64)


def within_stratum_rank(codes: np.ndarray, priority: np.ndarray) -> np.ndarray:
    """Each row's place inside its stratum by priority (0 = drawn first).

    Parameters
    ----------
    codes : numpy.ndarray of int, shape (n,)
        Stratum of each row (:func:`strata_codes`).
    priority : numpy.ndarray of int, shape (n,)
        :func:`rank` of the rows.

    Returns
    -------
    numpy.ndarray of int64, shape (n,)
        ``0..size-1`` inside each stratum, aligned with ``codes``.
    """
    order = np.lexsort((priority, codes))
    sorted_codes = codes[order]
    first = np.searchsorted(sorted_codes, sorted_codes, side="left")
    place = np.empty(len(codes), np.int64)
    place[order] = np.arange(len(codes)) - first
    return place


def stratified_positions(frame: pd.DataFrame, n: int, strata: Sequence[str] | str, random_state: int) -> np.ndarray:
    """Positions of ``n`` rows of ``frame``: proportional over ``strata``, seeded by row id.

    Each stratum gets :func:`proportional_allocation` rows, and inside it the rows whose
    :func:`rank` (over :func:`frame_row_ids`) is lowest.

    Parameters
    ----------
    frame : pandas.DataFrame, shape (m, ...)
        Rows with ``row_id`` or id columns (:data:`ID_COLUMNS`), and the ``strata`` columns.
    n : int
        Rows to draw, ``0 <= n <= m``.
    strata : str or sequence of str
        Stratum columns.
    random_state : int
        Seed of :func:`rank`.

    Returns
    -------
    numpy.ndarray of int64, shape (n,)
        Positions into ``frame``, ascending.

    Raises
    ------
    UsageError
        If ``n`` is outside ``0..m``, a stratum column is missing, or ``frame`` has no id columns.
    """
    codes = strata_codes(frame, strata)
    quota = proportional_allocation(pd.Series(np.bincount(codes)), n).to_numpy()
    place = within_stratum_rank(codes, rank(frame_row_ids(frame), random_state))
    return np.flatnonzero(place < quota[codes])


def in_source_order(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` sorted by source place (``file``, ``position``) when they have it, renumbered.

    Parameters
    ----------
    rows : pandas.DataFrame, shape (n, ...)
        Rows, with ``file`` and ``position`` if they come from a pool.

    Returns
    -------
    pandas.DataFrame, shape (n, ...)
        The same rows (stable sort), index ``0..n-1``.
    """
    if all(c in rows for c in SOURCE_ORDER):
        rows = rows.sort_values(list(SOURCE_ORDER), kind="stable")
    return rows.reset_index(drop=True)


def stratified_take(pool: pd.DataFrame, n: int, strata: Sequence[str], random_state: int, what: str = "pool") -> pd.DataFrame:
    """``n`` pool rows, proportional over ``strata`` (largest remainder), seeded by row id.

    Parameters
    ----------
    pool : pandas.DataFrame, shape (m, ...)
        Rows with ``row_id`` (or id columns) and the ``strata`` columns.
    n : int
        Rows to take, ``1 <= n <= m``.
    strata : sequence of str
        Stratum columns.
    random_state : int
        Seed of :func:`rank`.
    what : str
        How errors name the pool.

    Returns
    -------
    pandas.DataFrame, shape (n, ...)
        The rows, in source order (``file``, ``position``) when the pool has it.

    Raises
    ------
    UsageError
        If ``n`` is not in ``1..m``, or a stratum column is not in ``pool``.
    """
    check_sizes([n], len(pool), what)
    return in_source_order(pool.iloc[stratified_positions(pool, n, strata, random_state)])


def stratified_sample(frame: pd.DataFrame, n: int, by: Sequence[str] | str, random_state: int = 0) -> pd.Index:
    """Index labels of ``min(n, len(frame))`` rows, stratified by ``by``: the report's sample.

    The same ranker and allocation as :func:`stratified_take`, so over the same rows (same row
    ids) and seed both pick the same rows. A frame without ``row_id`` is ranked by
    :func:`row_ids` of its content columns.

    Parameters
    ----------
    frame : pandas.DataFrame, shape (m, ...)
        Labelled rows with ``row_id`` or id columns, and the ``by`` columns.
    n : int
        Rows wanted; all rows when ``n >= m``.
    by : str or sequence of str
        Stratum columns.
    random_state : int
        Seed of :func:`rank`.

    Returns
    -------
    pandas.Index, shape (min(n, m),)
        Labels of the picked rows, in frame order.

    Raises
    ------
    UsageError
        If a ``by`` column is missing, or ``frame`` has no ``row_id`` nor id columns (when ``n < m``).
    """
    if n >= len(frame):
        return frame.index
    return frame.index[stratified_positions(frame, max(n, 0), by, random_state)]


@dataclass
class Subset:
    """One ablation subset: which pool rows (by id) and how they were drawn.

    Attributes
    ----------
    name : str
        Folder name of the subset (``scale-30000``, ``qtype-easy``...).
    recipe : str
        The sampler's registry name (``scale``, ``question-type``...).
    parameters : dict
        The parameters that drew it (JSON-able; recorded in the manifest).
    row_ids : list of str, shape (n,)
        The rows, in source order of the pool they were drawn from.
    metrics : dict
        Numbers measured on the subset (e.g. ``vendi_score``).
    """

    name: str
    recipe: str
    parameters: dict[str, Any]
    row_ids: list[str]
    metrics: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.row_ids, list):
            self.row_ids = list(self.row_ids)

    def __len__(self) -> int:
        return len(self.row_ids)

    @classmethod
    def of_rows(cls, name: str, recipe: str, parameters: dict[str, Any], rows: pd.DataFrame, metrics: dict[str, Any] | None = None) -> Subset:
        """A subset of the given pool rows (their ``row_id``, in source order).

        Parameters
        ----------
        name : str
            Folder name of the subset.
        recipe : str
            The sampler's registry name.
        parameters : dict of str to object
            The parameters that drew the rows (JSON-able).
        rows : pandas.DataFrame, shape (n, ...)
            Pool rows with ``row_id`` (and ``file``, ``position`` for source order).
        metrics : dict of str to object, optional
            Numbers measured on the subset (copied; empty when None).

        Returns
        -------
        Subset
            ``len(rows)`` row ids.
        """
        return cls(name, recipe, parameters, in_source_order(rows)["row_id"].tolist(), dict(metrics or {}))

    def positions_in(self, pool: pd.DataFrame) -> np.ndarray:
        """Positions of the subset's rows in ``pool``, in the subset's order.

        Parameters
        ----------
        pool : pandas.DataFrame, shape (m, ...)
            A frame with ``row_id`` (the pool the subset was drawn from, or any superset).

        Returns
        -------
        numpy.ndarray of int64, shape (n,)
            ``pool`` positions (``iloc``) of :attr:`row_ids`.

        Raises
        ------
        UsageError
            If some ids are not in ``pool``.
        """
        positions = pd.Index(pool["row_id"]).get_indexer(pd.Index(self.row_ids, dtype=object))
        missing = int((positions < 0).sum())
        if missing:
            first = self.row_ids[int(np.argmax(positions < 0))]
            raise UsageError(
                f"subset {self.name}: {missing} of {len(self)} row id(s) (first {first}) are not in the pool: "
                "resolve it against the pool it was drawn from (train_pool of the same source)"
            )
        return positions.astype(np.int64)

    def rows_in(self, pool: pd.DataFrame) -> pd.DataFrame:
        """The subset's rows of ``pool``, in the subset's order.

        Parameters
        ----------
        pool : pandas.DataFrame, shape (m, ...)
            A frame with ``row_id``.

        Returns
        -------
        pandas.DataFrame, shape (n, ...)
            Copies of the pool rows, renumbered ``0..n-1``.

        Raises
        ------
        UsageError
            If some ids are not in ``pool``.
        """
        return pool.iloc[self.positions_in(pool)].reset_index(drop=True)

    def strata_counts(self, pool: pd.DataFrame, strata: Sequence[str] = ("class1", "question_type")) -> dict[str, int]:
        """Rows per stratum, computed from ``pool``, keyed ``"<class1>|<question_type>"``.

        Parameters
        ----------
        pool : pandas.DataFrame, shape (m, ...)
            A frame with ``row_id`` and the ``strata`` columns.
        strata : sequence of str
            Stratum columns; their values are joined with ``|`` in this order.

        Returns
        -------
        dict of str to int
            Sorted by key; strata without rows are left out.

        Raises
        ------
        UsageError
            If some ids are not in ``pool``.
        """
        counts = self.rows_in(pool).groupby(list(strata)).size()
        return {"|".join(map(str, k if isinstance(k, tuple) else (k,))): int(v) for k, v in counts.items()}
