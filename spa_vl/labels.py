"""Arrow tables → labelled views: ``class1``/``class2``/``class3`` and ``question_type`` per row.

Where labels come from, in order (never invented):

* validation and eval: their own ``class1``/``class2``/``class3`` columns;
* train: ``image_name`` when it is a ``<class1>/<class2>/<class3>/<file>`` path, else the image
  path the meta files give for the row's question (when its file name matches), else unknown;
* ``question_type``: the meta file the row's question is listed in, else unknown.

Unknown is null in a view and -1 once encoded to ClassLabel ids.
"""

from __future__ import annotations

from functools import lru_cache

import pyarrow as pa
import pyarrow.compute as pc

from .meta import MetaIndex, read_meta_index
from .sources import Source
from .tables import available_splits, read_columns
from .taxonomy import LABEL_COLUMNS, LEVELS, QUESTION_TYPE, LabelSpace, parse_image_paths

#: Columns a labelled view needs from the files (besides the ones a caller asks for).
LABEL_SOURCE_COLUMNS: tuple[str, ...] = ("question", "image_name", *LEVELS, QUESTION_TYPE)


def _as_strings(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    strings = column.cast(pa.string())
    return pc.if_else(pc.equal(pc.utf8_trim_whitespace(strings), ""), None, strings)


def taxonomy_columns(table: pa.Table, meta: MetaIndex) -> dict[str, pa.Array]:
    """The three taxonomy levels of every row of ``table`` as string arrays (null = unknown)."""
    if all(level in table.column_names for level in LEVELS):
        return {level: _as_strings(table.column(level)) for level in LEVELS}
    n = table.num_rows
    if "image_name" not in table.column_names:
        return {level: pa.nulls(n, pa.string()) for level in LEVELS}
    image_names = _as_strings(table.column("image_name"))
    parsed = parse_image_paths(image_names)
    if len(meta) and "question" in table.column_names:
        # Bare file names: borrow the meta files' path for the same file name and question.
        from_meta = parse_image_paths(meta.image_path_of(image_names, table.column("question")))
        parsed = {level: pc.coalesce(parsed[level], from_meta[level]) for level in LEVELS}
    return parsed


def question_types(table: pa.Table, meta: MetaIndex) -> pa.Array:
    """The question type of every row (null = unknown)."""
    if QUESTION_TYPE in table.column_names:
        return _as_strings(table.column(QUESTION_TYPE))
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


def read_labelled(source: Source, config: str, split: str, meta: MetaIndex, columns: tuple[str, ...] = ()) -> pa.Table:
    """Read a split's label columns (plus ``columns``) and return its labelled view; no image is read."""
    table = read_columns(source, config, split, (*columns, *LABEL_SOURCE_COLUMNS))
    return labelled_view(table, meta)


@lru_cache(maxsize=16)
def _label_space(source: Source, fingerprint: str) -> LabelSpace:
    meta = read_meta_index(source)
    observed: dict[str, set[str]] = {level: set() for level in LEVELS}
    for config, split in available_splits(source):
        view = read_labelled(source, config, split, meta)
        for level in LEVELS:
            observed[level].update(v for v in pc.unique(view.column(level)).to_pylist() if v is not None)
    return LabelSpace.from_observed(observed, warn=False)


def source_label_space(source: Source, *, warn: bool = True) -> LabelSpace:
    """The label space of a whole source: reference names + every new name in any config.

    Reads label columns only, once per source content (cached by fingerprint). With ``warn``,
    new names are reported as a :class:`~spa_vl.taxonomy.SpaVLWarning`.
    """
    space = _label_space(source, source.fingerprint)
    if warn and space.new:
        LabelSpace.from_observed(space.new, warn=True)
    return space
