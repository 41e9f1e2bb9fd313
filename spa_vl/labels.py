"""Arrow tables → labelled views: ``class1``/``class2``/``class3`` and ``question_type`` per row.

Where labels come from, in order (never invented):

* validation and eval: their own ``class1``/``class2``/``class3`` columns;
* train: ``image_name`` when it is a ``<class1>/<class2>/<class3>/<file>`` path, else the image
  path the meta files give for the row's question (when its file name matches), else unknown;
* ``question_type``: the meta file the row's question is listed in, else unknown.

Unknown is null in a view and -1 once encoded to ClassLabel ids.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from functools import lru_cache

import pyarrow as pa
import pyarrow.compute as pc

from .errors import SpaVLError
from .layout import split_key
from .meta import MetaIndex, read_meta_index
from .sources import Source
from .tables import available_splits, read_columns
from .taxonomy import LABEL_COLUMNS, LEVELS, QUESTION_TYPE, LabelSpace, SpaVLWarning, parse_image_paths

#: Columns a labelled view needs from the files.
LABEL_SOURCE_COLUMNS: tuple[str, ...] = ("question", "image_name", *LEVELS, QUESTION_TYPE)


def class_label_names(schema: pa.Schema) -> dict[str, list[str]]:
    """ClassLabel names recorded in a Parquet schema's ``huggingface`` metadata (our exports, pushed datasets)."""
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
    """The three taxonomy levels of every row of ``table`` as string arrays (null = unknown)."""
    if all(level in table.column_names for level in LEVELS):
        names = class_label_names(table.schema)
        return {level: _as_strings(table.column(level), names.get(level)) for level in LEVELS}
    n = table.num_rows
    if "image_name" not in table.column_names:
        return {level: pa.nulls(n, pa.string()) for level in LEVELS}
    image_names = _as_strings(table.column("image_name"))
    parsed = parse_image_paths(image_names)
    unparsed = pc.and_(pc.is_valid(image_names), pc.is_null(parsed["class1"]))
    if len(meta) and "question" in table.column_names and pc.any(unparsed).as_py():
        # Bare file names: borrow the meta files' path for the same file name and question.
        from_meta = parse_image_paths(meta.image_path_of(image_names, table.column("question")))
        parsed = {level: pc.coalesce(parsed[level], from_meta[level]) for level in LEVELS}
    return parsed


def question_types(table: pa.Table, meta: MetaIndex) -> pa.Array:
    """The question type of every row (null = unknown)."""
    if QUESTION_TYPE in table.column_names:
        return _as_strings(table.column(QUESTION_TYPE), class_label_names(table.schema).get(QUESTION_TYPE))
    if "question" not in table.column_names or not len(meta):
        return pa.nulls(table.num_rows, pa.string())
    return meta.question_type_of(table.column("question"))


def labelled_view(table: pa.Table, meta: MetaIndex) -> pa.Table:
    """``table`` with string label columns ``class1``, ``class2``, ``class3``, ``question_type`` last."""
    labels = {**taxonomy_columns(table, meta), QUESTION_TYPE: question_types(table, meta)}
    kept = table.drop_columns([c for c in LABEL_COLUMNS if c in table.column_names])
    for column in LABEL_COLUMNS:
        kept = kept.append_column(column, labels[column])
    return kept


def encode_view(view: pa.Table, space: LabelSpace) -> pa.Table:
    """Replace a view's string label columns by int64 ClassLabel ids of ``space`` (-1 unknown)."""
    for column in LABEL_COLUMNS:
        position = view.column_names.index(column)
        view = view.set_column(position, column, space.encode(column, view.column(column)))
    return view


@dataclass(frozen=True)
class LabelAudit:
    """What a source's labels look like: its label space and the problems found building it.

    ``label_problems`` (new names, unparseable image paths) become errors on a strict source;
    ``meta_problems`` (meta records or rows that do not match) stay warnings.
    """

    space: LabelSpace
    label_problems: tuple[str, ...] = ()
    meta_problems: tuple[str, ...] = ()


