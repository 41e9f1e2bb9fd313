"""The report: every analysis of a source, computed in small steps, then written by :mod:`.render`.

:func:`compute_report` returns a :class:`Report` (numbers, tables, figures) that a notebook can
inspect; :func:`build_report` also writes ``report.html``, ``report.md``, one PNG per figure and
``stats.json`` (the ``spa-vl stats`` numbers plus ``balance``, ``difficulty`` and ``diversity``).
Diversity runs on a sample of train stratified by class1 (size in the report, ``diversity_sample``;
``None`` = every row, with the cache); each sampled number carries a 95 % interval and its n.
Train↔eval contamination compares every eval question with every train question
(:mod:`.contamination`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from spa_vl.features import TEXT_COLUMNS
from spa_vl.sources import Source, resolve_source
from spa_vl.stats import compute_stats
from spa_vl.taxonomy import LEVELS, QUESTION_TYPE

from . import contamination, difficulty, distributions, diversity, media_sections, plots
from .embeddings import Encoder
from .frames import SPLIT, labelled_frame
from .sampling import stratified_sample

TRAIN = "train/train"
EVAL_SPLITS = ("eval/harm", "eval/help")
CURVE_SIZES = (25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000)


@dataclass
class ReportSettings:
    """Knobs of the report.

    diversity_sample : train rows embedded per text field (stratified by class1); None = all.
    model : sentence-transformers model name or path; None = the packaged all-MiniLM-L6-v2.
    seed : seed of every random draw (sample, k-means, PCA, curves).
    near_duplicate_threshold : cosine similarity at which two questions count as near-duplicates.
    pair_threshold : chosen/rejected cosine distance at or below which a pair is near-identical.
    batch_size : encoder batch size.
    bootstrap_resamples : resamples behind each 95 % interval of a sampled diversity number (0 = none).
    jaccard_threshold : word-shingle Jaccard at which an eval question is a lexical near-duplicate.
    contamination_embeddings : run the embedding pass of the contamination check (every distinct train
        question is encoded once, then cached).
    device : encoder device, ``cpu``, ``cuda`` or ``auto``.
    """

    diversity_sample: int | None = 1000
    model: str | None = None
    seed: int = 0
    near_duplicate_threshold: float = 0.95
    pair_threshold: float = 0.05
    batch_size: int = 64
    bootstrap_resamples: int = diversity.N_RESAMPLES
    jaccard_threshold: float = contamination.JACCARD_THRESHOLD
    contamination_embeddings: bool = True
    device: str = "cpu"


@dataclass
class Report:
    """Everything the report shows: ``stats`` (JSON-ready), ``tables`` (frames) and ``figures``."""

    source: str
    stats: dict[str, Any]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, Figure] = field(default_factory=dict)
    settings: ReportSettings = field(default_factory=ReportSettings)
    pages: dict[str, str] = field(default_factory=dict)  # extra self-contained pages (file name → HTML), e.g. the explorer


def _balance_section(frame: pd.DataFrame, report: Report) -> None:
    balance, divergence = {}, {}
    for level in (*LEVELS, QUESTION_TYPE):
        table = distributions.balance_by_split(frame, level)
        report.tables[f"balance_{level}"] = table
        balance[level] = table.to_dict(orient="index")
        div = distributions.divergence_between_splits(frame, level)
        report.tables[f"divergence_{level}"] = div
        divergence[level] = div.to_dict(orient="index")
        report.tables[f"counts_{level}"] = distributions.counts_by_split(frame, level)
    report.tables["class2_by_split"] = distributions.crosstab(frame, "class2", SPLIT)
    report.tables["class1_by_question_type"] = distributions.crosstab(frame, "class1", QUESTION_TYPE)
    report.stats["balance"] = {"by_split": balance, "js_divergence_bits": divergence}


def _difficulty_section(frame: pd.DataFrame, report: Report) -> None:
    train = frame[frame[SPLIT] == TRAIN] if (frame[SPLIT] == TRAIN).any() else frame
    lengths = difficulty.text_length_stats(frame)
    report.tables["question_type_sizes"] = frame.groupby([SPLIT, QUESTION_TYPE]).size().unstack(fill_value=0)
    report.tables["text_lengths"] = lengths
    report.tables["class1_mix_by_type"] = difficulty.category_mix_by_type(train, "class1")
    report.tables["balance_by_type"] = difficulty.balance_by_type(train, "class1")
    report.stats["difficulty"] = {
        "sizes": report.tables["question_type_sizes"].to_dict(orient="index"),
        "text_lengths": lengths.reset_index().to_dict(orient="records"),
        "class1_mix_by_type": report.tables["class1_mix_by_type"].to_dict(orient="dict"),
        "class1_balance_by_type": report.tables["balance_by_type"].to_dict(orient="index"),
    }


def _diversity_section(frame: pd.DataFrame, report: Report, encoder: Encoder) -> None:
    settings = report.settings
    train = frame[frame[SPLIT] == TRAIN]
    limit = len(train) if settings.diversity_sample is None else settings.diversity_sample
    sample = train.loc[stratified_sample(train, limit, "class1", settings.seed)] if len(train) else train
    section: dict[str, Any] = {"model": encoder.model_id, "sample_rows": len(sample), "train_rows": len(train), "fields": {}}
    resamples = settings.bootstrap_resamples
    section["intervals"] = {"method": "half-sample bootstrap", "confidence": diversity.CONFIDENCE, "resamples": resamples, "metrics": list(diversity.BOOTSTRAP_METRICS)}
    vectors: dict[str, np.ndarray] = {}
    encoded = 0
    for column in TEXT_COLUMNS:
        vectors[column] = encoder.encode(sample[column].tolist())
        encoded += encoder.last_encoded
        fields = diversity.diversity(vectors[column], random_state=settings.seed).to_dict() if len(sample) else {}
        if len(sample) and resamples:
            fields.update(diversity.bootstrap_diversity(vectors[column], n_resamples=resamples, random_state=settings.seed))
        section["fields"][column] = _intervals_beside(fields)
    q = vectors["question"]
    for group in ("class1", QUESTION_TYPE):
        table = diversity.group_diversity(q, sample[group], random_state=settings.seed, n_resamples=resamples) if len(sample) else pd.DataFrame()
        table = pd.DataFrame.from_dict({g: _intervals_beside(row) for g, row in table.to_dict(orient="index").items()}, orient="index")
        report.tables[f"diversity_by_{group}"] = table
        section[f"questions_by_{group}"] = table.to_dict(orient="index")
        section[f"questions_by_{group}_comparison"] = _comparison(table)
    curves = {c: diversity.diversity_curve(v, [s for s in CURVE_SIZES if s <= len(v)] + [len(v)], random_state=settings.seed) for c, v in vectors.items()}
    section["curves"] = {c: curve.to_dict(orient="records") for c, curve in curves.items()}
    section["preference_pairs"] = diversity.preference_pair_signal(vectors["chosen"], vectors["rejected"], settings.pair_threshold).to_dict() if len(sample) else {}
    section["train_eval_overlap"] = {}  # filled by the contamination step, over every train row
    section["texts_encoded_this_run"] = encoded
    report.stats["diversity"] = section
    report.figures["embedding_map"] = plots.embedding_map(q, sample["class1"], "Train questions (PCA), by class1")
    report.figures["diversity_curves"] = plots.diversity_curves(curves)


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


def _contamination_section(frame: pd.DataFrame, report: Report, encoder: Encoder) -> None:
    """Every eval question against every train question: exact, lexical and embedding near-duplicates."""
    settings = report.settings
    train = frame[frame[SPLIT] == TRAIN]
    evals = {key: frame.loc[frame[SPLIT] == key, "question"] for key in EVAL_SPLITS if (frame[SPLIT] == key).any()}
    before = encoder.encoded_total
    result = contamination.find_contamination(
        train["question"], evals, encoder=encoder if settings.contamination_embeddings else None,
        jaccard_threshold=settings.jaccard_threshold, cosine_threshold=settings.near_duplicate_threshold,
    )
    report.tables["contamination_summary"] = result.summary
    report.tables["contamination_pairs"] = result.pairs
    report.stats["contamination"] = {
        **result.settings,
        "seconds": {k: round(v, 3) for k, v in result.seconds.items()},
        "by_split": result.summary.to_dict(orient="index"),
        "pairs_by_kind": result.pairs["kind"].value_counts().to_dict(),
    }
    section = report.stats.setdefault("diversity", {})
    section["train_eval_overlap"] = {
        key: {"eval_rows": int(row["questions"]), "exact": int(row["exact"]), "lexical": int(row["lexical"]),
              "embedding": row["embedding"], "near": int(row["any"]), "exact_share": row["exact_share"], "near_share": row["any_share"],
              "jaccard_threshold": settings.jaccard_threshold, "threshold": settings.near_duplicate_threshold}
        for key, row in result.summary.iterrows()
    }
    section["texts_encoded_this_run"] = section.get("texts_encoded_this_run", 0) + encoder.encoded_total - before


def compute_report(
    source: str | os.PathLike | Source = "sample",
    settings: ReportSettings | None = None,
    *,
    progress: bool = True,
    encoder: Encoder | None = None,
) -> Report:
    """Compute every section of the report, showing one progress step per section."""
    settings = settings or ReportSettings()
    source = resolve_source(source)
    encoder = encoder or Encoder(settings.model, batch_size=settings.batch_size, device=settings.device, progress=progress)
    report = Report(source=source.description, stats={}, settings=settings)  # hub: label @ commit sha
    frame: pd.DataFrame = pd.DataFrame()

    def load() -> None:
        nonlocal frame
        report.stats.update(compute_stats(source))
        frame = labelled_frame(source)

    def figures() -> None:
        train = frame[frame[SPLIT] == TRAIN]
        report.figures["taxonomy"] = plots.taxonomy_bars(train, "Train: harm taxonomy (rows per subcategory)")
        report.figures["question_type_heatmap"] = plots.question_type_heatmap(train)
        report.figures["category_mix_by_type"] = plots.category_mix_by_type_bars(train)
        report.figures["lengths"] = plots.length_distributions(frame)

    steps: list[tuple[str, Callable[[], None]]] = [
        ("read labels and texts", load),
        ("taxonomy balance", lambda: _balance_section(frame, report)),
        ("question difficulty", lambda: _difficulty_section(frame, report)),
        ("figures", figures),
        ("embedding diversity", lambda: _diversity_section(frame, report, encoder)),
        ("train↔eval contamination", lambda: _contamination_section(frame, report, encoder)),
        ("images", lambda: media_sections.image_section(source, frame, report, progress=progress)),
        ("response models", lambda: media_sections.model_section(frame, report, encoder)),
        ("explorer", lambda: media_sections.explorer_section(source, frame, report, encoder)),
    ]
    with tqdm(total=len(steps), desc="report", unit="step", disable=not progress) as bar:
        for name, step in steps:
            bar.set_postfix_str(name)
            step()
            bar.update()
    return report


def build_report(
    source: str | os.PathLike | Source = "sample",
    out: str | os.PathLike = "spa-vl-report",
    settings: ReportSettings | None = None,
    *,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Compute the report and write it to ``out`` (built aside, renamed into place)."""
    from .render import write_report
    from spa_vl.atomic import check_writable_dir

    check_writable_dir(out, overwrite=overwrite, what="report")  # fail before an hour of work
    report = compute_report(source, settings, progress=progress)
    return write_report(report, out, overwrite=overwrite)
