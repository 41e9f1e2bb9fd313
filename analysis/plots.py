"""Figures: one function per figure, each taking computed data and returning a matplotlib Figure.

Figures are built with ``matplotlib.figure.Figure`` (no pyplot state, no GUI backend), so they
render the same in a notebook, a script or CI. Empty inputs give a figure that says "no rows".
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from spa_vl.atomic import atomic_write
from spa_vl.features import TEXT_COLUMNS
from spa_vl.taxonomy import QUESTION_TYPE, UNKNOWN

from . import palette
from .difficulty import TYPE_ORDER, category_mix_by_type


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


def taxonomy_bars(frame: pd.DataFrame, title: str = "Harm taxonomy") -> Figure:
    """Nested bars: one bar per subcategory (class3), grouped by category, coloured by domain."""
    counts = frame.groupby(["class1", "class2", "class3"]).size().rename("rows").reset_index() if len(frame) else frame
    fig = SpaVLFigure(figsize=(9, max(3.0, 0.22 * len(counts) + 1.2)), layout="constrained")
    ax = fig.subplots()
    if not len(counts):
        return _empty(fig, ax, title)
    domain_order = counts.groupby("class1")["rows"].sum().sort_values(ascending=False).index
    counts["order"] = counts["class1"].map({d: i for i, d in enumerate(domain_order)})
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


def question_type_heatmap(frame: pd.DataFrame, level: str = "class1", title: str = "Question-type mix per domain") -> Figure:
    """Heatmap of the share of each question type within each category of ``level`` (rows sum to 1)."""
    fig = SpaVLFigure(figsize=(7, 0.45 * max(4, frame[level].nunique() if len(frame) else 4) + 1.5), layout="constrained")
    ax = fig.subplots()
    if not len(frame):
        return _empty(fig, ax, title)
    shares = pd.crosstab(frame[level], frame[QUESTION_TYPE], normalize="index")
    shares = shares.reindex(columns=[t for t in TYPE_ORDER if t in shares.columns])
    sns.heatmap(shares, annot=True, fmt=".2f", cmap="viridis", vmin=0, vmax=1, ax=ax, cbar_kws={"label": "share"})
    ax.set_xlabel("question type")
    ax.set_ylabel(level)
    ax.set_title(title)
    return fig


def category_mix_by_type_bars(frame: pd.DataFrame, level: str = "class1", title: str = "Category mix per question type") -> Figure:
    """Stacked bars: each question type's composition by category."""
    fig = SpaVLFigure(figsize=(7, 4), layout="constrained")
    ax = fig.subplots()
    if not len(frame):
        return _empty(fig, ax, title)
    mix = category_mix_by_type(frame, level).T
    palette = _palette(mix.columns)
    mix.plot.bar(stacked=True, ax=ax, color=[palette[c] for c in mix.columns], width=0.7)
    ax.set_ylabel("share")
    ax.set_title(title)
    ax.legend(fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")
    return fig


def length_distributions(frame: pd.DataFrame, columns: tuple[str, ...] = TEXT_COLUMNS, title: str = "Text length (words)") -> Figure:
    """Box plots of word counts per text column, split by question type."""
    fig = SpaVLFigure(figsize=(8, 4), layout="constrained")
    ax = fig.subplots()
    present = [c for c in columns if c in frame and frame[c].notna().any()]
    if not len(frame) or not present:
        return _empty(fig, ax, title)
    long = frame.melt(id_vars=[QUESTION_TYPE], value_vars=present, var_name="column", value_name="text").dropna(subset=["text"])
    long["words"] = long["text"].astype(str).str.split().str.len()
    order = [t for t in TYPE_ORDER if t in set(long[QUESTION_TYPE])]
    sns.boxplot(data=long, x="column", y="words", hue=QUESTION_TYPE, hue_order=order, palette=_palette(order), ax=ax, fliersize=1)
    ax.set_title(title)
    return fig


def embedding_map(x: np.ndarray, labels, title: str = "Question embeddings (PCA)") -> Figure:
    """2-D PCA map of embeddings, coloured by label."""
    fig = SpaVLFigure(figsize=(7, 5.5), layout="constrained")
    ax = fig.subplots()
    if len(x) < 2:
        return _empty(fig, ax, title)
    from sklearn.decomposition import PCA

    points = PCA(n_components=2, random_state=0).fit_transform(x)
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
    """Lines of a diversity metric against subset size, one per curve (e.g. per text field)."""
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
    """Images of a few dataset rows with their labels (``rows``: a ``datasets.Dataset`` slice or dicts).

    Label columns that are ClassLabel ids are shown by name when ``rows`` has ``features``.
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
        if hasattr(feature, "int2str") and isinstance(value, int):
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
    """Grouped bars of each category's share in the pool and in each subset (does a subset keep the mix?)."""
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
    """Write a figure as PNG atomically (same figure, same bytes: no timestamp metadata)."""
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi, metadata={"Software": None}))
