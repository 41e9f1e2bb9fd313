"""Figures of the image and response-model sections (same conventions as :mod:`.plots`)."""

from __future__ import annotations

import io
from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from PIL import Image

from .palette import colours
from .plots import SpaVLFigure


def _note(title: str, note: str) -> Figure:
    fig = SpaVLFigure(figsize=(7, 2.2), layout="constrained")
    ax = fig.subplots()
    ax.text(0.5, 0.5, note, ha="center", va="center", fontsize=9, wrap=True, transform=ax.transAxes)
    ax.set_axis_off()
    ax.set_title(title)
    return fig


def duplicate_pairs(examples: pd.DataFrame, images: Mapping[tuple[str, int], bytes], max_pairs: int = 6,
                    title: str = "Duplicate images, side by side") -> Figure:
    """Example duplicate pairs: each row shows image A and image B with their split, row and distance.

    Parameters
    ----------
    examples : :attr:`spa_vl.analysis.metrics.images.Duplicates.examples` (the pairs to show).
    images : ``(split, row)`` → image bytes (:func:`spa_vl.analysis.inputs.images.fetch_images`).
    max_pairs : pairs shown at most.
    title : the figure's title.

    Returns
    -------
    Figure
    """
    examples = examples.head(max_pairs)
    if examples.empty:
        return _note(title, "no duplicate pairs found")
    fig = SpaVLFigure(figsize=(6, 2.6 * len(examples)), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(examples), 2))
    for (ax_a, ax_b), pair in zip(axes, examples.itertuples(index=False)):
        for ax, split, row in ((ax_a, pair.split_a, pair.row_a), (ax_b, pair.split_b, pair.row_b)):
            data = images.get((split, int(row)))
            if data:
                with Image.open(io.BytesIO(data)) as image:
                    ax.imshow(np.asarray(image.convert("RGB")))
                    size = f"{image.width}×{image.height}"
            else:
                size = "image not read"
            ax.set_title(f"{split} row {row} ({size})", fontsize=8)
            ax.set_axis_off()
        ax_a.text(1.02, 0.5, f"{pair.kind}\n{pair.distance} bits", transform=ax_a.transAxes, fontsize=8, va="center")
    fig.suptitle(title)
    return fig


def image_info_boxes(stats: pd.DataFrame | None, title: str = "image_info per domain") -> Figure:
    """Box plots of ``text_similarity`` and ``text_count`` per group, drawn from their computed quartiles.

    Parameters
    ----------
    stats : :func:`spa_vl.analysis.metrics.images.image_info_stats` (indexed by group and field, with ``min``,
        ``25%``, ``50%``, ``75%``, ``max`` and ``mean``); None when the source has no image_info.
    title : the figure's title.

    Returns
    -------
    Figure: one panel per field, boxes from the quartiles, whiskers from min to max, a dot at the mean.
    """
    if stats is None or stats.empty:
        return _note(title, "no image_info fields (text_similarity, text_count) in this source")
    fields = list(dict.fromkeys(stats.index.get_level_values("field")))
    fig = SpaVLFigure(figsize=(5 * len(fields), 4.5), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(fields)))
    for ax, name in zip(axes, fields):
        part = stats.xs(name, level="field")
        part = part.sort_values("count", ascending=False, kind="stable")
        groups = [str(g) for g in part.index]
        boxes = [
            {"label": g, "whislo": r["min"], "q1": r["25%"], "med": r["50%"], "q3": r["75%"], "whishi": r["max"], "mean": r["mean"], "fliers": []}
            for g, (_, r) in zip(groups, part.iterrows())
        ]
        drawn = ax.bxp(boxes, orientation="horizontal", showmeans=True, patch_artist=True, meanprops={"marker": "o", "markersize": 3})
        palette = colours(groups)
        for patch, group in zip(drawn["boxes"], groups):
            patch.set_facecolor(palette[group])
        ax.invert_yaxis()
        ax.set_title(name)
        ax.tick_params(axis="y", labelsize=7)
    fig.suptitle(title)
    return fig


