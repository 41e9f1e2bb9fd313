"""Taxonomy distributions and balance measures.

Counts and shares per split at each level, cross-tabs, and balance: Shannon entropy (bits), its
normalised form, the effective number of categories, the imbalance ratio, and the Jensen-Shannon
divergence between two distributions. Unknown labels are a category of their own, never dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import pandas as pd

from spa_vl.columns import SPLIT
from spa_vl.taxonomy import UNKNOWN

from .records import Record

Counts: TypeAlias = "Mapping[str, int] | pd.Series"


def _positive(counts: Counts) -> np.ndarray:
    values = np.asarray(list(counts.values()) if isinstance(counts, Mapping) else counts.to_numpy(), dtype=float)
    if (values < 0).any():
        raise ValueError("counts must be non-negative")
    return values[values > 0]


def shannon_entropy(counts: Counts, base: float = 2.0) -> float:
    """Entropy of a count distribution (bits by default); 0 for one category or no rows.

    Parameters
    ----------
    counts : Mapping of str to int, or pandas.Series of int
        Count per category; zero counts are ignored.
    base : float, default 2.0
        Logarithm base (2 gives bits).

    Returns
    -------
    float
        ``-sum(p * log(p)) / log(base)`` over the shares ``p`` of the positive counts.

    Raises
    ------
    ValueError
        If a count is negative.
    """
    values = _positive(counts)
    if values.sum() == 0:
        return 0.0
    p = values / values.sum()
    return float(-(p * np.log(p)).sum() / np.log(base))


def normalized_entropy(counts: Counts) -> float:
    """Entropy divided by its maximum ``log(k)`` over the ``k`` observed categories (1 = uniform).

    Parameters
    ----------
    counts : Mapping of str to int, or pandas.Series of int
        Count per category; zero counts are ignored.

    Returns
    -------
    float
        In [0, 1]; 0 when fewer than two categories have rows.

    Raises
    ------
    ValueError
        If a count is negative.
    """
    k = len(_positive(counts))
    return shannon_entropy(counts) / np.log2(k) if k > 1 else 0.0


def effective_number(counts: Counts) -> float:
    """``exp(entropy)``: how many equally common categories would give the same entropy.

    Parameters
    ----------
    counts : Mapping of str to int, or pandas.Series of int
        Count per category; zero counts are ignored.

    Returns
    -------
    float
        ``2 ** entropy_bits`` (the exponential of the entropy in nats); 0 with no rows.

    Raises
    ------
    ValueError
        If a count is negative.
    """
    return float(2.0 ** shannon_entropy(counts)) if len(_positive(counts)) else 0.0


def imbalance_ratio(counts: Counts) -> float:
    """Largest over smallest observed category count (1 = balanced; nan with no rows).

    Parameters
    ----------
    counts : Mapping of str to int, or pandas.Series of int
        Count per category; zero counts are ignored.

    Returns
    -------
    float
        ``max / min`` of the positive counts.

    Raises
    ------
    ValueError
        If a count is negative.
    """
    values = _positive(counts)
    return float(values.max() / values.min()) if len(values) else float("nan")


def js_divergence(p: Counts, q: Counts, base: float = 2.0) -> float:
    """Jensen-Shannon divergence of two count distributions over the union of their labels.

    In bits, between 0 (same shares) and 1 (disjoint support); nan if either has no rows.

    Parameters
    ----------
    p, q : Mapping of str to int, or pandas.Series of int
        Count per label; a label missing from one side counts 0 there.
    base : float, default 2.0
        Logarithm base (2 gives bits, bounded by 1).

    Returns
    -------
    float
        The divergence, or nan.
    """
    p, q = pd.Series(dict(p), dtype=float), pd.Series(dict(q), dtype=float)
    labels = p.index.union(q.index)
    p, q = p.reindex(labels, fill_value=0.0).to_numpy(), q.reindex(labels, fill_value=0.0).to_numpy()
    if p.sum() == 0 or q.sum() == 0:
        return float("nan")
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        mask = a > 0
        return float((a[mask] * np.log(a[mask] / m[mask])).sum())

    return (kl(p) + kl(q)) / 2 / np.log(base)


@dataclass(frozen=True)
class Balance(Record):
    """Balance measures of one distribution.

    Attributes
    ----------
    rows : int
        Total count.
    categories : int
        Categories with a positive count.
    entropy_bits : float
        :func:`shannon_entropy` in bits.
    normalized_entropy : float
        :func:`normalized_entropy`.
    effective_number : float
        :func:`effective_number`.
    imbalance_ratio : float
        :func:`imbalance_ratio` (nan with no rows).
    """

    rows: int
    categories: int
    entropy_bits: float
    normalized_entropy: float
    effective_number: float
    imbalance_ratio: float


def balance(counts: Counts) -> Balance:
    """All balance measures of a count distribution.

    Parameters
    ----------
    counts : Mapping of str to int, or pandas.Series of int
        Count per category; zero counts are ignored.

    Returns
    -------
    Balance
        Every measure of ``counts``.

    Raises
    ------
    ValueError
        If a count is negative.
    """
    values = _positive(counts)
    return Balance(
        rows=int(values.sum()),
        categories=len(values),
        entropy_bits=shannon_entropy(counts),
        normalized_entropy=normalized_entropy(counts),
        effective_number=effective_number(counts),
        imbalance_ratio=imbalance_ratio(counts),
    )


def counts_by_split(frame: pd.DataFrame, level: str) -> pd.DataFrame:
    """Label × split count table of one level (labels as rows, ``unknown`` included).

    Parameters
    ----------
    frame : pandas.DataFrame
        A labelled frame (:func:`spa_vl.analysis.inputs.frames.labelled_frame`) with a ``split`` column.
    level : str
        The label column (``class1``, ``class2``, ``class3``, ``question_type``...).

    Returns
    -------
    pandas.DataFrame of int, shape (labels, splits)
        Rows are the labels (sorted), columns the ``config/split`` keys in first-seen order;
        empty when ``frame`` is.
    """
    if frame.empty:
        return pd.DataFrame(dtype=int)
    return pd.crosstab(frame[level], frame[SPLIT]).reindex(columns=list(dict.fromkeys(frame[SPLIT])))


def shares_by_split(frame: pd.DataFrame, level: str) -> pd.DataFrame:
    """Like :func:`counts_by_split`, each column divided by its total.

    Parameters
    ----------
    frame : pandas.DataFrame
        A labelled frame (:func:`spa_vl.analysis.inputs.frames.labelled_frame`) with a ``split`` column.
    level : str
        The label column (``class1``, ``class2``, ``class3``, ``question_type``...).

    Returns
    -------
    pandas.DataFrame of float, shape (labels, splits)
        Each column sums to 1 (NaN for a split with no rows).
    """
    counts = counts_by_split(frame, level)
    return counts / counts.sum().replace(0, np.nan)


def crosstab(frame: pd.DataFrame, rows: str, columns: str, normalize: bool | str = False) -> pd.DataFrame:
    """A cross-tab of two columns (e.g. ``class1`` × ``question_type``, ``class2`` × ``split``).

    Parameters
    ----------
    frame : pandas.DataFrame
        Any frame with both columns.
    rows : str
        The column whose values index the rows.
    columns : str
        The column whose values index the columns.
    normalize : bool or str, default False
        As :func:`pandas.crosstab`: False for counts, ``"index"`` / ``"columns"`` / ``"all"`` (or
        True) for shares.

    Returns
    -------
    pandas.DataFrame, shape (distinct rows values, distinct columns values)
        Counts or shares; empty when ``frame`` is.
    """
    if frame.empty:
        return pd.DataFrame(dtype=float)
    return pd.crosstab(frame[rows], frame[columns], normalize=normalize)


def is_unknown(labels: pd.Series) -> np.ndarray:
    """Which labels are unknown: the string ``"unknown"`` or null.

    Parameters
    ----------
    labels : pandas.Series, length n
        Label values.

    Returns
    -------
    numpy.ndarray of bool, shape (n,)
        True where the label is unknown.
    """
    return (labels.isna() | (labels == UNKNOWN)).to_numpy(bool)


def known_labels(frame: pd.DataFrame, *levels: str) -> pd.DataFrame:
    """The rows of ``frame`` whose every label in ``levels`` is known (unknown is never a group).

    Parameters
    ----------
    frame : pandas.DataFrame
        A labelled frame (unknown labels are the string ``"unknown"``, or null).
    *levels : str
        The label columns that must be known.

    Returns
    -------
    pandas.DataFrame
        The rows kept, in order; ``attrs["unknown_left_out"]`` is how many rows were dropped.
    """
    keep = np.ones(len(frame), dtype=bool)
    for level in levels:
        keep &= ~is_unknown(frame[level])
    known = frame[keep]
    known.attrs["unknown_left_out"] = int((~keep).sum())
    return known


def unknown_by_split(frame: pd.DataFrame, level: str) -> dict[str, int]:
    """Rows per split whose ``level`` is unknown (left out of balance and divergence).

    Parameters
    ----------
    frame : pandas.DataFrame
        A labelled frame with a ``split`` column.
    level : str
        The label column.

    Returns
    -------
    dict of str to int
        ``config/split`` key → unknown rows, every split of ``frame`` listed.
    """
    unknown = pd.Series(is_unknown(frame[level]), index=frame.index)
    return {str(k): int(v) for k, v in unknown.groupby(frame[SPLIT], sort=False).sum().items()}


def balance_by_split(frame: pd.DataFrame, level: str) -> pd.DataFrame:
    """One row of balance measures per split for one level, over the rows whose label is known.

    Parameters
    ----------
    frame : pandas.DataFrame
        A labelled frame (:func:`spa_vl.analysis.inputs.frames.labelled_frame`) with a ``split`` column.
    level : str
        The label column (``class1``, ``class2``, ``class3``, ``question_type``...).

    Returns
    -------
    pandas.DataFrame, one row per split
        Indexed by ``config/split`` key, with the columns of :class:`Balance`.
    """
    counts = counts_by_split(frame, level).drop(index=UNKNOWN, errors="ignore")  # unknown is not a label
    return pd.DataFrame({split: balance(counts[split]).to_dict() for split in counts.columns}).T


def divergence_between_splits(frame: pd.DataFrame, level: str) -> pd.DataFrame:
    """Pairwise Jensen-Shannon divergence (bits) between the splits' distributions of one level.

    Rows with an unknown label are left out (nan for a split with no known label); see
    :func:`unknown_by_split` for how many.

    Parameters
    ----------
    frame : pandas.DataFrame
        A labelled frame (:func:`spa_vl.analysis.inputs.frames.labelled_frame`) with a ``split`` column.
    level : str
        The label column (``class1``, ``class2``, ``class3``, ``question_type``...).

    Returns
    -------
    pandas.DataFrame of float, shape (splits, splits)
        Symmetric, zero diagonal, indexed both ways by ``config/split`` key.
    """
    counts = counts_by_split(frame, level).drop(index=UNKNOWN, errors="ignore")  # unknown is not a label
    splits = list(counts.columns)
    return pd.DataFrame(
        [[js_divergence(counts[a], counts[b]) for b in splits] for a in splits], index=splits, columns=splits
    )
