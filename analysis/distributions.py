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

from .records import Record

Counts: TypeAlias = "Mapping[str, int] | pd.Series"


def _positive(counts: Counts) -> np.ndarray:
    values = np.asarray(list(counts.values()) if isinstance(counts, Mapping) else counts.to_numpy(), dtype=float)
    if (values < 0).any():
        raise ValueError("counts must be non-negative")
    return values[values > 0]


def shannon_entropy(counts: Counts, base: float = 2.0) -> float:
    """Entropy of a count distribution (bits by default); 0 for one category or no rows."""
    values = _positive(counts)
    if values.sum() == 0:
        return 0.0
    p = values / values.sum()
    return float(-(p * np.log(p)).sum() / np.log(base))


def normalized_entropy(counts: Counts) -> float:
    """Entropy divided by its maximum ``log(k)`` over the ``k`` observed categories (1 = uniform)."""
    k = len(_positive(counts))
    return shannon_entropy(counts) / np.log2(k) if k > 1 else 0.0


def effective_number(counts: Counts) -> float:
    """``exp(entropy)``: how many equally common categories would give the same entropy."""
    return float(2.0 ** shannon_entropy(counts)) if len(_positive(counts)) else 0.0


def imbalance_ratio(counts: Counts) -> float:
    """Largest over smallest observed category count (1 = balanced; nan with no rows)."""
    values = _positive(counts)
    return float(values.max() / values.min()) if len(values) else float("nan")


def js_divergence(p: Counts, q: Counts, base: float = 2.0) -> float:
    """Jensen-Shannon divergence of two count distributions over the union of their labels.

    In bits, between 0 (same shares) and 1 (disjoint support); nan if either has no rows.
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
    """Balance measures of one distribution."""

    rows: int
    categories: int
    entropy_bits: float
    normalized_entropy: float
    effective_number: float
    imbalance_ratio: float


def balance(counts: Counts) -> Balance:
    """All balance measures of a count distribution."""
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
    """Label × split count table of one level (labels as rows, ``unknown`` included)."""
    if frame.empty:
        return pd.DataFrame(dtype=int)
    return pd.crosstab(frame[level], frame[SPLIT]).reindex(columns=list(dict.fromkeys(frame[SPLIT])))


def shares_by_split(frame: pd.DataFrame, level: str) -> pd.DataFrame:
    """Like :func:`counts_by_split`, each column divided by its total."""
    counts = counts_by_split(frame, level)
    return counts / counts.sum().replace(0, np.nan)


def crosstab(frame: pd.DataFrame, rows: str, columns: str, normalize: bool | str = False) -> pd.DataFrame:
    """A cross-tab of two columns (e.g. ``class1`` × ``question_type``, ``class2`` × ``split``)."""
    if frame.empty:
        return pd.DataFrame(dtype=float)
    return pd.crosstab(frame[rows], frame[columns], normalize=normalize)


def balance_by_split(frame: pd.DataFrame, level: str) -> pd.DataFrame:
    """One row of balance measures per split for one level."""
    counts = counts_by_split(frame, level)
    return pd.DataFrame({split: balance(counts[split]).to_dict() for split in counts.columns}).T


def divergence_between_splits(frame: pd.DataFrame, level: str) -> pd.DataFrame:
    """Pairwise Jensen-Shannon divergence (bits) between the splits' distributions of one level."""
    counts = counts_by_split(frame, level)
    splits = list(counts.columns)
    return pd.DataFrame(
        [[js_divergence(counts[a], counts[b]) for b in splits] for a in splits], index=splits, columns=splits
    )
