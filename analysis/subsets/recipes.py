"""Diversity recipes: subsets of one fixed size n that differ in one kind of diversity.

* :class:`QuestionTypeSubsets` — easy-only, hardq-only, hards-only and mixed;
* :class:`TaxonomyCoverage` — drawing from k of the class1 (or class2) categories, k = 1..all;
* :class:`ResponseModelSubsets` — chosen and rejected both written by one of m response models;
* :class:`EmbeddingDiversitySubsets` — max-diversity (farthest point), random, min-diversity
  (one dense region) on question embeddings, given to ``sample``, with their Vendi scores;
* :class:`~spa_vl.analysis.subsets.pair_recipes.LengthBalanced` and
  :class:`~spa_vl.analysis.subsets.pair_recipes.RefusalCapped` — pair-quality controls (chosen longer in
  half the pairs; at most a share of refusing chosen answers), and
  :func:`~spa_vl.analysis.subsets.pair_recipes.drop_no_signal` for any recipe's pool.

Every recipe is a :class:`~spa_vl.analysis.subsets.ablation.Sampler` registered by name (:data:`RECIPES`), and
draws through the shared ranker and allocation of :mod:`spa_vl.analysis.subsets.sampling`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from spa_vl.errors import SpaVLError, UsageError
from spa_vl.taxonomy import LEVELS, QUESTION_TYPE, QUESTION_TYPES, RESPONSE_MODELS, UNKNOWN

from ..metrics.diversity import max_similarity, normalize_rows, vendi_score
from .ablation import DEFAULT_STRATA, SAMPLERS, Sampler, ScaleLadder, register_sampler
from .pair_recipes import LengthBalanced, RefusalCapped, drop_no_signal, with_pair_features
from .sampling import Subset, rank, stratified_take


@register_sampler
@dataclass
class QuestionTypeSubsets(Sampler):
    """``n`` rows of each question type alone (stratified by class1), and ``n`` mixed rows.

    Parameters
    ----------
    n : int
        Rows in each subset (at most the rows of the rarest question type).
    random_state : int
        Seed of the shared ranker.
    """

    name: ClassVar[str] = "question-type"
    description: ClassVar[str] = "n rows of each question type alone (easy, hardq, hards) and n mixed"
    cli_parameters: ClassVar[dict[str, str]] = {"n": "n", "random_state": "seed"}

    n: int | None = None
    random_state: int = 0

    def largest_n(self, pool: pd.DataFrame) -> int:
        """The rows of the rarest question type: the largest ``n`` every subset can have.

        Parameters
        ----------
        pool : pandas.DataFrame, shape (m, ...)
            :func:`~spa_vl.analysis.subsets.ablation.train_pool` rows.

        Returns
        -------
        int
            The smallest of the easy, hardq and hards pools (0 when one is empty).
        """
        counts = pool[QUESTION_TYPE].value_counts()
        return int(min(counts.get(qtype, 0) for qtype in QUESTION_TYPES))

    def sample(self, pool: pd.DataFrame) -> list[Subset]:  # type: ignore[override]
        """The subsets ``qtype-easy``, ``qtype-hardq``, ``qtype-hards``, ``qtype-mixed``.

        Parameters
        ----------
        pool : pandas.DataFrame, shape (m, ...)
            :func:`~spa_vl.analysis.subsets.ablation.train_pool` rows.

        Returns
        -------
        list of Subset
            Four subsets of ``n`` rows each.

        Raises
        ------
        UsageError
            ``n`` is unset or outside ``1..len(pool)``, a question type has fewer than ``n`` rows,
            or ``random_state`` is invalid.
        """
        seed, n = self._check_random_state(), self._check_n(pool)
        subsets = []
        for qtype in QUESTION_TYPES:
            rows = pool[pool[QUESTION_TYPE] == qtype]
            taken = stratified_take(rows, n, ["class1"], seed, what=f"{qtype} pool")
            subsets.append(Subset.of_rows(f"qtype-{qtype}", self.name, {"n": n, "question_type": qtype}, taken))
        known = pool[pool[QUESTION_TYPE].isin(QUESTION_TYPES)]
        mixed = stratified_take(known, n, list(DEFAULT_STRATA), seed, what="pool of typed rows")
        subsets.append(Subset.of_rows("qtype-mixed", self.name, {"n": n, "question_type": "mixed"}, mixed))
        return subsets


@register_sampler
@dataclass
class TaxonomyCoverage(Sampler):
    """``n`` rows drawn from the k largest categories of ``level``, for each k in ``ks``.

    Parameters
    ----------
    n : int
        Rows in each subset.
    level : {"class1", "class2", "class3"}
        Taxonomy level whose categories are covered.
    ks : sequence of int, optional
        Numbers of categories (default 1..all).
    random_state : int
        Seed of the shared ranker.
    """

    name: ClassVar[str] = "taxonomy"
    description: ClassVar[str] = "n rows from the k largest categories of a taxonomy level, for each k (default 1..all)"
    cli_parameters: ClassVar[dict[str, str]] = {"n": "n", "level": "level", "ks": "k", "random_state": "seed"}

    n: int | None = None
    level: str = "class1"
    ks: Sequence[int] | None = None
    random_state: int = 0

    def largest_n(self, pool: pd.DataFrame) -> int:
        """The rows of the smallest k's categories: the largest ``n`` every subset can have.

        Parameters
        ----------
        pool : pandas.DataFrame, shape (m, ...)
            :func:`~spa_vl.analysis.subsets.ablation.train_pool` rows.

        Returns
        -------
        int
            Rows of the ``min(ks)`` largest categories of ``level`` (``len(pool)`` for an unknown level).
        """
        if self.level not in LEVELS:
            return len(pool)
        sizes = pool.loc[pool[self.level] != UNKNOWN, self.level].value_counts().sort_values(ascending=False, kind="stable")
        k = max(1, min(self.ks or [1]))
        return int(sizes.iloc[:k].sum())

    def sample(self, pool: pd.DataFrame) -> list[Subset]:  # type: ignore[override]
        """One subset ``<level>-k<k>`` per k.

        Parameters
        ----------
        pool : pandas.DataFrame, shape (m, ...)
            :func:`~spa_vl.analysis.subsets.ablation.train_pool` rows.

        Returns
        -------
        list of Subset
            One per k of ``ks``, in that order.

        Raises
        ------
        UsageError
            ``n`` is unset or too large for the rows of the k categories, ``level`` is not a
            taxonomy level, a k is outside ``1..`` the number of categories, or ``random_state`` is
            invalid.
        """
        seed, n = self._check_random_state(), self._check_n(pool)
        if self.level not in LEVELS:
            raise UsageError(f"level={self.level!r} is not a taxonomy level: choose from {', '.join(LEVELS)}")
        sizes = pool.loc[pool[self.level] != UNKNOWN, self.level].value_counts()
        categories = sorted(sizes.index, key=lambda c: (-sizes[c], c))  # largest first, ties by name
        ks = list(self.ks or range(1, len(categories) + 1))
        if any(k < 1 or k > len(categories) for k in ks):
            raise UsageError(f"k must be 1..{len(categories)} (the {self.level} categories in the pool), got {ks}")
        subsets = []
        for k in ks:
            chosen = categories[:k]
            rows = pool[pool[self.level].isin(chosen)]
            taken = stratified_take(rows, n, [self.level, QUESTION_TYPE], seed, what=f"pool of the {k} largest {self.level} categories")
            params = {"n": n, "level": self.level, "k": k, "categories": chosen}
            subsets.append(Subset.of_rows(f"{self.level}-k{k}", self.name, params, taken))
        return subsets


@register_sampler
@dataclass
class ResponseModelSubsets(Sampler):
    """``n`` rows whose chosen and rejected responses both come from a set of response models.

    Without ``groups``: one subset per m in ``ms``, the m models that wrote the most responses.
    With ``groups`` (name → model keys, e.g. the paper's safer models): one subset per group and
    one over all models (``models-all``), the paper's response-diversity contrast.

    Parameters
    ----------
    n : int
        Rows in each subset.
    ms : sequence of int, optional
        Numbers of models (default those of 2, 4, 8, 12 the meta files name).
    random_state : int
        Seed of the shared ranker.
    groups : mapping of str to sequence of str, or sequence of (str, sequence of str), optional
        Named groups of model keys (:data:`spa_vl.taxonomy.RESPONSE_MODELS`).
    """

    name: ClassVar[str] = "response-models"
    description: ClassVar[str] = "n rows whose responses all come from the m most frequent models, or from a named model group vs all"
    cli_parameters: ClassVar[dict[str, str]] = {"n": "n", "ms": "models", "random_state": "seed", "groups": "model_group"}

    n: int | None = None
    ms: Sequence[int] | None = None
    random_state: int = 0
    groups: Mapping[str, Sequence[str]] | Sequence[tuple[str, Sequence[str]]] | None = None

    def sample(self, pool: pd.DataFrame) -> list[Subset]:  # type: ignore[override]
        """``models-m<m>`` per m, or ``models-<group>`` per group and ``models-all``.

        Parameters
        ----------
        pool : pandas.DataFrame, shape (m, ...)
            :func:`~spa_vl.analysis.subsets.ablation.train_pool` rows with ``chosen_model``/``rejected_model``.

        Returns
        -------
        list of Subset
            One per m of ``ms`` (in that order), or one per group then ``models-all``.

        Raises
        ------
        UsageError
            ``n`` is unset or too large for the allowed rows, a group names an unknown model, an m
            is outside ``1..`` the number of models, or ``random_state`` is invalid.
        SpaVLError
            No pool row says which models wrote its responses.
        """
        seed, n = self._check_random_state(), self._check_n(pool)
        groups = dict(self.groups or {})
        for group, members in groups.items():
            unknown = sorted(set(members) - set(RESPONSE_MODELS))
            if unknown:
                raise UsageError(f"model group {group!r} names unknown model(s) {', '.join(unknown)}: use keys of {', '.join(RESPONSE_MODELS)}")
        known = pool.dropna(subset=["chosen_model", "rejected_model"])
        if known.empty:
            raise SpaVLError(
                "the meta files do not say which model wrote which response (meta_files/model_answer/*.json missing, "
                "or no answer equals the rows' texts; `spa-vl doctor` shows the coverage): the response-model recipe "
                "cannot run on this source"
            )
        if groups:
            return self._by_group(known, groups, n, seed)
        frequency = pd.concat([known["chosen_model"], known["rejected_model"]]).value_counts()
        models = sorted(frequency.index, key=lambda m: (-frequency[m], m))
        ms = list(self.ms or [m for m in (2, 4, 8, 12) if m <= len(models)] or [len(models)])
        if any(m < 1 or m > len(models) for m in ms):
            raise UsageError(f"m must be 1..{len(models)} (response models named in the meta files), got {ms}")
        subsets = []
        for m in ms:
            allowed = models[:m]
            rows = known[known["chosen_model"].isin(allowed) & known["rejected_model"].isin(allowed)]
            taken = stratified_take(rows, n, list(DEFAULT_STRATA), seed, what=f"pool with responses from {m} models")
            subsets.append(Subset.of_rows(f"models-m{m}", self.name, {"n": n, "m": m, "models": allowed}, taken))
        return subsets

    def largest_n(self, pool: pd.DataFrame) -> int:
        """The rows of the smallest model set's pool: the largest ``n`` every subset can have.

        Parameters
        ----------
        pool : pandas.DataFrame, shape (m, ...)
            :func:`~spa_vl.analysis.subsets.ablation.train_pool` rows with ``chosen_model``/``rejected_model``.

        Returns
        -------
        int
            The fewest rows whose responses all come from one of the subsets' model sets (0 without provenance).
        """
        known = pool.dropna(subset=["chosen_model", "rejected_model"])
        if known.empty:
            return 0
        if self.groups:
            sets = [list(members) for members in dict(self.groups).values()] + [list(RESPONSE_MODELS)]
        else:
            frequency = pd.concat([known["chosen_model"], known["rejected_model"]]).value_counts()
            models = sorted(frequency.index, key=lambda m: (-frequency[m], m))
            ms = [m for m in (self.ms or [m for m in (2, 4, 8, 12) if m <= len(models)] or [len(models)]) if 1 <= m <= len(models)]
            sets = [models[:m] for m in ms] or [models]
        return int(min((known["chosen_model"].isin(s) & known["rejected_model"].isin(s)).sum() for s in sets))

    def _by_group(self, known: pd.DataFrame, groups: dict[str, Sequence[str]], n: int, seed: int) -> list[Subset]:
        subsets = []
        for group, members in {**groups, "all": list(RESPONSE_MODELS)}.items():
            rows = known[known["chosen_model"].isin(members) & known["rejected_model"].isin(members)]
            taken = stratified_take(rows, n, list(DEFAULT_STRATA), seed, what=f"pool with responses from group {group!r}")
            subsets.append(Subset.of_rows(f"models-{group}", self.name, {"n": n, "group": group, "models": list(members)}, taken))
        return subsets


def farthest_point_order(x: np.ndarray, n: int, start: int) -> np.ndarray:
    """Greedy k-center: ``n`` row indices, each the farthest (cosine) from those already taken.

    Parameters
    ----------
    x : numpy.ndarray, shape (m, d)
        Row vectors (normalised here).
    n : int
        Rows to pick, ``1 <= n <= m``.
    start : int
        The first row.

    Returns
    -------
    numpy.ndarray of int, shape (n,)
        Row indices in the order picked.
    """
    x = normalize_rows(x).astype(np.float32)
    picked = [start]
    nearest = 1.0 - x @ x[start]  # distance of every row to the picked set
    nearest[start] = -np.inf
    for _ in range(n - 1):
        nxt = int(np.argmax(nearest))
        picked.append(nxt)
        nearest = np.minimum(nearest, 1.0 - x @ x[nxt])
        nearest[picked] = -np.inf
    return np.asarray(picked)


@register_sampler
@dataclass
class EmbeddingDiversitySubsets(Sampler):
    """Max-diversity, random and min-diversity subsets of ``n`` rows by question embedding.

    Max-diversity is farthest-point (greedy k-center) from the row ranked first; random takes the
    ``n`` rows ranked first (the shared ranker, unstratified); min-diversity takes the ``n``
    nearest neighbours of the row closest to the pool's mean direction (one dense region).

    Parameters
    ----------
    n : int
        Rows in each subset.
    random_state : int
        Seed of the shared ranker.
    """

    name: ClassVar[str] = "embedding"
    description: ClassVar[str] = "max / random / min diversity subsets of n rows by question embedding, with Vendi scores"
    cli_parameters: ClassVar[dict[str, str]] = {"n": "n", "random_state": "seed"}
    inputs: ClassVar[tuple[str, ...]] = ("embeddings",)

    n: int | None = None
    random_state: int = 0

    def sample(self, pool: pd.DataFrame, embeddings: np.ndarray | None = None) -> list[Subset]:  # type: ignore[override]
        """``embedding-max``, ``embedding-random``, ``embedding-min`` with ``vendi_score`` metrics.

        Parameters
        ----------
        pool : pandas.DataFrame, shape (m, ...)
            :func:`~spa_vl.analysis.subsets.ablation.train_pool` rows.
        embeddings : numpy.ndarray, shape (m, d)
            One question embedding per pool row, in pool order.

        Returns
        -------
        list of Subset
            Max, random and min, each with metric ``vendi_score``.

        Raises
        ------
        UsageError
            ``embeddings`` is missing or not of shape ``(m, d)``, ``n`` is unset or outside
            ``1..m``, or ``random_state`` is invalid.
        """
        seed, n = self._check_random_state(), self._check_n(pool)
        if embeddings is None or np.ndim(embeddings) != 2 or len(embeddings) != len(pool):
            got = "none" if embeddings is None else f"shape {np.shape(embeddings)}"
            raise UsageError(f"the embedding recipe needs one question embedding per pool row, shape ({len(pool)}, d), got {got}: pass embeddings=")
        x = normalize_rows(np.asarray(embeddings))
        priority = rank(pool["row_id"], seed)
        random_rows = np.argsort(priority)[:n]
        start = int(np.argmin(priority))
        max_rows = farthest_point_order(x, n, start)
        centre = int(np.argmax(x @ x.mean(axis=0)))
        similarity = max_similarity(x, x[[centre]])  # each row's similarity to the centre
        min_rows = np.argsort(-similarity, kind="stable")[:n]
        subsets = []
        for kind, rows in (("max", max_rows), ("random", random_rows), ("min", min_rows)):
            params = {"n": n, "selection": kind}
            subsets.append(Subset.of_rows(f"embedding-{kind}", self.name, params, pool.iloc[np.sort(rows)], {"vendi_score": vendi_score(x[rows])}))
        return subsets


#: Every recipe of ``spa-vl ablate --recipe``: registry name → sampler class, in registration order.
RECIPES: dict[str, type[Sampler]] = SAMPLERS

#: What each recipe's subsets hold fixed and what they vary (``TRAIN.md`` of every subset says it).
RECIPE_CONTROLS: dict[str, str] = {
    "scale": "size only: every subset has the pool's class1 x question-type mix (within one row per stratum) and the subsets are nested",
    "question-type": "question type: one type alone vs the three mixed, at the same n, each stratified by class1",
    "taxonomy": "taxonomy coverage: rows from the k largest categories of one level, at the same n",
    "response-models": "response diversity: chosen and rejected answers written by fewer or more models (or a named group vs all), at the same n",
    "embedding": "question diversity in embedding space: farthest-point, random and one dense region, at the same n",
    "length-balanced": "length bias: the chosen answer is the longer one in 50% of the untied pairs (the pool's share is in the manifest's metrics), stratified like the scale ladder",
    "refusal": "refusal: at most the given share of chosen answers refuse (spa_vl.analysis.metrics.refusal), stratified like the scale ladder",
}

__all__ = [
    "EmbeddingDiversitySubsets",
    "LengthBalanced",
    "QuestionTypeSubsets",
    "RECIPES",
    "RECIPE_CONTROLS",
    "RefusalCapped",
    "drop_no_signal",
    "with_pair_features",
    "ResponseModelSubsets",
    "ScaleLadder",
    "TaxonomyCoverage",
    "farthest_point_order",
]
