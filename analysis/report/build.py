"""The report: every analysis of a source as typed sections, computed in timed stages.

:func:`compute_report` returns a :class:`~spa_vl.analysis.report.sections.Report` whose sections (dataclasses
holding their numbers, titled tables and figures) a notebook can inspect; :func:`build_report` also
writes it with :mod:`.render`: ``report.html``, ``report.md``, one PNG per figure, ``stats.json``
(the ``spa-vl stats`` numbers plus every section's numbers) and ``timings.json`` (seconds and texts
encoded per stage: the only run-dependent file). Diversity runs on a sample of train stratified by
class1 (``ReportSettings.diversity_sample``; ``None`` = every row, with the cache); each sampled number
carries a 95 % interval and its n. Train↔eval contamination compares every eval question with every
train question (:mod:`.contamination`). The image, response-model and explorer sections are in
:mod:`.media_sections`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time

_IMPORT_START = time.perf_counter()  # the imports below are timed: the first report of a process says how long they took

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spa_vl.atomic import atomic_write_text
from spa_vl.cache import cache_root
from spa_vl.columns import TEXT_COLUMNS
from spa_vl.opening import open_source
from spa_vl.progress import progress_bar
from spa_vl.sources import Source
from spa_vl.stats import compute_stats
from spa_vl.taxonomy import LEVELS, QUESTION_TYPE

from ..embeddings.encoder import Encoder
from ..inputs.frames import SPLIT, labelled_frame
from ..metrics import contamination, difficulty, distributions, diversity
from . import media_sections, pair_sections, plots  # noqa: F401 (pair_sections: importing registers its section)
from .explorer import project_2d
from .sections import (
    EVAL_SPLITS,
    Plot,
    Report,
    ReportSettings,
    Section,
    SectionInputs,
    StageTime,
    Table,
    registered_sections,
)

_IMPORTS: list[float] = []  # seconds the report's imports took, until the first report of the process records them
CURVE_SIZES = (25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000)
LOAD_STAGE = "read labels and texts"
ESTIMATE_STAGE = "estimate encoding time"


@dataclass
class TaxonomySection(Section):
    """The source, its rows per split (the ``spa-vl stats`` numbers) and the train taxonomy.

    Parameters
    ----------
    source : description of the source.
    splits : :func:`spa_vl.stats.compute_stats` (``"<config>/<split>"`` → rows and label counts).
    counts : train rows per (class1, class2, class3) (:func:`spa_vl.analysis.report.plots.taxonomy_counts`).
    """

    key = None
    title = "Taxonomy"
    stage = "taxonomy and counts"
    order = 10

    source: str
    splits: dict[str, Any]
    counts: pd.DataFrame

    @classmethod
    def compute(cls, inputs: SectionInputs) -> TaxonomySection:
        """Compute the section from the report's inputs.

        Parameters
        ----------
        inputs : SectionInputs
            The frame, source, settings, encoder and earlier sections.

        Returns
        -------
        TaxonomySection
        """
        return cls(inputs.source.description, compute_stats(inputs.source), plots.taxonomy_counts(inputs.train))

    def numbers(self) -> dict[str, Any]:
        """The section's numbers for ``stats.json``.

        Returns
        -------
        dict
            JSON-ready, the same for the same inputs and seed.
        """
        return self.splits

    def summary(self) -> list[str]:
        """Markdown lines for the report's summary list.

        Returns
        -------
        list of str
        """
        return [f"- Source: `{self.source}`", "- Rows: " + ", ".join(f"{k} {v['rows']:,}" for k, v in self.splits.items())]

    def tables(self) -> list[Table]:
        """The section's titled tables, in the order shown.

        Returns
        -------
        list of Table
        """
        return [Table("taxonomy", "Train rows per subcategory", self.counts.set_index(["class1", "class2", "class3"]))]

    def draw(self) -> list[Plot]:
        """Draw the section's figures from its computed tables.

        Returns
        -------
        list of Plot
        """
        return [Plot("taxonomy", "Harm taxonomy of the train split", plots.taxonomy_bars(self.counts, "Train: harm taxonomy (rows per subcategory)"))]


def _per_split(counts: dict[str, int]) -> str:
    """``"train/train 0, validation/validation 3"`` (``"none"`` when every count is 0)."""
    return ", ".join(f"{k} {v:,}" for k, v in counts.items()) if any(counts.values()) else "none"


@dataclass
class BalanceSection(Section):
    """Counts, balance measures and Jensen–Shannon divergence per split, at every taxonomy level and question type.

    Parameters
    ----------
    counts, balance, divergence : per level (class1, class2, class3, question_type), the frames of
        :func:`~spa_vl.analysis.metrics.distributions.counts_by_split`, :func:`~spa_vl.analysis.metrics.distributions.balance_by_split`
        and :func:`~spa_vl.analysis.metrics.distributions.divergence_between_splits`.
    """

    key = "balance"
    title = "Balance between splits"
    stage = "taxonomy balance"
    order = 20

    counts: dict[str, pd.DataFrame]
    balance: dict[str, pd.DataFrame]
    divergence: dict[str, pd.DataFrame]
    unknown: dict[str, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def compute(cls, inputs: SectionInputs) -> BalanceSection:
        """Compute the section from the report's inputs.

        Parameters
        ----------
        inputs : SectionInputs
            The frame, source, settings, encoder and earlier sections.

        Returns
        -------
        BalanceSection
        """
        frame, levels = inputs.frame, (*LEVELS, QUESTION_TYPE)
        return cls(
            {level: distributions.counts_by_split(frame, level) for level in levels},
            {level: distributions.balance_by_split(frame, level) for level in levels},
            {level: distributions.divergence_between_splits(frame, level) for level in levels},
            {level: distributions.unknown_by_split(frame, level) for level in levels},
        )

    def numbers(self) -> dict[str, Any]:
        """The section's numbers for ``stats.json``.

        Returns
        -------
        dict
            JSON-ready, the same for the same inputs and seed.
        """
        return {
            "by_split": {level: t.to_dict(orient="index") for level, t in self.balance.items()},
            "js_divergence_bits": {level: t.to_dict(orient="index") for level, t in self.divergence.items()},
            "unknown_rows_left_out": self.unknown,
        }

    def tables(self) -> list[Table]:
        """The section's titled tables, in the order shown.

        Returns
        -------
        list of Table
        """
        out = []
        for level in self.counts:
            out += [
                Table(f"counts_{level}", f"Rows per {level} and split", self.counts[level]),
                Table(f"balance_{level}", f"Balance of {level} per split", self.balance[level]),
                Table(f"divergence_{level}", f"Jensen-Shannon divergence of {level} between splits (bits; rows with an unknown {level} "
                      f"left out: {_per_split(self.unknown.get(level, {}))})", self.divergence[level]),
            ]
        return out


@dataclass
class DifficultySection(Section):
    """Question types: sizes per split, text lengths, and the domain mix and balance of each type (train).

    Parameters
    ----------
    sizes : rows per split (rows) and question type (columns).
    lengths : :func:`spa_vl.analysis.metrics.difficulty.text_length_stats` of every split.
    mix : :func:`spa_vl.analysis.metrics.difficulty.category_mix_by_type` of train (class1 × question type, columns sum to 1).
    type_mix : share of each question type within each class1 of train (rows sum to 1).
    balance : :func:`spa_vl.analysis.metrics.difficulty.balance_by_type` of train (class1).
    """

    key = "difficulty"
    title = "Question difficulty (question types)"
    stage = "question difficulty"
    order = 30

    sizes: pd.DataFrame
    lengths: pd.DataFrame
    mix: pd.DataFrame
    type_mix: pd.DataFrame
    balance: pd.DataFrame

    @classmethod
    def compute(cls, inputs: SectionInputs) -> DifficultySection:
        """Compute the section from the report's inputs.

        Parameters
        ----------
        inputs : SectionInputs
            The frame, source, settings, encoder and earlier sections.

        Returns
        -------
        DifficultySection
        """
        frame = inputs.frame
        train = inputs.train if len(inputs.train) else frame
        return cls(
            sizes=frame.groupby([SPLIT, QUESTION_TYPE]).size().unstack(fill_value=0),
            lengths=difficulty.text_length_stats(frame),
            mix=difficulty.category_mix_by_type(train, "class1"),
            type_mix=distributions.crosstab(distributions.known_labels(train, "class1", QUESTION_TYPE), "class1", QUESTION_TYPE, normalize="index"),
            balance=difficulty.balance_by_type(train, "class1"),
        )

    def numbers(self) -> dict[str, Any]:
        """The section's numbers for ``stats.json``.

        Returns
        -------
        dict
            JSON-ready, the same for the same inputs and seed.
        """
        return {
            "sizes": self.sizes.to_dict(orient="index"),
            "text_lengths": self.lengths.reset_index().to_dict(orient="records"),
            "class1_mix_by_type": self.mix.to_dict(orient="dict"),
            "class1_balance_by_type": self.balance.to_dict(orient="index"),
        }

    def tables(self) -> list[Table]:
        """The section's titled tables, in the order shown.

        Returns
        -------
        list of Table
        """
        return [
            Table("question_type_sizes", "Question types per split", self.sizes),
            Table("question_type_mix", "Question-type mix per domain (train, known labels; rows sum to 1)", self.type_mix),
            Table("class1_mix_by_type", "Domain mix per question type (train, known labels; columns sum to 1)", self.mix),
            Table("balance_by_type", "Balance of class1 within each question type (train, known labels)", self.balance),
            Table("text_lengths", "Text length statistics (a word is a whitespace-separated token; count = texts present, "
                  "missing texts such as eval's answers are skipped)", self.lengths),
        ]

    def draw(self) -> list[Plot]:
        """Draw the section's figures from its computed tables.

        Returns
        -------
        list of Plot
        """
        return [
            Plot("question_type_heatmap", "Question-type mix per domain", plots.question_type_heatmap(self.type_mix)),
            Plot("category_mix_by_type", "Domain mix per question type", plots.category_mix_by_type_bars(self.mix)),
            Plot("lengths", "Text lengths by question type", plots.length_distributions(self.lengths)),
        ]


PAIRS_SHOWN, TEXT_SHOWN = 30, 160


@dataclass
class ContaminationSection(Section):
    """Every eval question against every train question: exact, lexical and embedding near-duplicates.

    Parameters
    ----------
    summary_table : per eval split: questions, exact, lexical, embedding, any (+ shares).
    pairs : every pair found, with both texts (written in full as ``contamination_pairs.csv``).
    settings : the passes' settings (thresholds, shingles, model).
    seconds : wall time of each pass (run-dependent: ``timings.json`` only).
    """

    key = "contamination"
    title = "Train↔eval contamination (every row)"
    stage = "train↔eval contamination"
    order = 40

    summary_table: pd.DataFrame
    pairs: pd.DataFrame
    settings: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)

    @classmethod
    def compute(cls, inputs: SectionInputs) -> ContaminationSection:
        """Compute the section from the report's inputs.

        Parameters
        ----------
        inputs : SectionInputs
            The frame, source, settings, encoder and earlier sections.

        Returns
        -------
        ContaminationSection
        """
        frame, settings = inputs.frame, inputs.settings
        evals = {key: frame.loc[frame[SPLIT] == key, "question"] for key in EVAL_SPLITS if (frame[SPLIT] == key).any()}
        with progress_bar(1 + len(evals), "train index, then eval splits", "step", enabled=inputs.progress) as bar:
            result = contamination.find_contamination(
                inputs.train["question"], evals, encoder=inputs.encoder if settings.contamination_embeddings else None,
                jaccard_threshold=settings.jaccard_threshold, cosine_threshold=settings.near_duplicate_threshold, progress=bar.update,
            )
        return cls(result.summary, result.pairs, dict(result.settings), dict(result.seconds))

    def numbers(self) -> dict[str, Any]:
        """The section's numbers for ``stats.json``.

        Returns
        -------
        dict
            JSON-ready, the same for the same inputs and seed.
        """
        return {
            **self.settings,
            "by_split": self.summary_table.to_dict(orient="index"),
            "pairs_by_kind": self.pairs["kind"].value_counts().to_dict(),
        }

    def overlap(self) -> dict[str, dict[str, Any]]:
        """Per eval split: rows, exact and near twins and their shares.

        Returns
        -------
        dict
            Eval split → counts and shares (the diversity section's ``train_eval_overlap``).
        """
        s = self.settings
        return {
            key: {"eval_rows": int(row["questions"]), "exact": int(row["exact"]), "lexical": int(row["lexical"]),
                  "embedding": row["embedding"], "near": int(row["any"]), "exact_share": row["exact_share"], "near_share": row["any_share"],
                  "jaccard_threshold": s.get("jaccard_threshold"), "threshold": s.get("cosine_threshold")}
            for key, row in self.summary_table.iterrows()
        }

    def summary(self) -> list[str]:
        """Markdown lines for the report's summary list.

        Returns
        -------
        list of str
        """
        s, lines = self.settings, []
        for key, o in self.summary_table.to_dict(orient="index").items():
            embedding = "" if o["embedding"] is None or o["embedding"] != o["embedding"] else f", {int(o['embedding'])} embedding (cosine ≥ {s['cosine_threshold']})"
            lines.append(
                f"- Train↔{key} contamination, every row: of {o['questions']:,} questions, {o['exact']} exact, "
                f"{o['lexical']} lexical (word {s['shingle_words']}-gram Jaccard ≥ {s['jaccard_threshold']}){embedding} "
                f"near-duplicate(s) of the {s['train_rows']:,} train questions (exact: the same text once lower-cased, "
                f"whitespace runs made one space, and ends trimmed of whitespace and quotes)"
            )
        return lines

    def preview(self) -> pd.DataFrame:
        """The first pairs by kind and similarity.

        Returns
        -------
        DataFrame
            Up to :data:`PAIRS_SHOWN` pairs, texts cut to :data:`TEXT_SHOWN` characters.
        """
        pairs = self.pairs
        if pairs.empty:
            return pairs
        order = pairs.assign(_k=pairs["kind"].map({"exact": 0, "lexical": 1, "embedding": 2}))
        shown = order.sort_values(["_k", "similarity"], ascending=[True, False], kind="stable").head(PAIRS_SHOWN)
        shown = shown[["eval_split", "eval_row", "kind", "similarity", "eval_question", "train_question", "train_row", "train_rows"]].copy()
        for column in ("eval_question", "train_question"):
            text = shown[column].astype(str).str.split().str.join(" ")
            shown[column] = text.where(text.str.len() <= TEXT_SHOWN, text.str.slice(0, TEXT_SHOWN - 1) + "…")
        return shown.reset_index(drop=True)

    def tables(self) -> list[Table]:
        """The section's titled tables, in the order shown.

        Returns
        -------
        list of Table
        """
        return [
            Table("contamination_summary", "Eval questions with a train twin (every row)", self.summary_table),
            Table("contamination_pairs", "Train↔eval pairs, most similar first (all of them in contamination_pairs.csv)", self.preview(), csv=self.pairs),
        ]

    def run_info(self) -> dict[str, Any]:
        """Run-dependent details for ``timings.json``.

        Returns
        -------
        dict
        """
        return {"contamination_seconds": {k: round(v, 3) for k, v in self.seconds.items()}}


def _intervals_beside(row: dict) -> dict:
    """The same entries, each metric's ``_ci_low``/``_ci_high`` right after it."""
    out = {k: v for k, v in row.items() if not k.endswith(("_ci_low", "_ci_high"))}
    for metric in diversity.BOOTSTRAP_METRICS:
        if f"{metric}_ci_low" in row:
            keys = list(out)
            at = keys.index(metric) + 1 if metric in keys else len(keys)
            items = list(out.items())
            items[at:at] = [(f"{metric}_ci_low", row[f"{metric}_ci_low"]), (f"{metric}_ci_high", row[f"{metric}_ci_high"])]
            out = dict(items)
    return out


def _comparison(table: pd.DataFrame) -> dict[str, Any]:
    """Per interval metric: how many group pairs have overlapping intervals, and which are separated."""
    out: dict[str, Any] = {}
    if table.empty:
        return out
    sizes = table.loc[~table["too_small"].astype(bool), "n"] if "too_small" in table else table["n"]
    for metric in diversity.BOOTSTRAP_METRICS:
        if f"{metric}_ci_low" not in table:
            continue
        pairs = diversity.intervals_overlap(table, metric)
        out[metric] = {
            "n_each": int(sizes.iloc[0]) if len(sizes) else 0,
            "pairs": len(pairs),
            "overlapping": int(pairs["overlap"].sum()),
            "separated": [f"{a} > {b}" for a, b in pairs.loc[~pairs["overlap"], ["a", "b"]].itertuples(index=False)],
        }
    return out


#: image_info fields the image section reads (train rows; null where the source has no image_info).
REPORT_IMAGE_INFO = ("width", "height", "text_similarity", "text_count")

GROUPS = (("class1", "domains"), (QUESTION_TYPE, "question types"))


@functools.cache
def _metrics_code() -> str:
    """What the cached diversity numbers and intervals are computed by: the diversity module's source and numpy's version (its LAPACK)."""
    return hashlib.sha256(Path(diversity.__file__).read_bytes() + np.__version__.encode()).hexdigest()


def _kept(kind: str, x: np.ndarray, params: dict[str, Any], compute: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
    """``compute()``, kept as JSON in ``$SPA_VL_CACHE/<kind>`` under a hash of ``x`` and ``params``.

    Returns the numbers and whether they came from the cache. A cache that cannot be read or
    written is skipped; the key includes :func:`_metrics_code`, so an edit of the metrics or
    another numpy computes them anew.
    """
    x = np.ascontiguousarray(x)
    params = {**params, "shape": list(x.shape), "dtype": str(x.dtype), "code": _metrics_code()}
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode() + x.tobytes()).hexdigest()
    path = cache_root() / kind / f"{key[:40]}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8")), True
    except (OSError, ValueError):
        pass
    out = compute()
    try:
        atomic_write_text(path, json.dumps(out))
    except OSError:
        pass
    return out, False


