"""The report: every analysis of a source, computed in small steps, then written by :mod:`.render`.

:func:`compute_report` returns a :class:`Report` (numbers, tables, figures) that a notebook can
inspect; :func:`build_report` also writes ``report.html``, ``report.md``, one PNG per figure and
``stats.json`` (the ``spa-vl stats`` numbers plus ``balance``, ``difficulty`` and ``diversity``).
Diversity runs on a sample of train stratified by class1 (size in the report, ``diversity_sample``;
``None`` = every row, with the cache).
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

from . import difficulty, distributions, diversity, media_sections, plots
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
    """

    diversity_sample: int | None = 1000
    model: str | None = None
    seed: int = 0
    near_duplicate_threshold: float = 0.95
    pair_threshold: float = 0.05
    batch_size: int = 64


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
    vectors: dict[str, np.ndarray] = {}
    encoded = 0
    for column in TEXT_COLUMNS:
        vectors[column] = encoder.encode(sample[column].tolist())
        encoded += encoder.last_encoded
        section["fields"][column] = diversity.diversity(vectors[column], random_state=settings.seed).to_dict() if len(sample) else {}
    q = vectors["question"]
    for group in ("class1", QUESTION_TYPE):
        table = diversity.group_diversity(q, sample[group], random_state=settings.seed) if len(sample) else pd.DataFrame()
        report.tables[f"diversity_by_{group}"] = table
        section[f"questions_by_{group}"] = table.to_dict(orient="index")
    curves = {c: diversity.diversity_curve(v, [s for s in CURVE_SIZES if s <= len(v)] + [len(v)], random_state=settings.seed) for c, v in vectors.items()}
    section["curves"] = {c: curve.to_dict(orient="records") for c, curve in curves.items()}
    section["preference_pairs"] = diversity.preference_pair_signal(vectors["chosen"], vectors["rejected"], settings.pair_threshold).to_dict() if len(sample) else {}
    section["train_eval_overlap"] = {}
    for key in EVAL_SPLITS:
        eval_rows = frame[frame[SPLIT] == key]
        if len(eval_rows):
            eval_x = encoder.encode(eval_rows["question"].tolist())
            encoded += encoder.last_encoded
            # exact matches against every train question; near matches against the embedded sample
            section["train_eval_overlap"][key] = diversity.overlap(train["question"], eval_rows["question"], q, eval_x, settings.near_duplicate_threshold)
    section["texts_encoded_this_run"] = encoded
    report.stats["diversity"] = section
    report.figures["embedding_map"] = plots.embedding_map(q, sample["class1"], "Train questions (PCA), by class1")
    report.figures["diversity_curves"] = plots.diversity_curves(curves)


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
    encoder = encoder or Encoder(settings.model, batch_size=settings.batch_size, progress=progress)
    report = Report(source=source.label, stats={}, settings=settings)
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
