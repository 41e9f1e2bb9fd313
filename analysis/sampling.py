"""Stratified sampling: proportional allocation with largest-remainder rounding.

Shared by the report's diversity sample and the ablation subsets, so both keep a source's mix
the same way: each stratum gets ``floor(n·share)`` rows, and the rows left over go to the strata
with the largest fractional remainders (ties broken by stratum order), so every stratum's count
is within one row of exact proportionality.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def proportional_allocation(sizes: pd.Series, n: int) -> pd.Series:
    """Rows to draw from each stratum for a sample of ``n``: within one row of ``n·size/total``."""
    total = int(sizes.sum())
    if not 0 <= n <= total:
        raise ValueError(f"cannot allocate {n} rows from a pool of {total}")
    if total == 0:
        return sizes.astype(int) * 0
    exact = sizes.to_numpy(dtype=float) * n / total
    base = np.floor(exact).astype(int)
    remainder = exact - base
    extra = n - base.sum()
    # stable sort on -remainder: larger remainders first, ties by stratum order
    base[np.argsort(-remainder, kind="stable")[:extra]] += 1
    return pd.Series(base, index=sizes.index)


def stratified_sample(frame: pd.DataFrame, n: int, by: list[str] | str, random_state: int = 0) -> pd.Index:
    """Index labels of ``n`` rows of ``frame``, stratified by ``by`` with proportional allocation.

    Strata are ordered by their key, and within a stratum rows are drawn by a seeded permutation,
    so the same inputs and seed give the same rows.
    """
    by = [by] if isinstance(by, str) else list(by)
    n = min(n, len(frame))
    if n == len(frame):
        return frame.index
    groups = frame.groupby(by, sort=True, dropna=False).indices
    keys = list(groups)
    allocation = proportional_allocation(pd.Series([len(groups[k]) for k in keys]), n)
    rng = np.random.default_rng(random_state)
    picked = [groups[k][rng.permutation(len(groups[k]))[:m]] for k, m in zip(keys, allocation)]
    return frame.index[np.sort(np.concatenate(picked))]
