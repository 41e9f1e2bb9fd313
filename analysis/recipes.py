"""Diversity recipes: subsets of one fixed size n that differ in one kind of diversity.

* :class:`QuestionTypeSubsets` — easy-only, hardq-only, hards-only and mixed;
* :class:`TaxonomyCoverage` — drawing from k of the class1 (or class2) categories, k = 1..all;
* :class:`ResponseModelSubsets` — chosen and rejected both written by one of m response models;
* :class:`EmbeddingDiversitySubsets` — max-diversity (farthest point), random, min-diversity
  (one dense region) on question embeddings, with their Vendi scores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from spa_vl.errors import SpaVLError
from spa_vl.taxonomy import QUESTION_TYPE, QUESTION_TYPES, RESPONSE_MODELS, UNKNOWN

from .ablation import DEFAULT_STRATA, Subset, _in_source_order, _priority, check_sizes, stratified_take
from .diversity import max_similarity, normalize_rows, vendi_score


@dataclass
class QuestionTypeSubsets:
    """``n`` rows of each question type alone (stratified by class1), and ``n`` mixed rows."""

    n: int
    random_state: int = 0

    def sample(self, pool: pd.DataFrame) -> list[Subset]:
        subsets = []
        for qtype in QUESTION_TYPES:
            rows = pool[pool[QUESTION_TYPE] == qtype]
            taken = stratified_take(rows, self.n, ["class1"], self.random_state, what=f"{qtype} pool")
            subsets.append(Subset(f"qtype-{qtype}", "question-type", {"n": self.n, "question_type": qtype}, taken))
        known = pool[pool[QUESTION_TYPE].isin(QUESTION_TYPES)]
        mixed = stratified_take(known, self.n, list(DEFAULT_STRATA), self.random_state, what="pool of typed rows")
        subsets.append(Subset("qtype-mixed", "question-type", {"n": self.n, "question_type": "mixed"}, mixed))
        return subsets


@dataclass
class TaxonomyCoverage:
    """``n`` rows drawn from the k largest categories of ``level``, for each k in ``ks`` (default all)."""

    n: int
    level: str = "class1"
    ks: Sequence[int] | None = None
    random_state: int = 0

    def sample(self, pool: pd.DataFrame) -> list[Subset]:
        sizes = pool.loc[pool[self.level] != UNKNOWN, self.level].value_counts()
        categories = sorted(sizes.index, key=lambda c: (-sizes[c], c))  # largest first, ties by name
        ks = list(self.ks or range(1, len(categories) + 1))
        if any(k < 1 or k > len(categories) for k in ks):
            raise SpaVLError(f"k must be 1..{len(categories)} (the {self.level} categories in the pool), got {ks}")
        subsets = []
        for k in ks:
            chosen = categories[:k]
            rows = pool[pool[self.level].isin(chosen)]
            taken = stratified_take(rows, self.n, [self.level, QUESTION_TYPE], self.random_state, what=f"pool of the {k} largest {self.level} categories")
            params = {"n": self.n, "level": self.level, "k": k, "categories": chosen}
            subsets.append(Subset(f"{self.level}-k{k}", "taxonomy", params, taken))
        return subsets


@dataclass
class ResponseModelSubsets:
    """``n`` rows whose chosen and rejected responses both come from a set of response models.

    Without ``groups``: one subset per m in ``ms``, the m models that wrote the most responses.
    With ``groups`` (name → model keys, e.g. the paper's safer models): one subset per group and
    one over all models (``models-all``), the paper's response-diversity contrast.
    """

    n: int
    ms: Sequence[int] | None = None
    random_state: int = 0
    groups: dict[str, Sequence[str]] | None = None

    def sample(self, pool: pd.DataFrame) -> list[Subset]:
        known = pool.dropna(subset=["chosen_model", "rejected_model"])
        if known.empty:
            raise SpaVLError(
                "the meta files do not say which model wrote which response (meta_files/model_answer/*.json missing, "
                "or no answer equals the rows' texts; `spa-vl doctor` shows the coverage): the response-model recipe "
                "cannot run on this source"
            )
        if self.groups:
            return self._by_group(known)
        frequency = pd.concat([known["chosen_model"], known["rejected_model"]]).value_counts()
        models = sorted(frequency.index, key=lambda m: (-frequency[m], m))
        ms = list(self.ms or [m for m in (2, 4, 8, 12) if m <= len(models)] or [len(models)])
        if any(m < 1 or m > len(models) for m in ms):
            raise SpaVLError(f"m must be 1..{len(models)} (response models named in the meta files), got {ms}")
        subsets = []
        for m in ms:
            allowed = models[:m]
            rows = known[known["chosen_model"].isin(allowed) & known["rejected_model"].isin(allowed)]
            taken = stratified_take(rows, self.n, list(DEFAULT_STRATA), self.random_state, what=f"pool with responses from {m} models")
            subsets.append(Subset(f"models-m{m}", "response-models", {"n": self.n, "m": m, "models": allowed}, taken))
        return subsets

    def _by_group(self, known: pd.DataFrame) -> list[Subset]:
        groups = {**self.groups, "all": list(RESPONSE_MODELS)}  # type: ignore[dict-item]
        subsets = []
        for name, members in groups.items():
            unknown = sorted(set(members) - set(RESPONSE_MODELS))
            if unknown:
                raise SpaVLError(f"model group {name!r} names unknown model(s) {', '.join(unknown)}: use keys of {', '.join(RESPONSE_MODELS)}")
            rows = known[known["chosen_model"].isin(members) & known["rejected_model"].isin(members)]
            taken = stratified_take(rows, self.n, list(DEFAULT_STRATA), self.random_state, what=f"pool with responses from group {name!r}")
            subsets.append(Subset(f"models-{name}", "response-models", {"n": self.n, "group": name, "models": list(members)}, taken))
        return subsets


def farthest_point_order(x: np.ndarray, n: int, start: int) -> np.ndarray:
    """Greedy k-center: ``n`` row indices, each the farthest (cosine) from those already taken."""
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


@dataclass
class EmbeddingDiversitySubsets:
    """Max-diversity, random and min-diversity subsets of ``n`` rows by question embedding.

    ``embeddings`` are aligned with the pool rows. Min-diversity takes the ``n`` nearest neighbours
    of the row closest to the pool's mean direction (one dense region).
    """

    n: int
    embeddings: np.ndarray = field(repr=False, default=None)
    random_state: int = 0

    def sample(self, pool: pd.DataFrame) -> list[Subset]:
        if self.embeddings is None or len(self.embeddings) != len(pool):
            raise SpaVLError("EmbeddingDiversitySubsets needs one question embedding per pool row")
        check_sizes([self.n], len(pool))
        x = normalize_rows(self.embeddings)
        priority = _priority(pool, self.random_state)
        random_rows = np.argsort(priority)[: self.n]
        start = int(np.argmin(priority))
        max_rows = farthest_point_order(x, self.n, start)
        centre = int(np.argmax(x @ x.mean(axis=0)))
        similarity = max_similarity(x, x[[centre]])  # each row's similarity to the centre
        min_rows = np.argsort(-similarity, kind="stable")[: self.n]
        subsets = []
        for kind, rows in (("max", max_rows), ("random", random_rows), ("min", min_rows)):
            params = {"n": self.n, "selection": kind}
            subsets.append(Subset(f"embedding-{kind}", "embedding", params, _in_source_order(pool.iloc[np.sort(rows)]), {"vendi_score": vendi_score(x[rows])}))
        return subsets