def cached_diversity(x: np.ndarray, *, random_state: int = 0, **kwargs: Any) -> diversity.Diversity:
    """:func:`~spa_vl.analysis.metrics.diversity.diversity`, kept in ``$SPA_VL_CACHE/diversity``.

    At full scale the exact near-duplicate rate (every pair) and k-means take minutes per field; they
    are deterministic functions of the vectors, the arguments and the code, so a second report reads
    them (keyed as :func:`cached_bootstrap`).

    Parameters
    ----------
    x : numpy.ndarray of float, shape (n, d)
        Embeddings of one set.
    random_state : int, default 0
        Seed of k-means.
    **kwargs
        ``n_clusters``, ``threshold`` of :func:`~spa_vl.analysis.metrics.diversity.diversity`.

    Returns
    -------
    Diversity
        The same values as ``diversity(x, ...)``.
    """
    numbers, _ = _kept("diversity", x, {"random_state": random_state, **kwargs},
                       lambda: diversity.diversity(x, random_state=random_state, **kwargs).to_dict())
    return diversity.Diversity(**numbers)


def cached_bootstrap(
    x: np.ndarray,
    *,
    n_resamples: int,
    random_state: int,
    estimates: dict[str, float] | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, float]:
    """:func:`~spa_vl.analysis.metrics.diversity.bootstrap_diversity`, kept in ``$SPA_VL_CACHE/bootstrap``.

    The intervals are a deterministic function of the vectors, the resamples, the seed and the code,
    so a warm report reads them instead of repeating ~5 s of eigen-decompositions per run. The key
    hashes the vectors' bytes, shape and dtype, the arguments, and :func:`_metrics_code` (an edit of
    the metrics or another numpy computes them anew). A cache that cannot be read or written is
    skipped.

    Parameters
    ----------
    x : numpy.ndarray of float, shape (n, d)
        Embeddings of one set.
    n_resamples : int
        Resamples per metric.
    random_state : int
        Seed of the resamples.
    estimates : dict of str to float, optional
        Each metric's value on ``x``, where already computed.
    progress : callable of (int,) -> None, optional
        Called with the resamples evaluated (all of them at once when the cache has them).

    Returns
    -------
    dict of str to float
        The same entries and values as ``bootstrap_diversity(x, ...)``.
    """
    names = [f"{m}_ci_{end}" for m in diversity.BOOTSTRAP_METRICS for end in ("low", "high")]
    params = {"n_resamples": n_resamples, "random_state": random_state, "metrics": list(diversity.BOOTSTRAP_METRICS),
              "confidence": diversity.CONFIDENCE}
    out, hit = _kept("bootstrap", x, params, lambda: diversity.bootstrap_diversity(
        x, n_resamples=n_resamples, random_state=random_state, estimates=estimates, progress=progress))
    if sorted(out) != sorted(names):  # an entry of another shape: compute it
        return diversity.bootstrap_diversity(x, n_resamples=n_resamples, random_state=random_state, estimates=estimates, progress=progress)
    if hit and progress is not None and len(x) >= 4:
        progress(n_resamples * len(diversity.BOOTSTRAP_METRICS))
    return {name: float(out[name]) for name in names}


