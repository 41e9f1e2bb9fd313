"""Record batches → labelled batches, from each batch's own content: the one labelling function.

:func:`label_batch` is what the builder's shards, streaming, stats, the doctor, frames, the
ablation pool and the exports all call. It looks at nothing but the batch's columns and the
source's :class:`~spa_vl.meta.MetaIndex`, so labels cannot depend on how ``datasets`` or torch
shards, shuffles or splits the rows. Where labels come from, in order (never invented):

* ``class1..3``: the batch's own class columns (validation, eval; or ClassLabel ids of our
  exports); else ``image_name`` when it is a ``<class1>/<class2>/<class3>/<file>`` path; else the
  ``image_info/meta.json`` record whose ``image`` is the row's ``image_name``; else unknown;
* ``question_type``: the ``split/<type>.json`` file listing an item with the row's text (question,
  chosen, rejected: the fields both sides have), exact text first, normalised whitespace as a
  fallback that never merges two items; rows without responses (eval) have none;
* ``chosen_model``/``rejected_model``: the ``model_answer`` key whose answer equals the row's text.

Unknown is null in a labelled batch and -1 once encoded to ClassLabel ids.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .atomic import atomic_write
from .cache import cache_root
from .columns import CLASS_LABEL_COLUMNS, IMAGE, IMAGE_NAME, LABEL_COLUMNS, LEVELS, MODEL_COLUMNS, QUESTION_TYPE
from .errors import LabelError
from .layout import HUB_COLUMNS, split_key
from .meta import MetaIndex, read_meta_index
from .sources import Source
from .tables import available_splits, read_columns, split_files
from .taxonomy import LabelSpace, SpaVLWarning, parse_image_paths

#: The code and reference data labels are computed with: prepared datasets and cached label
#: columns are reused only when they are unchanged (an older, wrong labelling is never served).
_LABELLING_FILES = ("builder.py", "labels.py", "meta.py", "meta_files.py", "keys.py", "taxonomy.py", "features.py", "data/taxonomy.json")


@lru_cache(maxsize=1)
def labelling_fingerprint() -> str:
    """Hash of the code and reference data that labels are derived with.

    Returns
    -------
    str
        The first 12 hex digits of the SHA-256 of the labelling modules and ``data/taxonomy.json``.
    """
    digest = hashlib.sha256()
    for name in _LABELLING_FILES:
        digest.update((Path(__file__).parent / name).read_bytes())
    return digest.hexdigest()[:12]


#: The column holding the matched meta item's key in a labelled batch (dropped by the builder).
ITEM = "_item"
#: Columns labelling may read from the files (those present are read).
LABEL_SOURCE_COLUMNS: tuple[str, ...] = ("question", "chosen", "rejected", IMAGE_NAME, *CLASS_LABEL_COLUMNS)


def class_label_names(schema: pa.Schema) -> dict[str, list[str]]:
    """ClassLabel names recorded in a Parquet schema's ``huggingface`` metadata (our exports, pushed datasets).

    Parameters
    ----------
    schema : pyarrow.Schema
        A Parquet file's Arrow schema.

    Returns
    -------
    dict of str to list of str
        The names of each ClassLabel column, in id order; empty when the metadata is absent or
        unreadable.
    """
    try:
        features = json.loads((schema.metadata or {}).get(b"huggingface", b"{}"))["info"]["features"]
    except (KeyError, TypeError, ValueError):
        return {}
    return {c: f["names"] for c, f in features.items() if isinstance(f, dict) and f.get("_type") == "ClassLabel"}


def _as_strings(column: pa.ChunkedArray | pa.Array, names: list[str] | None = None) -> pa.Array:
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_integer(column.type):
        # ClassLabel ids (an exported subset): back to names; -1 and ids without a name are unknown
        if not names:
            return pa.nulls(len(column), pa.string())
        ids = column.cast(pa.int64())
        valid = pc.and_(pc.greater_equal(ids, 0), pc.less(ids, len(names)))
        return pa.array(names, pa.string()).take(pc.if_else(valid, ids, None))
    strings = column.cast(pa.string())
    return pc.if_else(pc.equal(pc.utf8_trim_whitespace(strings), ""), None, strings)


def taxonomy_columns(table: pa.Table, meta: MetaIndex) -> dict[str, pa.Array]:
    """The three taxonomy levels of every row of ``table`` as string arrays (null = unknown).

    From the table's own ``class1..3`` columns when it has all three (ClassLabel ids decoded by the
    schema's names); else parsed from ``image_name`` paths, then looked up in ``meta.images`` by
    ``image_name`` (or its file name) for rows that are not a class path.

    Parameters
    ----------
    table : pyarrow.Table, n rows
        Rows of a SPA-VL Parquet file.
    meta : MetaIndex
        The source's meta index.

    Returns
    -------
    dict of str to pyarrow.StringArray, each shape (n,)
        ``class1``, ``class2``, ``class3``; null where unknown (blank strings count as unknown).
    """
    if all(level in table.column_names for level in LEVELS):
        names = class_label_names(table.schema)
        return {level: _as_strings(table.column(level), names.get(level)) for level in LEVELS}
    n = table.num_rows
    if IMAGE_NAME not in table.column_names:
        return {level: pa.nulls(n, pa.string()) for level in LEVELS}
    image_names = _as_strings(table.column(IMAGE_NAME))
    parsed = parse_image_paths(image_names)
    unparsed = pc.and_(pc.is_valid(image_names), pc.is_null(parsed["class1"]))
    images = meta.images
    if images.num_rows and pc.any(unparsed).as_py():
        # The hub's train image_name is a bare global file name: its labels are image_info's.
        position = meta.image_position(image_names)
        parsed = {level: pc.coalesce(parsed[level], images.column(level).take(position)) for level in LEVELS}
    return {level: _as_strings(parsed[level]) for level in LEVELS}


def item_keys(table: pa.Table, meta: MetaIndex) -> pa.Array:
    """The meta item each row matches (a content key), null where none or the row lacks the fields.

    Parameters
    ----------
    table : pyarrow.Table, n rows
        Rows with the text columns of ``meta.match_fields``.
    meta : MetaIndex
        The source's meta index.

    Returns
    -------
    pyarrow.FixedSizeBinaryArray of binary(16), shape (n,)
        The matched item's key; all null when the index or the table lacks the match fields.
    """
    fields = meta.match_fields
    if not fields or not all(f in table.column_names for f in fields):
        return pa.nulls(table.num_rows, pa.binary(16))
    return meta.item_of([table.column(f).combine_chunks() for f in fields])


def label_batch(
    batch: pa.RecordBatch | pa.Table,
    meta: MetaIndex,
    *,
    models: bool = True,
    image_info: Sequence[str] = (),
    reasons: bool = False,
) -> pa.Table:
    """Label one batch from its own columns.

    Parameters
    ----------
    batch : pyarrow.RecordBatch or pyarrow.Table, n rows
        Any columns of a SPA-VL Parquet file; labelling uses ``question``, ``chosen``,
        ``rejected``, ``image_name`` and class columns where present.
    meta : MetaIndex
        The source's meta index.
    models : bool
        Add ``chosen_model`` and ``rejected_model`` (reads the model_answer files on first use).
    image_info : sequence of str
        image_info fields to add (see :data:`~spa_vl.columns.IMAGE_INFO_FIELDS`), by ``image_name``.
    reasons : bool
        Add prefer's ``reason1`` and ``reason2``.

    Returns
    -------
    pyarrow.Table, n rows
        The batch's columns without label columns, then ``class1``, ``class2``, ``class3``,
        ``question_type`` (and the model columns), the extra fields, and ``_item`` (the matched
        meta item's key). Labels are strings; null means unknown.
    """
    table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
    names = class_label_names(table.schema)
    own = {c: _as_strings(table.column(c), names.get(c)) for c in (QUESTION_TYPE, *MODEL_COLUMNS) if c in table.column_names}
    labels = taxonomy_columns(table, meta)
    item = item_keys(table, meta)
    labels[QUESTION_TYPE] = own.get(QUESTION_TYPE, meta.question_type_of(item) if len(meta) else pa.nulls(table.num_rows, pa.string()))
    if models:
        if all(c in own for c in MODEL_COLUMNS):
            labels.update({c: own[c] for c in MODEL_COLUMNS})
        else:
            labels.update(zip(MODEL_COLUMNS, meta.models_of(item)))
    extra: dict[str, pa.Array] = {}
    if image_info:
        info = meta.image_info(image_info)
        position = meta.image_position(_as_strings(table.column(IMAGE_NAME))) if IMAGE_NAME in table.column_names else pa.nulls(table.num_rows, pa.int64())
        extra.update({f: info.column(f).take(position).combine_chunks() for f in image_info})
    if reasons:
        extra.update(meta.reasons_of(item))
    out = table.drop_columns([c for c in (*CLASS_LABEL_COLUMNS, *extra, ITEM) if c in table.column_names])
    for column, values in (*labels.items(), *extra.items(), (ITEM, item)):
        out = out.append_column(column, values)
    return out


def encode_view(table: pa.Table, space: LabelSpace) -> pa.Table:
    """Replace a labelled batch's string label columns by int64 ClassLabel ids of ``space`` (-1 unknown).

    Parameters
    ----------
    table : pyarrow.Table, n rows
        A labelled batch (:func:`label_batch`).
    space : LabelSpace
        The label names to encode against.

    Returns
    -------
    pyarrow.Table, n rows
        The same columns in the same order; those of
        :data:`~spa_vl.columns.CLASS_LABEL_COLUMNS` present are int64 ids.
    """
    for column in CLASS_LABEL_COLUMNS:
        if column in table.column_names:
            table = table.set_column(table.column_names.index(column), column, space.encode(column, table.column(column)))
    return table


@dataclass(frozen=True)
class SplitLabels:
    """One split's label columns (strings), ``image_name`` where present, and ``_item`` keys.

    Attributes
    ----------
    config : str
        The config (``train``, ``validation``, ``eval``).
    split : str
        The split within the config.
    view : pyarrow.Table, one row per row of the split
        ``class1..3``, ``question_type``, the model columns when read with ``models``,
        ``image_name`` where present and ``_item``; labels are strings, null = unknown.
    own_classes : bool
        Whether the files carry ``class1..3`` themselves (validation, eval) rather than image names.
    """

    config: str
    split: str
    view: pa.Table
    own_classes: bool  # the files carry class1/2/3 (validation, eval) rather than image names


def read_split_labels(source: Source, config: str, split: str, meta: MetaIndex, *, models: bool = False) -> SplitLabels:
    """Label one split file by file (only the columns labelling needs are read).

    Parameters
    ----------
    source : Source
        The data source.
    config : str
        The config.
    split : str
        The split.
    meta : MetaIndex
        The source's meta index.
    models : bool, default False
        Also label ``chosen_model`` and ``rejected_model``.

    Returns
    -------
    SplitLabels
        The split's labels, files concatenated in order.

    Raises
    ------
    SpaVLError
        If a file of the split is missing or unreadable.
    """
    parts, own = [], True
    for path in split_files(source, config, split):
        table = read_columns(source, config, split, LABEL_SOURCE_COLUMNS, files=[path])
        own = own and all(level in table.column_names for level in LEVELS)
        labelled = label_batch(table, meta, models=models)
        keep = [c for c in (*LABEL_COLUMNS, *(MODEL_COLUMNS if models else ()), IMAGE_NAME, ITEM) if c in labelled.column_names]
        parts.append(labelled.select(keep))
    return SplitLabels(config, split, pa.concat_tables(parts, promote_options="permissive"), own)


def _cached_split_labels(source: Source, fingerprint: str, config: str, split: str, models: bool, meta: MetaIndex) -> SplitLabels:
    """:func:`read_split_labels`, kept as Parquet keyed by the source's content and the labelling code."""
    path = cache_root() / "labels" / f"{fingerprint}-{labelling_fingerprint()}-{config}-{split}-m{int(models)}.parquet"
    try:
        table = pq.read_table(path)
        return SplitLabels(config, split, table.replace_schema_metadata(None), table.schema.metadata[b"own_classes"] == b"1")
    except (OSError, pa.ArrowInvalid, KeyError, TypeError):
        pass  # not cached yet, or a damaged cache file: label again
    entry = read_split_labels(source, config, split, meta, models=models)
    try:
        table = entry.view.replace_schema_metadata({"own_classes": "1" if entry.own_classes else "0"})
        atomic_write(path, lambda tmp: pq.write_table(table, tmp))
    except OSError:  # a read-only cache is not an error
        pass
    return entry


@lru_cache(maxsize=4)
def _split_labels(source: Source, fingerprint: str, models: bool) -> tuple[SplitLabels, ...]:
    meta = read_meta_index(source)
    return tuple(_cached_split_labels(source, fingerprint, c, s, models, meta) for c, s in available_splits(source))


def split_labels(source: Source, *, models: bool = False) -> tuple[SplitLabels, ...]:
    """Labelled views of every split a source has, once per source content (cached on disk too).

    Parameters
    ----------
    source : Source
        The data source.
    models : bool, default False
        Also label ``chosen_model`` and ``rejected_model``.

    Returns
    -------
    tuple of SplitLabels
        One per ``(config, split)`` the source has, in layout order.
    """
    return _split_labels(source, source.fingerprint, models)


@dataclass(frozen=True)
class LabelAudit:
    """A source's label space and the problems found labelling it.

    ``label_problems`` (new names, train rows with no class labels) become errors on a strict
    source; ``meta_problems`` (meta records or rows that do not match) stay warnings.

    Attributes
    ----------
    space : LabelSpace
        Reference names plus every new name seen in the meta files or any split.
    label_problems : tuple of str
        One message per label problem (new names first).
    meta_problems : tuple of str
        One message per meta problem (rows matching no item, items matching no row).
    """

    space: LabelSpace
    label_problems: tuple[str, ...] = ()
    meta_problems: tuple[str, ...] = ()


def _new_names_message(space: LabelSpace) -> str:
    listed = "; ".join(f"{level}: {', '.join(map(repr, extra))}" for level, extra in space.new.items())
    return f"labels not in the reference taxonomy were found and appended to the label lists: {listed}"


@lru_cache(maxsize=16)
def _audit(source: Source, fingerprint: str) -> LabelAudit:
    meta = read_meta_index(source)
    splits = split_labels(source)
    observed: dict[str, set[str]] = {level: set() for level in LEVELS}
    label_problems, meta_problems = [], []
    for level in LEVELS:  # names the meta files know, even for images no row uses
        observed[level].update(v for v in pc.unique(meta.images.column(level)).to_pylist() if v is not None)
    for entry in splits:
        view, key = entry.view, split_key(entry.config, entry.split)
        for level in LEVELS:
            observed[level].update(v for v in pc.unique(view.column(level)).to_pylist() if v is not None)
        if IMAGE_NAME in view.column_names and not entry.own_classes:
            named = pc.is_valid(view.column(IMAGE_NAME))
            unlabelled = pc.and_(named, pc.is_null(view.column("class1")))
            clashes = meta.image_conflicts.column(IMAGE)
            shown = meta.images.column(IMAGE).take(meta.image_position(view.column(IMAGE_NAME))) if len(clashes) else None
            listed = pc.is_in(shown, value_set=clashes).fill_null(False) if shown is not None else pa.array(np.zeros(view.num_rows, dtype=bool))
            unknown = pc.sum(pc.and_(unlabelled, pc.invert(listed))).as_py() or 0
            contradicted = pc.sum(pc.and_(unlabelled, listed)).as_py() or 0
            if unknown:
                label_problems.append(
                    f"{key}: {unknown} row(s) have an image_name that is neither a <class1>/<class2>/<class3>/<file> "
                    "path nor an image of meta_files/image_info/meta.json; their class labels are unknown (-1)"
                )
            if contradicted:
                label_problems.append(
                    f"{key}: {contradicted} row(s) show an image whose records in meta_files/image_info/meta.json give "
                    "different classes (spa-vl doctor lists them); their class labels are unknown (-1)"
                )
        untyped = view.column(QUESTION_TYPE).null_count
        matchable = all(f in HUB_COLUMNS[entry.config] for f in meta.match_fields)  # eval has no responses: expected
        if untyped and len(meta) and matchable:
            meta_problems.append(f"{key}: {untyped} of {view.num_rows} row(s) match no item of meta_files/split/; question_type -1")
    matched = [e.view.column(ITEM) for e in splits]
    if len(meta) and matched:
        seen = pa.chunked_array([c for m in matched for c in m.chunks], pa.binary(16))
        orphans = meta.items.num_rows - (pc.sum(pc.is_in(meta.items.column("key"), value_set=seen)).as_py() or 0)
        if orphans:
            meta_problems.append(f"{orphans} of {meta.items.num_rows} item(s) of meta_files/split/ match no row of {source.label}")
    space = LabelSpace.from_observed(observed, warn=False)
    if space.new:
        label_problems.insert(0, _new_names_message(space))
    return LabelAudit(space=space, label_problems=tuple(label_problems), meta_problems=tuple(meta_problems))


def audit_labels(source: Source) -> LabelAudit:
    """Label space and label/meta problems of a source (cached by content).

    Parameters
    ----------
    source : Source
        The data source; every split is labelled.

    Returns
    -------
    LabelAudit
        The source's label space and problems.
    """
    return _audit(source, source.fingerprint)


def source_label_space(source: Source, *, warn: bool = True) -> LabelSpace:
    """The label space of a whole source: reference names + every new name in any config.

    With ``warn``, problems are reported as :class:`~spa_vl.taxonomy.SpaVLWarning`; on a strict
    source, label problems (new names, train rows without class labels) raise
    :class:`~spa_vl.errors.SpaVLError`.

    Parameters
    ----------
    source : Source
        The data source.
    warn : bool, default True
        Warn about label and meta problems.

    Returns
    -------
    LabelSpace
        The names every config's ClassLabel columns use.

    Raises
    ------
    LabelError
        On a strict source with label problems (whether or not ``warn``); its parameter is ``strict``.
    """
    audit = audit_labels(source)
    if source.strict and audit.label_problems:
        raise LabelError(f"{source.label}: {audit.label_problems[0]} (strict mode: fix the data, or leave {{option}} out)", parameter="strict")
    if warn:
        for message in (*audit.label_problems, *audit.meta_problems):
            warnings.warn(message, SpaVLWarning, stacklevel=2)
    return audit.space