def model_outcome_bars(table: pd.DataFrame, title: str = "Chosen share per response model (95 % Wilson)") -> Figure:
    """Chosen share (chosen / pairs) per model with its interval, and the raw chosen/rejected counts.

    Parameters
    ----------
    table : :func:`spa_vl.analysis.metrics.response_models.model_outcomes` (overall).
    title : the figure's title.

    Returns
    -------
    Figure
    """
    if table.empty:
        return _note(title, "no provenance: the source does not say which model wrote each answer")
    fig = SpaVLFigure(figsize=(10, 0.35 * len(table) + 1.8), layout="constrained")
    ax_share, ax_count = fig.subplots(1, 2, sharey=True)
    y = np.arange(len(table))[::-1]
    palette = colours(table["model"])
    share = table["chosen share"].to_numpy()
    error = np.vstack([share - table["ci low"].to_numpy(), table["ci high"].to_numpy() - share])
    ax_share.barh(y, share, xerr=error, color=[palette[m] for m in table["model"]], capsize=2)
    ax_share.axvline(0.5, color="#666", lw=0.8, ls="--")
    ax_share.set_yticks(y, table["model"], fontsize=8)
    ax_share.set_xlim(0, 1)
    ax_share.set_xlabel("chosen / (chosen + rejected)")
    ax_count.barh(y + 0.2, table["chosen"], height=0.4, color="#59a14f", label="chosen")
    ax_count.barh(y - 0.2, table["rejected"], height=0.4, color="#e15759", label="rejected")
    ax_count.set_xlabel("pairs")
    ax_count.legend(fontsize=8)
    fig.suptitle(title)
    return fig


def model_share_heatmap(by_group: pd.DataFrame, group: str, title: str | None = None) -> Figure:
    """Heatmap of the chosen share of each model (rows) in each group (columns), with pair counts.

    Parameters
    ----------
    by_group : :func:`spa_vl.analysis.metrics.response_models.model_outcomes` per ``group``.
    group : the group column (e.g. ``class1``).
    title : the figure's title (default from ``group``).

    Returns
    -------
    Figure
    """
    title = title or f"Chosen share per model and {group}"
    if by_group.empty:
        return _note(title, "no provenance: the source does not say which model wrote each answer")
    share = by_group.pivot(index="model", columns=group, values="chosen share")
    pairs = by_group.pivot(index="model", columns=group, values="pairs").fillna(0).astype(int)
    share = share.reindex(list(dict.fromkeys(by_group["model"])))
    pairs = pairs.reindex(share.index)
    annot = share.map(lambda v: "" if pd.isna(v) else f"{v:.2f}") + pairs.map(lambda n: f"\nn={n}" if n else "")
    fig = SpaVLFigure(figsize=(1.3 * share.shape[1] + 3, 0.45 * share.shape[0] + 1.8), layout="constrained")
    ax = fig.subplots()
    import seaborn as sns  # on first use: importing it (and scipy.stats) takes ~1 s
    sns.heatmap(share, annot=annot, fmt="", cmap="RdYlGn", vmin=0, vmax=1, ax=ax, annot_kws={"fontsize": 7}, cbar_kws={"label": "chosen share"})
    ax.tick_params(axis="x", labelsize=7, labelrotation=20)
    ax.set_title(title)
    return fig


def model_pair_heatmap(matrix: pd.DataFrame, title: str = "Pairs: chosen model (rows) vs rejected model (columns)") -> Figure:
    """Counts of each (chosen model, rejected model) pair.

    Parameters
    ----------
    matrix : :func:`spa_vl.analysis.metrics.response_models.pair_matrix`.
    title : the figure's title.

    Returns
    -------
    Figure
    """
    if matrix.empty:
        return _note(title, "no provenance: the source does not say which model wrote each answer")
    fig = SpaVLFigure(figsize=(0.55 * matrix.shape[1] + 3, 0.45 * matrix.shape[0] + 2), layout="constrained")
    ax = fig.subplots()
    import seaborn as sns  # on first use: importing it (and scipy.stats) takes ~1 s
    sns.heatmap(matrix, annot=True, fmt="d", cmap="Blues", ax=ax, annot_kws={"fontsize": 7}, cbar_kws={"label": "pairs"})
    ax.set_xlabel("rejected")
    ax.set_ylabel("chosen")
    ax.tick_params(labelsize=7)
    ax.set_title(title)
    return fig


__all__ = ["duplicate_pairs", "image_info_boxes", "model_outcome_bars", "model_share_heatmap", "model_pair_heatmap"]
