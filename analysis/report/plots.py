"""Figures: one function per figure, each taking computed data and returning a matplotlib Figure.

Figures are built with ``matplotlib.figure.Figure`` (no pyplot state, no GUI backend), so they
render the same in a notebook, a script or CI. Empty inputs give a figure that says "no rows".
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from spa_vl.atomic import atomic_write
from spa_vl.taxonomy import QUESTION_TYPE, UNKNOWN

from ..metrics.difficulty import TYPE_ORDER
from . import palette


class SpaVLFigure(Figure):
    """A matplotlib Figure that shows itself as PNG in Jupyter with no backend set up."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=90)
        return buffer.getvalue()


def _empty(fig: Figure, ax, title: str) -> Figure:
    ax.text(0.5, 0.5, "no rows", ha="center", va="center", fontsize=14, transform=ax.transAxes)
    ax.set_axis_off()
    ax.set_title(title)
    return fig


def _palette(labels) -> dict:
    # one colour per label whatever else a figure shows: the explorer uses the same function
    return palette.colours(labels)


def taxonomy_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows per (class1, class2, class3): the table :func:`taxonomy_bars` draws.

    Parameters
    ----------
    frame : labelled rows with ``class1``, ``class2`` and ``class3``.

    Returns
    -------
    DataFrame with columns ``class1``, ``class2``, ``class3``, ``rows`` (one row per observed subcategory).
    """
    if not len(frame):
        return pd.DataFrame(columns=["class1", "class2", "class3", "rows"])
    return frame.groupby(["class1", "class2", "class3"]).size().rename("rows").reset_index()


def taxonomy_bars(counts: pd.DataFrame, title: str = "Harm taxonomy") -> Figure:
    """Nested bars: one bar per subcategory (class3), grouped by category, coloured by domain.

    Parameters
    ----------
    counts : :func:`taxonomy_counts` (columns class1, class2, class3, rows); labelled rows without a
        ``rows`` column are counted first.
    title : the figure's title.

    Returns
    -------
    Figure
    """
    if "rows" not in counts.columns:
        counts = taxonomy_counts(counts)
    fig = SpaVLFigure(figsize=(9, max(3.0, 0.22 * len(counts) + 1.2)), layout="constrained")
    ax = fig.subplots()
    if not len(counts):
        return _empty(fig, ax, title)
    domain_order = counts.groupby("class1")["rows"].sum().sort_values(ascending=False).index
    counts = counts.assign(order=counts["class1"].map({d: i for i, d in enumerate(domain_order)}))
    counts = counts.sort_values(["order", "class2", "rows"], ascending=[True, True, False]).reset_index(drop=True)
    palette = _palette(domain_order)
    y = np.arange(len(counts))[::-1]
    ax.barh(y, counts["rows"], color=[palette[d] for d in counts["class1"]])
    ax.set_yticks(y, [f"{c2} / {c3}" for c2, c3 in zip(counts["class2"], counts["class3"])], fontsize=7)
    ax.set_xlabel("rows")
    ax.set_title(title)
    handles = [ax.barh([0], [0], color=palette[d], label=d) for d in domain_order]
    ax.legend(handles=handles, fontsize=7, loc="lower right", title="class1", title_fontsize=8)
    return fig


def question_type_heatmap(shares: pd.DataFrame, title: str = "Question-type mix per domain") -> Figure:
    """Heatmap of the share of each question type (columns) within each category (rows).

    Parameters
    ----------
    shares : e.g. ``distributions.crosstab(frame, "class1", "question_type", normalize="index")``:
        categories as rows (index named by the level), question types as columns, rows summing to 1.
    title : the figure's title.

    Returns
    -------
    Figure
    """
    fig = SpaVLFigure(figsize=(7, 0.45 * max(4, len(shares)) + 1.5), layout="constrained")
    ax = fig.subplots()
    if shares.empty:
        return _empty(fig, ax, title)
    shares = shares.reindex(columns=[t for t in TYPE_ORDER if t in shares.columns])
    import seaborn as sns  # on first use: importing it (and scipy.stats) takes ~1 s
    sns.heatmap(shares, annot=True, fmt=".2f", cmap="viridis", vmin=0, vmax=1, ax=ax, cbar_kws={"label": "share"})
    ax.set_xlabel("question type")
    ax.set_ylabel(shares.index.name or "")
    ax.set_title(title)
    return fig


def category_mix_by_type_bars(mix: pd.DataFrame, title: str = "Category mix per question type") -> Figure:
    """Stacked bars: each question type's composition by category.

    Parameters
    ----------
    mix : :func:`spa_vl.analysis.metrics.difficulty.category_mix_by_type` (categories as rows, question types as
        columns, columns summing to 1).
    title : the figure's title.

    Returns
    -------
    Figure
    """
    fig = SpaVLFigure(figsize=(7, 4), layout="constrained")
    ax = fig.subplots()
    if mix.empty:
        return _empty(fig, ax, title)
    mix = mix.T
    palette = _palette(mix.columns)
    mix.plot.bar(stacked=True, ax=ax, color=[palette[c] for c in mix.columns], width=0.7)
    ax.set_ylabel("share")
    ax.set_title(title)
    ax.legend(fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")
    return fig


def length_distributions(lengths: pd.DataFrame, title: str = "Text length (words)") -> Figure:
    """Median words per text column and question type, a whisker up to the 90th percentile, a dot at the mean.

    Parameters
    ----------
    lengths : :func:`spa_vl.analysis.metrics.difficulty.text_length_stats` (indexed by question type and column, with
        ``median_words``, ``p90_words`` and ``mean_words``).
    title : the figure's title.

    Returns
    -------
    Figure
    """
    fig = SpaVLFigure(figsize=(8, 4), layout="constrained")
    ax = fig.subplots()
    if lengths.empty:
        return _empty(fig, ax, title)
    table = lengths.reset_index()
    columns = list(dict.fromkeys(table["column"]))
    types = [t for t in TYPE_ORDER if t in set(table[QUESTION_TYPE])]
    palette = _palette(types)
    width = 0.8 / len(types)
    for k, qtype in enumerate(types):
        part = table[table[QUESTION_TYPE] == qtype].set_index("column").reindex(columns)
        x = np.arange(len(columns)) - 0.4 + width * (k + 0.5)
        median, p90, mean = (part[c].to_numpy(dtype=float) for c in ("median_words", "p90_words", "mean_words"))
        ax.bar(x, median, width=width * 0.9, color=palette[qtype], label=qtype)
        ax.errorbar(x, median, yerr=[np.zeros_like(median), np.nan_to_num(p90 - median)], fmt="none", ecolor="#333", capsize=2, lw=0.8)
        ax.plot(x, mean, "o", color="#333", ms=3)
    ax.set_xticks(np.arange(len(columns)), columns)
    ax.set_ylabel("words (bar: median, whisker: 90th percentile, dot: mean)")
    ax.set_title(title)
    ax.legend(fontsize=7, title=QUESTION_TYPE, title_fontsize=8)
    return fig


def embedding_map(points: np.ndarray, labels, title: str = "Question embeddings (PCA)") -> Figure:
    """Scatter of 2-D projected embeddings, coloured by label.

    Parameters
    ----------
    points : float array of shape (n, 2), e.g. :func:`spa_vl.analysis.report.explorer.project_2d` of the embeddings.
    labels : n labels (one colour each, from :mod:`spa_vl.analysis.report.palette`).
    title : the figure's title.

    Returns
    -------
    Figure
    """
    fig = SpaVLFigure(figsize=(7, 5.5), layout="constrained")
    ax = fig.subplots()
    points = np.asarray(points, dtype=float)
    if len(points) < 2:
        return _empty(fig, ax, title)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"embedding_map draws 2-D points, got shape {points.shape}: project the embeddings first (explorer.project_2d)")
    labels = pd.Series(list(labels))
    palette = _palette(labels.value_counts().index)
    for label, colour in palette.items():
        mask = (labels == label).to_numpy()
        ax.scatter(points[mask, 0], points[mask, 1], s=8, alpha=0.7, color=colour, label=label)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(title)
    ax.legend(fontsize=7, markerscale=2)
    return fig


def diversity_curves(curves: Mapping[str, pd.DataFrame], metric: str = "vendi_score", title: str = "Diversity vs n") -> Figure:
    """Lines of a diversity metric against subset size, one per curve (e.g. per text field).

    Parameters
    ----------
    curves : name → :func:`spa_vl.analysis.metrics.diversity.diversity_curve` (columns ``n`` and ``metric``).
    metric : the column drawn.
    title : the figure's title.

    Returns
    -------
    Figure
    """
    fig = SpaVLFigure(figsize=(7, 4), layout="constrained")
    ax = fig.subplots()
    curves = {k: v for k, v in curves.items() if len(v)}
    if not curves:
        return _empty(fig, ax, title)
    for name, curve in curves.items():
        ax.plot(curve["n"], curve[metric], marker="o", label=name)
    ax.set_xscale("log")
    ax.set_xlabel("n (rows)")
    ax.set_ylabel(metric.replace("_", " "))
    ax.set_title(title)
    ax.legend()
    return fig


def image_grid(rows, columns: int = 4, title: str = "Sample rows") -> Figure:
    """Images of a few dataset rows with their labels.

    Parameters
    ----------
    rows : a ``datasets.Dataset`` slice or dicts; ClassLabel ids are shown by name when it has ``features``.
    columns : images per row of the grid.
    title : the figure's title.

    Returns
    -------
    Figure
    """
    features = getattr(rows, "features", {})
    items = list(rows)
    n_rows = max(1, -(-len(items) // columns))
    fig = SpaVLFigure(figsize=(3 * columns, 3.2 * n_rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(n_rows, columns)).ravel()
    if not items:
        return _empty(fig, axes[0], title)

    def name(column: str, value) -> str:
        feature = features.get(column) if hasattr(features, "get") else None
        if feature is not None and hasattr(feature, "int2str") and isinstance(value, int):
            return UNKNOWN if value < 0 else feature.int2str(value)
        return str(value)

    for ax, item in zip(axes, items):
        ax.imshow(np.asarray(item["image"].convert("RGB")))
        label = " / ".join(name(c, item[c]) for c in ("class2", "class3") if c in item)
        qtype = name(QUESTION_TYPE, item[QUESTION_TYPE]) if QUESTION_TYPE in item else ""
        ax.set_title(f"{label}\n[{qtype}] {str(item.get('question', ''))[:40]}…", fontsize=7)
    for ax in axes:
        ax.set_axis_off()
    fig.suptitle(title)
    return fig


def subset_mix(pool: pd.DataFrame, subsets: Mapping[str, pd.DataFrame], level: str = "class1", title: str | None = None) -> Figure:
    """Grouped bars of each category's share in the pool and in each subset (does a subset keep the mix?).

    Parameters
    ----------
    pool : the rows subsets are drawn from.
    subsets : name → rows of each subset.
    level : the label column compared.
    title : the figure's title (default from ``level``).

    Returns
    -------
    Figure
    """
    fig = SpaVLFigure(figsize=(9, 4.5), layout="constrained")
    ax = fig.subplots()
    title = title or f"{level} shares: pool vs subsets"
    if not len(pool):
        return _empty(fig, ax, title)
    shares = pd.DataFrame({"pool": pool[level].value_counts(normalize=True)})
    for name, rows in subsets.items():
        shares[name] = rows[level].value_counts(normalize=True)
    shares = shares.fillna(0.0).sort_values("pool", ascending=False)
    shares.plot.bar(ax=ax, width=0.8)
    ax.set_ylabel("share of rows")
    ax.set_title(title)
    ax.tick_params(axis="x", labelsize=7, labelrotation=30)
    ax.legend(fontsize=7)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Write a figure as PNG atomically (same figure, same bytes: no timestamp metadata).

    Parameters
    ----------
    fig : the figure.
    path : the PNG file.
    dpi : resolution.

    Returns
    -------
    Path
        ``path``.
    """
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi, metadata={"Software": None}))
