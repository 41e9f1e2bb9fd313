"""Row and label counts per config/split, from the label columns only (no image is read).

Shape of :func:`compute_stats`::

    {"<config>/<split>": {"rows": n, "class1": {label: count}, "class2": {...},
                          "class3": {...}, "question_type": {...}}}

Keys use canonical config names; unknown labels are counted under ``"unknown"``.
"""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.compute as pc

from .labels import source_label_space, split_labels
from .layout import split_key
from .opening import open_source
from .sources import Source
from .tables import available_splits, extra_columns
from .taxonomy import LABEL_COLUMNS, UNKNOWN

Stats = dict[str, dict]


def label_counts(column: pa.ChunkedArray | pa.Array) -> dict[str, int]:
    """``{label: count}`` of a string column, most frequent first (ties by name); nulls under ``unknown``.

    Parameters
    ----------
    column : pyarrow.Array or pyarrow.ChunkedArray of string, shape (n,)
        Labels, null = unknown.

    Returns
    -------
    dict of str to int
        Count per distinct label; the counts sum to ``n``.
    """
    counts = pc.value_counts(column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column)
    pairs = [(UNKNOWN if v is None else v, c) for v, c in zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist())]
    return dict(sorted(pairs, key=lambda p: (-p[1], p[0])))


def view_stats(view: pa.Table) -> dict:
    """Stats of one labelled view (see the module docstring).

    Parameters
    ----------
    view : pyarrow.Table
        A labelled view with string columns ``class1``, ``class2``, ``class3`` and ``question_type``.

    Returns
    -------
    dict
        ``{"rows": n, "class1": {label: count}, ..., "question_type": {label: count}}``.
    """
    return {"rows": view.num_rows, **{column: label_counts(view.column(column)) for column in LABEL_COLUMNS}}


def compute_stats(source: str | os.PathLike | Source = "sample", configs: list[str] | None = None) -> Stats:
    """Stats for every (or the named) config and split of a source present in it.

    One pass over the label columns serves both the label audit (warnings, or errors on a strict
    source) and the counts.

    Parameters
    ----------
    source : str or os.PathLike or Source, default "sample"
        A local mirror, ``"sample"``, a hub id, or a resolved source.
    configs : list of str, optional
        Configs to count (names or aliases); all the source has when None.

    Returns
    -------
    Stats
        ``{"<config>/<split>": view stats}`` (see the module docstring and :func:`view_stats`).

    Raises
    ------
    SpaVLError
        If the source cannot be resolved, a config is unknown, or (strict source) labels have
        problems.
    """
    source = open_source(source)
    wanted = set(available_splits(source, configs))
    source_label_space(source)  # reports (or, strict, refuses) label and meta problems once
    for config in dict.fromkeys(c for c, _ in wanted):
        extra_columns(source, config)  # reported, not counted
    return {
        split_key(entry.config, entry.split): view_stats(entry.view)
        for entry in split_labels(source)
        if (entry.config, entry.split) in wanted
    }
