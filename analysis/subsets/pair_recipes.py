"""Recipes that control the quality confounds of preference pairs (issue 23).

* :class:`LengthBalanced` (``--recipe length-balanced --n N``) — ``n`` pairs stratified like the
  scale ladder (class1 × question type, Balinski–Young quotas) in which the chosen answer is the
  longer one in half of the pairs that are not tied;
* :class:`RefusalCapped` (``--recipe refusal --max-refusal-share S --n N``) — ``n`` pairs, stratified
  the same way, of which at most ``S`` have a chosen answer that refuses (as close to ``S`` as the
  pool allows, so a series of S values is a dose-response);
* :func:`drop_no_signal` — any recipe's pool without the pairs that carry no signal (both refuse,
  both comply, identical answers): ``spa-vl ablate --drop-no-signal``.

The pool (:func:`~spa_vl.analysis.subsets.ablation.train_pool`) has no answer texts; :func:`with_pair_features`
reads them once and adds the per-pair features of :func:`spa_vl.analysis.metrics.pairs.pair_features`.
Within a stratum every draw follows the shared ranker (:func:`~spa_vl.analysis.subsets.sampling.rank`): the
same seed picks the same rows whatever order the shards were read in.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa

from spa_vl.errors import UsageError
from spa_vl.opening import open_source
from spa_vl.sources import Source
from spa_vl.tables import open_parquet, split_files

from ..metrics.pairs import FEATURE_COLUMNS, NO_SIGNAL_KINDS, no_signal, pair_features
from ..metrics.refusal import RefusalDetector
from .ablation import DEFAULT_STRATA, Sampler, register_sampler
from .sampling import Subset, nested_allocations, proportional_allocation, rank, strata_codes, within_stratum_rank

LONGER, SHORTER, TIED = 0, 1, 2


def with_pair_features(pool: pd.DataFrame, source: str | os.PathLike | Source = "sample", detector: RefusalDetector | None = None) -> pd.DataFrame:
    """The pool with the per-pair length and refusal features of its rows' answers.

    Parameters
    ----------
    pool : pandas.DataFrame, shape (m, ...)
        :func:`~spa_vl.analysis.subsets.ablation.train_pool` rows of ``source`` (``file``, ``position``).
    source : str, os.PathLike or Source
        The source the pool was read from.
    detector : RefusalDetector, optional
        The refusal definition (default :data:`spa_vl.analysis.metrics.refusal.DEFAULT_DETECTOR`).

    Returns
    -------
    pandas.DataFrame, shape (m, ... + 9)
        A copy of ``pool`` with :data:`~spa_vl.analysis.metrics.pairs.FEATURE_COLUMNS` added (same order).
    """
    source = open_source(source)
    order, pieces = [], []
    for file_index, path in enumerate(split_files(source, "train", "train")):
        rows = np.flatnonzero(pool["file"].to_numpy() == file_index)
        if len(rows):
            table = open_parquet(source, path).read(columns=["chosen", "rejected"])
            pieces.append(table.take(pa.array(pool["position"].to_numpy()[rows])))
            order.append(rows)
    texts = pa.concat_tables(pieces) if pieces else pa.table({"chosen": pa.array([], pa.string()), "rejected": pa.array([], pa.string())})
    features = pair_features(texts, detector)
    features.index = np.concatenate(order) if order else np.array([], np.int64)
    out = pool.copy()
    for column in FEATURE_COLUMNS:
        out[column] = features[column].reindex(np.arange(len(pool))).to_numpy()
    return out


def _require_features(pool: pd.DataFrame, what: str) -> None:
    missing = [c for c in FEATURE_COLUMNS if c not in pool]
    if missing:
        raise UsageError(f"{what} needs the pairs' features (missing {', '.join(missing)}): pass with_pair_features(pool, source) as the pool")


def drop_no_signal(pool: pd.DataFrame, kinds: Sequence[str] = NO_SIGNAL_KINDS) -> pd.DataFrame:
    """The pool without the pairs that carry no signal; give the result to any recipe.

    Parameters
    ----------
    pool : pandas.DataFrame, shape (m, ...)
        :func:`with_pair_features` rows.
    kinds : sequence of str, default all of :data:`~spa_vl.analysis.metrics.pairs.NO_SIGNAL_KINDS`
        ``both-refuse``, ``both-comply``, ``identical``.

    Returns
    -------
    pandas.DataFrame, shape (k, ...)
        The rows of ``pool`` that are of none of ``kinds`` (index kept).

    Raises
    ------
    UsageError
        If the pool has no pair features, or a kind is unknown.
    """
    _require_features(pool, "dropping no-signal pairs")
    try:
        mask = no_signal(pool, kinds)
    except ValueError as error:
        raise UsageError(f"{error} (--drop-no-signal)") from None
    return pool[~mask]


def _draw(pool: pd.DataFrame, codes: np.ndarray, side: np.ndarray, counts: np.ndarray, random_state: int) -> pd.DataFrame:
    """Rows whose rank within (stratum, side) is below ``counts[stratum, side]``."""
    sides = counts.shape[1]
    place = within_stratum_rank(codes * sides + side, rank(pool["row_id"], random_state))
    return pool[place < counts[codes, side]]


@register_sampler
@dataclass
class LengthBalanced(Sampler):
    """``n`` pairs, stratified like the scale ladder, in which chosen is longer in half the untied pairs.

    Ties (equal word counts) keep their stratum's share; the untied rows of each stratum are split
    evenly between chosen-longer and chosen-shorter (which side gets an odd row is a seeded coin),
    then rows move between the two sides inside strata until the totals differ by at most one.
    Only a pool with too few pairs of one side can miss 50 %; the subset's share is in its metrics.

    Parameters
    ----------
    n : int
        Pairs in the subset.
    strata : sequence of str
        Pool columns whose combination is a stratum (default class1 × question type).
    random_state : int
        Seed of the ranker and the coins.
    """

    name: ClassVar[str] = "length-balanced"
    description: ClassVar[str] = "n pairs stratified like the scale ladder in which chosen is the longer answer in 50% of untied pairs"
    cli_parameters: ClassVar[dict[str, str]] = {"n": "n", "random_state": "seed"}
    needs_pair_features: ClassVar[bool] = True

    n: int | None = None
    strata: Sequence[str] = DEFAULT_STRATA
    random_state: int = 0

    def sample(self, pool: pd.DataFrame) -> list[Subset]:  # type: ignore[override]
        """The subset ``length-balanced-<n>``, with the subset's and the pool's chosen-longer shares.

        Parameters
        ----------
        pool : pandas.DataFrame, shape (m, ...)
            :func:`with_pair_features` rows.

        Returns
        -------
        list of Subset
            One subset; metrics ``chosen_longer_share``, ``untied_pairs``, ``pool_chosen_longer_share``,
            ``pool_untied_pairs``.

        Raises
        ------
        UsageError
            ``n`` is unset or outside ``1..m``, the pool has no pair features, or ``random_state`` is invalid.
        """
        seed, n = self._check_random_state(), self._check_n(pool)
        _require_features(pool, f"the {self.name} recipe")
        longer = pool["chosen_longer"].to_numpy(float)
        side = np.where(np.isnan(longer), TIED, np.where(longer == 1, LONGER, SHORTER))
        codes = strata_codes(pool, self.strata)
        strata = int(codes.max()) + 1 if len(codes) else 0
        available = np.zeros((strata, 3), np.int64)
        np.add.at(available, (codes, side), 1)
        take = nested_allocations(available.sum(axis=1), [n])[n]
        counts = np.zeros_like(available)
        with np.errstate(invalid="ignore", divide="ignore"):
            counts[:, TIED] = np.minimum(np.rint(take * available[:, TIED] / available.sum(axis=1)), available[:, TIED]).astype(np.int64)
        untied = take - counts[:, TIED]
        coin = np.random.default_rng(seed).integers(0, 2, strata)
        counts[:, LONGER] = np.minimum((untied + coin) // 2, available[:, LONGER])
        counts[:, SHORTER] = np.minimum(untied - counts[:, LONGER], available[:, SHORTER])
        counts[:, LONGER] = np.minimum(untied - counts[:, SHORTER], available[:, LONGER])
        counts[:, TIED] += take - counts.sum(axis=1)  # a stratum short of untied rows fills with ties
        self._even_out(counts, available, np.random.default_rng(seed).permutation(strata))
        rows = _draw(pool, codes, side, counts, seed)
        chosen_longer = rows["chosen_longer"].dropna()
        pool_longer = pool["chosen_longer"].dropna()
        metrics = {
            "chosen_longer_share": float(chosen_longer.mean()) if len(chosen_longer) else None,
            "untied_pairs": len(chosen_longer),
            "pool_chosen_longer_share": float(pool_longer.mean()) if len(pool_longer) else None,
            "pool_untied_pairs": len(pool_longer),
        }
        params = {"n": n, "strata": list(self.strata), "seed": seed}
        return [Subset.of_rows(f"{self.name}-{n}", self.name, params, rows, metrics)]

    @staticmethod
    def _even_out(counts: np.ndarray, available: np.ndarray, order: np.ndarray) -> None:
        """Move rows from the larger side to the smaller inside strata until the totals differ by <= 1."""
        for stratum in order:  # one pass over the strata (tens), never over rows
            gap = int(counts[:, LONGER].sum() - counts[:, SHORTER].sum())
            if abs(gap) <= 1:
                return
            more, fewer = (LONGER, SHORTER) if gap > 0 else (SHORTER, LONGER)
            moves = min(abs(gap) // 2, counts[stratum, more], available[stratum, fewer] - counts[stratum, fewer])
            counts[stratum, more] -= moves
            counts[stratum, fewer] += moves


@register_sampler
@dataclass
class RefusalCapped(Sampler):
    """``n`` pairs, stratified like the scale ladder, with at most ``max_refusal_share`` refusing chosen answers.

    ``floor(max_refusal_share · n)`` refusing rows are spread over the strata in proportion to their
    quotas (largest remainder), each stratum capped by the refusing rows it has; the other rows of
    each stratum are pairs whose chosen answer does not refuse. A stratum short of those takes
    refusing rows in their place and other strata give back as many; where no stratum can, the
    short stratum gives up rows to strata with complying rows to spare (``rows_off_quota`` in the
    metrics counts them), so the cap always holds.

    Parameters
    ----------
    n : int
        Pairs in the subset.
    max_refusal_share : float
        Highest share of pairs whose chosen answer refuses, in [0, 1].
    strata : sequence of str
        Pool columns whose combination is a stratum (default class1 × question type).
    random_state : int
        Seed of the ranker.
    """

    name: ClassVar[str] = "refusal"
    description: ClassVar[str] = "n pairs stratified like the scale ladder with at most a given share of refusing chosen answers"
    cli_parameters: ClassVar[dict[str, str]] = {"n": "n", "max_refusal_share": "max_refusal_share", "random_state": "seed"}
    needs_pair_features: ClassVar[bool] = True

    n: int | None = None
    max_refusal_share: float | None = None
    strata: Sequence[str] = DEFAULT_STRATA
    random_state: int = 0

    def sample(self, pool: pd.DataFrame) -> list[Subset]:  # type: ignore[override]
        """The subset ``refusal-<S>-<n>``, with the subset's and the pool's refusal shares.

        Parameters
        ----------
        pool : pandas.DataFrame, shape (m, ...)
            :func:`with_pair_features` rows.

        Returns
        -------
        list of Subset
            One subset; metrics ``chosen_refusal_share``, ``pool_chosen_refusal_share``, ``rows_off_quota``.

        Raises
        ------
        UsageError
            ``n`` or ``max_refusal_share`` is unset or out of range, the pool has no pair features,
            it has too few pairs whose chosen answer complies for ``n`` rows under the cap, or
            ``random_state`` is invalid.
        """
        seed, n = self._check_random_state(), self._check_n(pool)
        share = self.max_refusal_share
        if share is None or isinstance(share, bool) or not 0 <= float(share) <= 1:
            raise UsageError(f"the {self.name} recipe needs a share in 0..1: set {{option}} (got {share!r})", parameter="max_refusal_share", value=0.1)
        _require_features(pool, f"the {self.name} recipe")
        refusing = pool["chosen_refuses"].to_numpy(bool)
        side = refusing.astype(np.int64)  # 0: chosen complies, 1: chosen refuses
        codes = strata_codes(pool, self.strata)
        strata = int(codes.max()) + 1 if len(codes) else 0
        available = np.zeros((strata, 2), np.int64)
        np.add.at(available, (codes, side), 1)
        take = nested_allocations(available.sum(axis=1), [n])[n]
        cap = int(np.floor(float(share) * n + 1e-9))
        if (~refusing).sum() < n - cap:
            if share < 1 and (~refusing).sum() == 0:
                raise UsageError(f"the pool has no pair whose chosen answer does not refuse: no n fits max_refusal_share={share} (--drop-no-signal both-comply removes them all where rejected answers never refuse)")
            most = int(np.floor((~refusing).sum() / (1 - float(share)))) if share < 1 else len(pool)
            raise UsageError(
                f"the pool has {(~refusing).sum()} pairs whose chosen answer does not refuse, fewer than the {n - cap} that "
                f"n={n} needs at max_refusal_share={share}: use at most {{option}}, or a higher share",
                parameter="n", value=most,
            )
        counts = np.zeros_like(available)
        counts[:, 1] = np.minimum(proportional_allocation(take, cap).to_numpy(), available[:, 1])
        counts[:, 0] = np.minimum(take - counts[:, 1], available[:, 0])
        counts[:, 1] = take - counts[:, 0]  # strata short of complying rows take refusing ones
        off_quota = self._hold_cap(counts, available, int(counts[:, 1].sum()) - cap, np.random.default_rng(seed).permutation(strata))
        rows = _draw(pool, codes, side, counts, seed)
        metrics = {"chosen_refusal_share": float(rows["chosen_refuses"].mean()), "pool_chosen_refusal_share": float(refusing.mean()),
                   "rows_off_quota": off_quota}
        params = {"n": n, "max_refusal_share": float(share), "strata": list(self.strata), "seed": seed}
        return [Subset.of_rows(f"{self.name}-{float(share):g}-{n}", self.name, params, rows, metrics)]

    @staticmethod
    def _hold_cap(counts: np.ndarray, available: np.ndarray, over: int, order: np.ndarray) -> int:
        """Bring the refusing rows down to the cap; returns the rows that had to leave their stratum's quota."""
        for stratum in order:  # first swap inside strata that have complying rows to spare (quotas kept)
            if over <= 0:
                return 0
            moves = min(over, counts[stratum, 1], available[stratum, 0] - counts[stratum, 0])
            counts[stratum, 1] -= moves
            counts[stratum, 0] += moves
            over -= moves
        if over <= 0:
            return 0
        moved = over  # then strata with only refusing rows left give up quota to strata with complying rows to spare
        for stratum in order:
            drop = min(over, counts[stratum, 1])
            counts[stratum, 1] -= drop
            over -= drop
        left = moved
        for stratum in order:
            add = min(left, available[stratum, 0] - counts[stratum, 0])
            counts[stratum, 0] += add
            left -= add
        return int(moved)


__all__ = ["LengthBalanced", "RefusalCapped", "drop_no_signal", "with_pair_features"]