def _new_names_message(space: LabelSpace) -> str:
    listed = "; ".join(f"{level}: {', '.join(map(repr, extra))}" for level, extra in space.new.items())
    return f"labels not in the reference taxonomy were found and appended to the label lists: {listed}"


@dataclass(frozen=True)
class SplitLabels:
    """One split's labelled view (label columns + ``question``/``image_name``) and where its classes came from."""

    config: str
    split: str
    view: pa.Table
    own_classes: bool  # the files carry class1/2/3 (validation, eval) rather than image_name paths


@lru_cache(maxsize=4)
def _split_labels(source: Source, fingerprint: str) -> tuple[MetaIndex, tuple[SplitLabels, ...]]:
    meta = read_meta_index(source)
    splits = []
    for config, split in available_splits(source):
        table = read_columns(source, config, split, LABEL_SOURCE_COLUMNS)
        own = all(level in table.column_names for level in LEVELS)
        splits.append(SplitLabels(config, split, labelled_view(table, meta), own))
    return meta, tuple(splits)


def split_labels(source: Source) -> tuple[SplitLabels, ...]:
    """Labelled views of every split a source has, read once per source content (label columns only)."""
    return _split_labels(source, source.fingerprint)[1]


@lru_cache(maxsize=16)
def _audit(source: Source, fingerprint: str) -> LabelAudit:
    meta, splits = _split_labels(source, fingerprint)
    observed: dict[str, set[str]] = {level: set() for level in LEVELS}
    label_problems, meta_problems = [], []
    for entry in splits:
        view, key = entry.view, split_key(entry.config, entry.split)
        for level in LEVELS:
            observed[level].update(v for v in pc.unique(view.column(level)).to_pylist() if v is not None)
        if "image_name" in view.column_names and not entry.own_classes:
            named = pc.is_valid(view.column("image_name"))
            unparsed = pc.sum(pc.and_(named, pc.is_null(view.column("class1")))).as_py() or 0
            if unparsed:
                label_problems.append(
                    f"{key}: {unparsed} row(s) have an image_name that is not a <class1>/<class2>/<class3>/<file> "
                    "path and matches no meta record; their class labels are unknown (-1)"
                )
        untyped = view.column(QUESTION_TYPE).null_count
        if untyped and len(meta):
            meta_problems.append(f"{key}: {untyped} of {view.num_rows} row(s) match no question in the meta files; question_type -1")
    questions = [e.view.column("question") for e in splits if "question" in e.view.column_names]
    if len(meta) and questions:
        seen = pc.utf8_trim_whitespace(pa.chunked_array([c for q in questions for c in q.chunks], pa.string()))
        orphans = meta.types.num_rows - pc.sum(pc.is_in(meta.types.column("question"), value_set=seen)).as_py()
        if orphans:
            meta_problems.append(f"{orphans} of {meta.types.num_rows} question(s) in the meta files match no row of {source.label}")
    space = LabelSpace.from_observed(observed, warn=False)
    if space.new:
        label_problems.insert(0, _new_names_message(space))
    return LabelAudit(space=space, label_problems=tuple(label_problems), meta_problems=tuple(meta_problems))


def audit_labels(source: Source) -> LabelAudit:
    """Label space and label/meta problems of a source (label columns only, cached by content)."""
    return _audit(source, source.fingerprint)


def source_label_space(source: Source, *, warn: bool = True) -> LabelSpace:
    """The label space of a whole source: reference names + every new name in any config.

    Reads label columns only, once per source content (cached by fingerprint). With ``warn``,
    problems are reported as :class:`~spa_vl.taxonomy.SpaVLWarning`; on a strict source, label
    problems (new names, unparseable image paths) raise :class:`~spa_vl.errors.SpaVLError`.
    """
    audit = audit_labels(source)
    if source.strict and audit.label_problems:
        raise SpaVLError(f"{source.label}: {audit.label_problems[0]} (strict mode: fix the data or drop --strict)")
    if warn:
        for message in (*audit.label_problems, *audit.meta_problems):
            warnings.warn(message, SpaVLWarning, stacklevel=2)
    return audit.space
