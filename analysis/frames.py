"""Labelled views as pandas: one row per item, with its split, labels and (optionally) texts.

The entry point of every analysis: labels come from :mod:`spa_vl.labels` (never re-derived here),
images are never read, and unknown labels are the string ``"unknown"`` so they stay visible.
"""

from __future__ import annotations

import os

import pandas as pd

from spa_vl.features import TEXT_COLUMNS
from spa_vl.labels import split_labels
from spa_vl.layout import split_key
from spa_vl.sources import Source, resolve_source
from spa_vl.tables import available_splits, read_columns
from spa_vl.taxonomy import LABEL_COLUMNS, UNKNOWN

SPLIT = "split"


def labelled_frame(
    source: str | os.PathLike | Source = "sample",
    configs: list[str] | None = None,
    text_columns: tuple[str, ...] = TEXT_COLUMNS,
) -> pd.DataFrame:
    """All rows of a source's configs: ``split`` (``config/split`` key), labels, text columns.

    Returns
    -------
    DataFrame with columns ``split``, ``class1``, ``class2``, ``class3``, ``question_type``
    (strings, ``"unknown"`` where unknown) and the requested text columns (``None`` where a
    config has no such column, e.g. eval's chosen/rejected).
    """
    source = resolve_source(source)
    wanted = set(available_splits(source, configs))
    frames = []
    for entry in split_labels(source):  # the labels of the shared label pass, in file order
        if (entry.config, entry.split) not in wanted:
            continue
        texts = read_columns(source, entry.config, entry.split, text_columns)  # same files, same order
        frame = entry.view.select(list(LABEL_COLUMNS)).to_pandas()
        for column in texts.column_names:
            frame[column] = texts.column(column).to_pandas()
        frame.insert(0, SPLIT, split_key(entry.config, entry.split))
        frames.append(frame)
    if not frames:
        return empty_frame(text_columns)
    frame = pd.concat(frames, ignore_index=True)
    for column in text_columns:
        if column not in frame:
            frame[column] = None
    frame[list(LABEL_COLUMNS)] = frame[list(LABEL_COLUMNS)].fillna(UNKNOWN)
    return frame[[SPLIT, *LABEL_COLUMNS, *text_columns]]


def empty_frame(text_columns: tuple[str, ...] = TEXT_COLUMNS) -> pd.DataFrame:
    """A frame with the columns of :func:`labelled_frame` and no rows."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in (SPLIT, *LABEL_COLUMNS, *text_columns)})
