"""Labelled views as pandas: one row per item, with its split, labels and (optionally) texts.

The entry point of every analysis: labels come from :mod:`spa_vl.labels` (never re-derived here),
images are never read, and unknown labels are the string ``"unknown"`` so they stay visible.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import pandas as pd

from spa_vl.columns import IMAGE_NAME, LABEL_COLUMNS, MODEL_COLUMNS, SPLIT, TEXT_COLUMNS
from spa_vl.labels import LABEL_SOURCE_COLUMNS, label_batch
from spa_vl.layout import split_key
from spa_vl.meta import read_meta_index
from spa_vl.opening import open_source
from spa_vl.sources import Source
from spa_vl.tables import available_splits, read_columns, split_files
from spa_vl.taxonomy import UNKNOWN

__all__ = ["SPLIT", "empty_frame", "labelled_frame"]


def labelled_frame(
    source: str | os.PathLike | Source = "sample",
    configs: list[str] | None = None,
    text_columns: tuple[str, ...] = TEXT_COLUMNS,
    image_info: Sequence[str] = (),
) -> pd.DataFrame:
    """All rows of a source's configs: ``split`` (``config/split`` key), labels, text columns.

    Every file is labelled by :func:`spa_vl.labels.label_batch` from its own content, like the
    builder's shards; images are never read.

    Parameters
    ----------
    source : str, os.PathLike or Source, default "sample"
        A local mirror, ``"sample"``, a hub id, or a resolved source.
    configs : list of str, optional
        Configs to read (all by default).
    text_columns : tuple of str
        Text columns to include.
    image_info : sequence of str
        image_info fields to add (train rows; NaN/None elsewhere), e.g. ``("text_similarity", "text_count")``.

    Returns
    -------
    pandas.DataFrame
        Columns ``split``, ``class1``, ``class2``, ``class3``, ``question_type``, ``chosen_model``,
        ``rejected_model`` (strings, ``"unknown"`` where unknown), the text columns (``None``
        where a config has no such column, e.g. eval's chosen/rejected), ``image_name`` (train;
        ``None`` elsewhere: with the texts it gives the same content row ids as the ablation pool,
        so the report's sample and a recipe pick the same rows for one seed), then ``image_info``.
    """
    source = open_source(source)
    meta = read_meta_index(source)
    labels = [*LABEL_COLUMNS, *MODEL_COLUMNS]
    frames = []
    for config, split in available_splits(source, configs):
        for path in split_files(source, config, split):
            table = read_columns(source, config, split, [*LABEL_SOURCE_COLUMNS, *text_columns], files=[path])
            view = label_batch(table, meta, models=True, image_info=list(image_info))
            frame = view.select([c for c in (*labels, *text_columns, IMAGE_NAME, *image_info) if c in view.column_names]).to_pandas()
            frame.insert(0, SPLIT, split_key(config, split))
            frames.append(frame)
    if not frames:
        return empty_frame(text_columns)
    frame = pd.concat(frames, ignore_index=True)
    for column in (*text_columns, IMAGE_NAME, *image_info):
        if column not in frame:
            frame[column] = None
    frame[labels] = frame[labels].fillna(UNKNOWN)
    return frame[[SPLIT, *labels, *text_columns, IMAGE_NAME, *image_info]]


def empty_frame(text_columns: tuple[str, ...] = TEXT_COLUMNS) -> pd.DataFrame:
    """A frame with the columns of :func:`labelled_frame` and no rows.

    Parameters
    ----------
    text_columns : tuple of str, default ``("question", "chosen", "rejected")``
        The text columns to include after the label columns.

    Returns
    -------
    pandas.DataFrame, shape (0, 8 + len(text_columns))
        Object columns ``split``, ``class1``, ``class2``, ``class3``, ``question_type``,
        ``chosen_model``, ``rejected_model``, then ``text_columns`` and ``image_name``.
    """
    return pd.DataFrame({c: pd.Series(dtype=object) for c in (SPLIT, *LABEL_COLUMNS, *MODEL_COLUMNS, *text_columns, IMAGE_NAME)})
