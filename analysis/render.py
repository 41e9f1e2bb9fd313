"""Writers of a computed :class:`~analysis.report.Report`: PNG figures, stats.json, Markdown, HTML.

Everything is written into a temp folder that replaces the output folder in one rename, so a
killed run never leaves a half-written report under the final name.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from markdown_it import MarkdownIt

from spa_vl.atomic import staged_dir

from .plots import save_figure
from .report import Report

FIGURE_TITLES = {
    "taxonomy": "Harm taxonomy of the train split",
    "question_type_heatmap": "Question-type mix per domain",
    "category_mix_by_type": "Domain mix per question type",
    "lengths": "Text lengths by question type",
    "embedding_map": "Question embeddings, 2-D PCA",
    "diversity_curves": "Vendi score against n",
    "image_duplicates": "Duplicate images (exact: same bytes; near: dhash distance), side by side",
    "image_info": "image_info: image–caption similarity and OCR text elements per domain",
    "model_outcomes": "Response models: chosen share and counts",
    "model_share_by_domain": "Response models: chosen share per domain",
    "model_pairs": "Response models: chosen vs rejected pairs",
}
TABLES = [
    ("Rows and domains per split", "counts_class1"),
    ("Categories per split", "counts_class2"),
    ("Balance of class1 per split", "balance_class1"),
    ("Balance of class3 per split", "balance_class3"),
    ("Jensen-Shannon divergence of class3 between splits (bits)", "divergence_class3"),
    ("Question types per split", "question_type_sizes"),
    ("Domain mix per question type (train)", "class1_mix_by_type"),
    ("Text length statistics (words)", "text_lengths"),
    ("Question diversity per domain (equal n)", "diversity_by_class1"),
    ("Question diversity per question type (equal n)", "diversity_by_question_type"),
    ("Train↔eval contamination: eval questions with a train twin (every row)", "contamination_summary"),
    ("Duplicate images: within train and train vs every other split", "image_duplicates"),
    ("Image properties per split (from the Parquet bytes' headers)", "image_properties"),
    ("Image sizes: headers vs image_info", "image_size_agreement"),
    ("image_info fields per domain (train)", "image_info_by_class1"),
    ("image_info fields per question type (train)", "image_info_by_question_type"),
    ("Response models: chosen vs rejected (Wilson 95 %)", "model_outcomes"),
    ("Response models per domain", "model_outcomes_by_class1"),
    ("Response models per question type", "model_outcomes_by_question_type"),
    ("Chosen model (rows) vs rejected model (columns)", "model_pairs"),
    ("Chosen↔rejected cosine distance per model pair", "model_pair_distances"),
]


def jsonable(value: Any) -> Any:
    """Plain JSON types: numpy scalars unwrapped, NaN/inf → None, keys → str."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def format_number(v: Any, digits: int = 3) -> str:
    """Whole numbers without decimals, other floats with ``digits``, nan as blank."""
    if isinstance(v, (float, np.floating)):
        if math.isnan(v):
            return ""
        return f"{int(v):,}" if float(v).is_integer() and abs(v) < 1e15 else f"{v:.{digits}f}"
    return str(v)


def markdown_table(frame: pd.DataFrame, digits: int = 3) -> str:
    """A GitHub Markdown table of a frame (index included)."""
    if frame.empty:
        return "_no rows_\n"
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.rename_axis([n or "" for n in frame.index.names]).reset_index()

    def cell(v: Any) -> str:
        return format_number(v, digits).replace("|", "\\|")

    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows]) + "\n"


def _summary_lines(report: Report) -> list[str]:
    splits = {k: v for k, v in report.stats.items() if "/" in k}
    div = report.stats.get("diversity", {})
    lines = [f"- Source: `{report.source}`", "- Rows: " + ", ".join(f"{k} {v['rows']:,}" for k, v in splits.items())]
    if div:
        lines.append(
            f"- Diversity: {div['sample_rows']:,} of {div['train_rows']:,} train rows (stratified by class1), "
            f"model `{div['model']}`, seed {report.settings.seed}"
            + ("" if div['sample_rows'] >= div['train_rows'] else "; `--full` (or `--sample N`) for every row, embeddings cached")
        )
        intervals = div.get("intervals") or {}
        if intervals.get("resamples"):
            lines.append(
                f"- Intervals: `_ci_low`–`_ci_high` are {intervals['confidence']:.0%} {intervals['method']} intervals "
                f"({intervals['resamples']} resamples) of the sampled numbers; `n` is the rows each number is computed on"
            )
        for group, label in (("class1", "domains"), ("question_type", "question types")):
            for metric, c in (div.get(f"questions_by_{group}_comparison") or {}).items():
                if c["pairs"]:
                    apart = "; separated: " + ", ".join(c["separated"]) if c["separated"] else ""
                    lines.append(
                        f"- Question {metric.replace('_', ' ')} of {label} at n = {c['n_each']} each: "
                        f"intervals overlap for {c['overlapping']} of {c['pairs']} pairs{apart}"
                    )
        pairs = div.get("preference_pairs") or {}
        if pairs:
            lines.append(
                f"- Preference pairs: mean chosen↔rejected cosine distance {pairs['mean_distance']:.3f}; "
                f"{pairs['near_identical']} near-identical (distance ≤ {pairs['threshold']})"
            )
    cont = report.stats.get("contamination") or {}
    for key, o in cont.get("by_split", {}).items():
        embedding = "" if o["embedding"] is None or o["embedding"] != o["embedding"] else f", {int(o['embedding'])} embedding (cosine ≥ {cont['cosine_threshold']})"
        lines.append(
            f"- Train↔{key} contamination, every row: of {o['questions']:,} questions, {o['exact']} exact, "
            f"{o['lexical']} lexical (word {cont['shingle_words']}-gram Jaccard ≥ {cont['jaccard_threshold']}){embedding} "
            f"near-duplicate(s) of the {cont['train_rows']:,} train questions"
        )
    lines.extend(_media_summary_lines(report))
    return lines