def _resamples_expected(sample: pd.DataFrame, resamples: int) -> int:
    """Bootstrap resamples the diversity section evaluates: per text field and per known group, each metric."""
    if len(sample) < 4:
        return 0
    groups = sum(sample[group][~distributions.is_unknown(sample[group])].nunique() for group, _ in GROUPS)
    return (len(TEXT_COLUMNS) + groups) * len(diversity.BOOTSTRAP_METRICS) * resamples


@dataclass
class DiversitySection(Section):
    """Embedding diversity of a train sample: per text field, per group at equal n, curves, preference pairs.

    Parameters
    ----------
    model : the encoder's model id.
    sample_rows, train_rows : rows embedded, and train rows.
    seed : the seed of every draw.
    intervals : how the 95 % intervals were computed.
    fields : per text column, the diversity numbers with intervals and n.
    by_group : per group column (class1, question_type), one row of numbers per group.
    curves : per text column, the diversity-vs-n curve.
    preference_pairs : chosen↔rejected distance summary.
    train_eval_overlap : the contamination section's twins per eval split.
    points, labels : 2-D PCA of the sampled questions and their class1 (the embedding map).
    """

    key = "diversity"
    title = "Embedding diversity (train sample)"
    stage = "embedding diversity"
    order = 50

    model: str
    sample_rows: int
    train_rows: int
    seed: int
    intervals: dict[str, Any]
    fields: dict[str, dict[str, Any]]
    by_group: dict[str, pd.DataFrame]
    curves: dict[str, pd.DataFrame]
    preference_pairs: dict[str, Any]
    train_eval_overlap: dict[str, Any]
    points: np.ndarray
    labels: list[str]
    unknown_left_out: dict[str, int] = field(default_factory=dict)

    @classmethod
    def compute(cls, inputs: SectionInputs) -> DiversitySection:
        """Compute the section from the report's inputs.

        Parameters
        ----------
        inputs : SectionInputs
            The frame, source, settings, encoder and earlier sections.

        Returns
        -------
        DiversitySection
        """
        settings, encoder, sample = inputs.settings, inputs.encoder, inputs.diversity_sample
        resamples, seed = settings.bootstrap_resamples, settings.seed
        vectors: dict[str, np.ndarray] = {}
        fields: dict[str, dict[str, Any]] = {}
        with progress_bar(_resamples_expected(sample, resamples), "bootstrap", "resample", enabled=inputs.progress and bool(resamples)) as bar:
            for column in TEXT_COLUMNS:
                vectors[column] = encoder.encode(sample[column].tolist())
                numbers = cached_diversity(vectors[column], random_state=seed).to_dict() if len(sample) else {}
                if len(sample) and resamples:
                    numbers.update(cached_bootstrap(vectors[column], n_resamples=resamples, random_state=seed, estimates=numbers,
                                                    progress=bar.update))
                fields[column] = _intervals_beside(numbers)
            q = vectors["question"]
            by_group, unknown_left_out = {}, {}
            for group, _ in GROUPS:
                table = (diversity.group_diversity(q, sample[group], random_state=seed, n_resamples=resamples, progress=bar.update,
                                                   bootstrap=cached_bootstrap, measure=cached_diversity) if len(sample) else pd.DataFrame())
                unknown_left_out[group] = int(table.attrs.get("unknown_left_out", 0))
                by_group[group] = pd.DataFrame.from_dict({g: _intervals_beside(row) for g, row in table.to_dict(orient="index").items()}, orient="index")
        curves = {c: diversity.diversity_curve(v, [s for s in CURVE_SIZES if s <= len(v)] + [len(v)], random_state=seed) for c, v in vectors.items()}
        pairs = diversity.preference_pair_signal(vectors["chosen"], vectors["rejected"], settings.pair_threshold).to_dict() if len(sample) else {}
        done = inputs.done.get("contamination")
        return cls(
            model=encoder.model_id, sample_rows=len(sample), train_rows=len(inputs.train), seed=seed,
            intervals={"method": "half-sample bootstrap", "confidence": diversity.CONFIDENCE, "resamples": resamples, "metrics": list(diversity.BOOTSTRAP_METRICS)},
            fields=fields, by_group=by_group, curves=curves, preference_pairs=pairs,
            train_eval_overlap=done.overlap() if isinstance(done, ContaminationSection) else {},
            points=project_2d(q, seed, method="pca")[0], labels=sample["class1"].tolist(), unknown_left_out=unknown_left_out,
        )

    def numbers(self) -> dict[str, Any]:
        """The section's numbers for ``stats.json``.

        Returns
        -------
        dict
            JSON-ready, the same for the same inputs and seed.
        """
        out: dict[str, Any] = {"model": self.model, "sample_rows": self.sample_rows, "train_rows": self.train_rows,
                               "fields": self.fields, "intervals": self.intervals}
        for group, _ in GROUPS:
            out[f"questions_by_{group}"] = self.by_group[group].to_dict(orient="index")
            out[f"questions_by_{group}_comparison"] = _comparison(self.by_group[group])
            out[f"questions_by_{group}_unknown_left_out"] = self.unknown_left_out.get(group, 0)
        out["curves"] = {c: curve.to_dict(orient="records") for c, curve in self.curves.items()}
        out["preference_pairs"] = self.preference_pairs
        out["train_eval_overlap"] = self.train_eval_overlap
        return out

    def summary(self) -> list[str]:
        """Markdown lines for the report's summary list.

        Returns
        -------
        list of str
        """
        lines = [
            f"- Diversity: {self.sample_rows:,} of {self.train_rows:,} train rows (stratified by class1), model `{self.model}`, seed {self.seed}"
            + ("" if self.sample_rows >= self.train_rows else "; `--full` (or `--sample N`) for every row, embeddings cached")
        ]
        if self.intervals.get("resamples"):
            lines.append(
                f"- Intervals: `_ci_low`–`_ci_high` are {self.intervals['confidence']:.0%} {self.intervals['method']} intervals "
                f"({self.intervals['resamples']} resamples) of the sampled numbers; `n` is the rows each number is computed on"
            )
        for group, label in GROUPS:
            if self.unknown_left_out.get(group):
                lines.append(f"- {self.unknown_left_out[group]:,} sampled rows with an unknown {group} are left out of the comparison of {label}")
            for metric, c in _comparison(self.by_group[group]).items():
                if c["pairs"]:
                    apart = "; separated: " + ", ".join(c["separated"]) if c["separated"] else ""
                    lines.append(
                        f"- Question {metric.replace('_', ' ')} of {label} at n = {c['n_each']} each: "
                        f"intervals overlap for {c['overlapping']} of {c['pairs']} pairs{apart}"
                    )
        p = self.preference_pairs
        if p:
            lines.append(
                f"- Preference pairs: mean chosen↔rejected cosine distance {p['mean_distance']:.3f}; "
                f"{p['near_identical']} near-identical (distance ≤ {p['threshold']})"
            )
        return lines

    def tables(self) -> list[Table]:
        """The section's titled tables, in the order shown.

        Returns
        -------
        list of Table
        """
        fields = pd.DataFrame(self.fields).T if self.fields else pd.DataFrame()
        return [
            Table("diversity_fields", "Diversity per text field", fields),
            Table("diversity_by_class1", "Question diversity per domain (equal n)", self.by_group["class1"]),
            Table(f"diversity_by_{QUESTION_TYPE}", "Question diversity per question type (equal n)", self.by_group[QUESTION_TYPE]),
        ]

    def draw(self) -> list[Plot]:
        """Draw the section's figures from its computed tables.

        Returns
        -------
        list of Plot
        """
        return [
            Plot("embedding_map", "Question embeddings, 2-D PCA", plots.embedding_map(self.points, self.labels, "Train questions (PCA), by class1")),
            Plot("diversity_curves", "Vendi score against n", plots.diversity_curves(self.curves)),
        ]


