"""`datasets.Features` per config: the single source of truth for column names and types.

Two views of every config:

* :func:`hub_features` — what the hub's Parquet files hold (labels as plain strings);
* :func:`typed_features` — what our loaders return: the hub columns, then ``class1``/``class2``/
  ``class3`` and ``question_type`` as ``ClassLabel`` over a :class:`~spa_vl.taxonomy.LabelSpace`.
"""

from __future__ import annotations

import datasets
import pyarrow as pa

from .columns import (
    CHOSEN,
    CLASS_LABEL_COLUMNS,
    IMAGE_INFO_FIELDS,
    IMAGE_NAME,
    LABEL_COLUMNS,
    LEVELS,
    MODEL_COLUMNS,
    PREFER_FIELDS,
    REJECTED,
)
from .layout import HUB_COLUMNS, TEXT_COLUMNS, canonical_config  # noqa: F401 (re-exported)
from .taxonomy import LabelSpace


def _hub_feature(column: str) -> datasets.Image | datasets.Value:
    return datasets.Image() if column == "image" else datasets.Value("string")


def hub_features(config: str) -> datasets.Features:
    """Features of a config's Parquet files on the hub (labels as strings).

    Parameters
    ----------
    config : str
        ``train``, ``validation``, ``eval`` or an alias (``default``, ``test``).

    Returns
    -------
    datasets.Features
        ``image`` as Image, every other hub column as ``Value("string")``, in the hub's order.

    Raises
    ------
    SpaVLError
        If ``config`` is not a config name or alias.
    """
    return datasets.Features({c: _hub_feature(c) for c in HUB_COLUMNS[canonical_config(config).name]})


def label_feature(column: str, space: LabelSpace) -> datasets.ClassLabel:
    """The ClassLabel of one labelled column (``class1``..``class3``, ``question_type``).

    Parameters
    ----------
    column : str
        A column of ``space.names`` (also ``chosen_model`` / ``rejected_model``).
    space : LabelSpace
        The label names per column.

    Returns
    -------
    datasets.ClassLabel
        Over ``space.names[column]``, in that order.
    """
    return datasets.ClassLabel(names=list(space.names[column]))


def typed_features(config: str, space: LabelSpace, *, image_info: bool = False, reasons: bool = False) -> datasets.Features:
    """Features our loaders return for a config.

    The hub columns, then ClassLabel ``class1..3`` and ``question_type``; configs with responses
    (train, validation) also get ClassLabel ``chosen_model`` and ``rejected_model``. On request,
    the image_info fields (configs with ``image_name``) and prefer's reasons (configs with responses).

    Parameters
    ----------
    config : str
        ``train``, ``validation``, ``eval`` or an alias.
    space : LabelSpace
        The label names of the ClassLabel columns.
    image_info : bool, default False
        Add the :data:`~spa_vl.columns.IMAGE_INFO_FIELDS` columns (configs with ``image_name``).
    reasons : bool, default False
        Add ``reason1`` and ``reason2`` as strings (configs with responses).

    Returns
    -------
    datasets.Features
        In column order: hub columns other than ``class1..3``, the label columns, the model
        columns, then the optional columns.

    Raises
    ------
    SpaVLError
        If ``config`` is not a config name or alias.
    """
    name = canonical_config(config).name
    hub = HUB_COLUMNS[name]
    responses = CHOSEN in hub and REJECTED in hub
    columns = {c: _hub_feature(c) for c in hub if c not in LEVELS}
    columns.update({c: label_feature(c, space) for c in LABEL_COLUMNS})
    if responses:
        columns.update({c: label_feature(c, space) for c in MODEL_COLUMNS})
    if image_info and IMAGE_NAME in hub:
        columns.update({f: datasets.Value(kind) for f, kind in IMAGE_INFO_FIELDS.items()})
    if reasons and responses:
        columns.update({f: datasets.Value("string") for f in PREFER_FIELDS})
    return datasets.Features(columns)


def typed_features_for_schema(schema: pa.Schema, space: LabelSpace) -> datasets.Features:
    """Typed features for the columns of a Parquet file we did not write (a card for a mirror).

    Label columns become ClassLabel, ``image`` an Image; other columns keep their Arrow type.

    Parameters
    ----------
    schema : pyarrow.Schema
        The Parquet file's Arrow schema.
    space : LabelSpace
        The label names of the ClassLabel columns (:data:`~spa_vl.columns.CLASS_LABEL_COLUMNS`).

    Returns
    -------
    datasets.Features
        One feature per schema column, in schema order.
    """
    features = datasets.Features.from_arrow_schema(schema)
    for column in features:
        if column in CLASS_LABEL_COLUMNS:
            features[column] = label_feature(column, space)
        elif column == "image":
            features[column] = datasets.Image()
    return features