def _media_summary_lines(report: Report) -> list[str]:
    lines = []
    images = report.stats.get("images")
    if images:
        found = "; ".join(
            f"{d['scope']} {d['kind']} {d['duplicated_images']:,} of {d['images']:,}" for d in images["duplicates"] if d["rows"]
        )
        lines.append(
            f"- Images: {images['images']:,} rows hashed (`{images['hash']}`, near = distance ≤ {images['near_threshold_bits']} bits); "
            f"distinct images with a duplicate: {found}"
        )
    models = report.stats.get("response_models")
    if models:
        lines.append(f"- Response models: {models['provenance']}")
    page = report.stats.get("explorer")
    if page:
        lines.append(
            f"- Explorer: [explorer.html](explorer.html), {page['rows']:,} of {page['of_rows']:,} rows on a {page['projection']} map, "
            f"{page['bytes'] / 1e6:.1f} MB"
        )
    return lines


PAIRS_TITLE = "Train↔eval pairs, most similar first (all of them in contamination_pairs.csv)"
PAIRS_SHOWN, TEXT_SHOWN = 30, 160


def _pairs_preview(report: Report) -> pd.DataFrame:
    """The first pairs by kind and similarity, texts cut to :data:`TEXT_SHOWN` characters."""
    pairs = report.tables["contamination_pairs"]
    if pairs.empty:
        return pairs
    order = pairs.assign(_k=pairs["kind"].map({"exact": 0, "lexical": 1, "embedding": 2}))
    shown = order.sort_values(["_k", "similarity"], ascending=[True, False], kind="stable").head(PAIRS_SHOWN)
    shown = shown[["eval_split", "eval_row", "kind", "similarity", "eval_question", "train_question", "train_row", "train_rows"]].copy()
    for column in ("eval_question", "train_question"):
        text = shown[column].astype(str).str.split().str.join(" ")
        shown[column] = text.where(text.str.len() <= TEXT_SHOWN, text.str.slice(0, TEXT_SHOWN - 1) + "…")
    return shown.reset_index(drop=True)


def _fields_frame(report: Report) -> pd.DataFrame:
    fields = report.stats.get("diversity", {}).get("fields", {})
    return pd.DataFrame(fields).T if fields else pd.DataFrame()


def render_markdown(report: Report) -> str:
    """The report as Markdown, figures linked as PNG files beside it."""
    parts = ["# SPA-VL report\n", *(line + "\n" for line in _summary_lines(report)), "\n"]
    for name, title in FIGURE_TITLES.items():
        if name in report.figures:
            parts.append(f"## {title}\n\n![{title}]({name}.png)\n\n")
    parts.append("## Diversity per text field\n\n" + markdown_table(_fields_frame(report)) + "\n")
    for title, key in TABLES:
        if key in report.tables:
            parts.append(f"## {title}\n\n{markdown_table(report.tables[key])}\n")
    if "contamination_pairs" in report.tables:
        parts.append(f"## {PAIRS_TITLE}\n\n{markdown_table(_pairs_preview(report))}\n")
    return "".join(parts)


def render_html(report: Report, figure_files: dict[str, Path]) -> str:
    """A self-contained HTML page: figures embedded as data URIs, each linking its PNG file."""
    def table(frame: pd.DataFrame) -> str:
        return "<p><em>no rows</em></p>" if frame.empty else frame.to_html(float_format=format_number, border=0, classes="t")

    # the summary is Markdown (backticks, links): render it, never show it raw
    summary = MarkdownIt("commonmark", {"html": False}).render("\n".join(_summary_lines(report)))
    body = ["<h1>SPA-VL report</h1>", summary]
    for name, title in FIGURE_TITLES.items():
        if name in figure_files:
            data = base64.b64encode(figure_files[name].read_bytes()).decode()
            body.append(
                f'<h2>{html.escape(title)}</h2><a href="{name}.png">'
                f'<img alt="{html.escape(title)}" src="data:image/png;base64,{data}"></a>'
            )
    body.append("<h2>Diversity per text field</h2>" + table(_fields_frame(report)))
    for title, key in TABLES:
        if key in report.tables:
            body.append(f"<h2>{html.escape(title)}</h2>" + table(report.tables[key]))
    if "contamination_pairs" in report.tables:
        body.append(f"<h2>{html.escape(PAIRS_TITLE)}</h2>" + table(_pairs_preview(report)))
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em}"
        "img{max-width:100%}table.t{border-collapse:collapse;font-size:13px}"
        "table.t td,table.t th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>SPA-VL report</title>'
        f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def write_report(report: Report, out: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write PNGs, ``stats.json``, ``report.md`` and ``report.html`` to ``out`` atomically."""
    with staged_dir(out, overwrite=overwrite, what="report") as tmp:
        files = {name: save_figure(fig, tmp / f"{name}.png") for name, fig in report.figures.items()}
        (tmp / "stats.json").write_text(json.dumps(jsonable(report.stats), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (tmp / "report.md").write_text(render_markdown(report), encoding="utf-8")
        (tmp / "report.html").write_text(render_html(report, files), encoding="utf-8")
        if "contamination_pairs" in report.tables:
            report.tables["contamination_pairs"].to_csv(tmp / "contamination_pairs.csv", index=False)
        for name, page in report.pages.items():
            (tmp / name).write_text(page, encoding="utf-8")
    return Path(out)