@contextmanager
def _stage(report: Report, encoder: Encoder, name: str, position: str, progress: bool) -> Iterator[None]:
    """Time one stage (and the texts the model encoded in it) and show it as one progress bar."""
    before, start = encoder.encoded_total, time.perf_counter()
    with progress_bar(1, f"report {position} {name}", "stage", enabled=progress, leave=True, bar_format="{desc}: {bar:10} {elapsed}") as bar:
        yield
        bar.update()
    report.timings.append(StageTime(name, time.perf_counter() - start, encoder.encoded_total - before))


def compute_report(
    source: str | os.PathLike | Source = "sample",
    settings: ReportSettings | None = None,
    *,
    progress: bool = True,
    encoder: Encoder | None = None,
    announce: Callable[[str], None] | None = None,
    embeddings: str | os.PathLike | None = None,
) -> Report:
    """Compute every registered section, one timed stage (and one progress bar) each.

    Parameters
    ----------
    source : ``"sample"``, a mirror folder, a hub id or a resolved :class:`~spa_vl.sources.Source`.
    settings : the report's knobs; default :class:`~spa_vl.analysis.report.sections.ReportSettings`.
    progress : show a progress bar per stage (and the encoder's and image hashing's own bars).
    encoder : the encoder to use; default one built from ``settings`` (model, batch size, device, backend).
    announce : called with an estimate of the encoding time (:func:`spa_vl.analysis.report.estimate.estimate_encoding`,
        measured on a calibration batch) before the sections start, when every train row is embedded
        (``settings.diversity_sample`` is None).
    embeddings : an embedding store (``spa-vl embed``) the default encoder takes vectors from; it encodes only
        texts the store lacks (``texts_encoded`` in ``timings.json``) and refuses a store of another model.

    Returns
    -------
    Report: the sections in order, with ``timings`` per stage.
    """
    settings = settings or ReportSettings()
    source = open_source(source)
    encoder = encoder or Encoder(settings.model, batch_size=settings.batch_size, device=settings.device, backend=settings.backend,
                                 progress=progress, store=embeddings)
    report = Report(source=source.description, settings=settings)  # hub: label @ commit sha
    classes = registered_sections()
    estimate = announce is not None and settings.diversity_sample is None
    total = len(classes) + 1 + estimate
    with _stage(report, encoder, LOAD_STAGE, f"1/{total}", progress):
        frame = labelled_frame(source, image_info=REPORT_IMAGE_INFO)
    inputs = SectionInputs(source, frame, settings, encoder, progress)
    if estimate and announce is not None:
        from .estimate import estimate_encoding

        with _stage(report, encoder, ESTIMATE_STAGE, f"2/{total}", progress):
            announce(estimate_encoding(inputs).describe())
    for i, cls in enumerate(classes, start=total - len(classes) + 1):
        with _stage(report, encoder, cls.stage, f"{i}/{total}", progress):
            section = cls.compute(inputs)
            section.figures()  # drawn inside the stage, so its time counts there
        report.sections.append(section)
        inputs.done[cls.key or cls.stage] = section
        report.run.update(section.run_info())
    report.run["encoder"] = {"model": encoder.model_id, "backend": encoder.backend, "device": encoder.device, "batch_size": encoder.batch_size}
    if _IMPORTS:  # outside every stage: the one other cost of a run over a second (timings.json only)
        report.run["import_seconds"] = round(_IMPORTS.pop(), 3)
    return report


def build_report(
    source: str | os.PathLike | Source = "sample",
    out: str | os.PathLike = "spa-vl-report",
    settings: ReportSettings | None = None,
    *,
    overwrite: bool = False,
    progress: bool = True,
    announce: Callable[[str], None] | None = None,
    embeddings: str | os.PathLike | None = None,
) -> Path:
    """Compute the report and write it to ``out`` (built aside, renamed into place).

    Parameters
    ----------
    source, settings, progress, announce, embeddings : as for :func:`compute_report`.
    out : the report folder.
    overwrite : replace an existing folder.

    Returns
    -------
    Path of the report folder.
    """
    from spa_vl.atomic import check_writable_dir

    from .render import write_report

    check_writable_dir(out, overwrite=overwrite, what="report")  # fail before an hour of work
    report = compute_report(source, settings, progress=progress, announce=announce, embeddings=embeddings)
    return write_report(report, out, overwrite=overwrite, progress=progress)


__all__ = [
    "ReportSettings", "Report", "compute_report", "build_report", "TaxonomySection", "BalanceSection",
    "DifficultySection", "ContaminationSection", "DiversitySection", *media_sections.__all__,
]

_IMPORTS.append(time.perf_counter() - _IMPORT_START)
