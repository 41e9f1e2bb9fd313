"""The meta index: what the meta files say about each item, keyed by content.

* ``images`` — ``image_info/meta.json`` by ``image`` (the train ``image_name``): class1..3 and,
  on request, the other image fields;
* ``items`` — every ``split/<type>.json`` record by a content key of the text fields it shares
  with the rows (question, chosen, rejected): its question type;
* ``provenance`` — for the same keys, which of the 12 ``model_answer/<type>.json`` keys wrote the
  chosen and the rejected answer (the key whose answer equals that text; none or several → null);
* ``reasons`` — ``prefer/<type>.json``'s ``reason1``/``reason2`` by the same keys.

Each part is built on first use (provenance and reasons read large files), from the per-file
Parquet caches of :mod:`spa_vl.meta_files`, and kept as a small derived Parquet keyed by the
stamps of the files it read. Exact text first; whitespace-normalised text only as a fallback,
and only where it names a single item.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .atomic import atomic_write
from .cache import cache_root
from .columns import (
    CHOSEN,
    CHOSEN_MODEL,
    IMAGE,
    IMAGE_INFO_FIELDS,
    LEVELS,
    MATCH_FIELDS,
    PREFER_FIELDS,
    QUESTION,
    QUESTION_TYPE,
    REJECTED,
    REJECTED_MODEL,
)
from .keys import KEY_TYPE, KeyIndex, combine, content_keys, digests, lookup
from .meta_files import IMAGE_INFO_FILE, MetaFile, files_of, list_meta_files, meta_schema, read_meta_table
from .sources import Source
from .taxonomy import QUESTION_TYPES, RESPONSE_MODELS, SpaVLWarning

_DERIVED_VERSION = 2
KEY = "key"
NORM_KEY = "norm_key"


def first_per_key(keys: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Positions of the first row of each distinct key, in row order.

    Parameters
    ----------
    keys : pyarrow.Array or pyarrow.ChunkedArray, shape (n,)
        Any hashable Arrow values (content keys, image names).

    Returns
    -------
    numpy.ndarray of int64, shape (k,)
        Ascending positions of the first occurrence of each of the ``k`` distinct keys (a null
        counts as one key).
    """
    if len(keys) == 0:
        return np.zeros(0, dtype=np.int64)
    keys = keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys
    codes = pc.dictionary_encode(keys).indices.to_numpy(zero_copy_only=False)
    return np.sort(np.unique(codes, return_index=True)[1]).astype(np.int64)


def _distinct_per_group(groups: pa.Array, values: pa.Array) -> np.ndarray:
    """For each row, how many distinct ``values`` its ``groups`` key has (vectorised)."""
    g = pc.dictionary_encode(groups).indices.to_numpy(zero_copy_only=False).astype(np.int64)
    v = pc.dictionary_encode(values).indices.to_numpy(zero_copy_only=False).astype(np.int64)
    pairs = np.unique(g * (int(v.max(initial=0)) + 1) + v)
    per_group = np.bincount(pairs // (int(v.max(initial=0)) + 1), minlength=int(g.max(initial=-1)) + 1)
    return per_group[g]


@dataclass(frozen=True)
class MetaIndex:
    """Content-keyed lookups built from a source's meta files (see the module docstring).

    Attributes
    ----------
    source : Source
        The source whose meta files are indexed.
    files : tuple of MetaFile
        Every file under ``meta_files/``, documented or not.
    """

    source: Source
    files: tuple[MetaFile, ...] = ()

    # -- files ---------------------------------------------------------------------------------
    def of_kind(self, kind: str) -> list[MetaFile]:
        """The documented files of one kind.

        Parameters
        ----------
        kind : str
            A folder of ``meta_files/``: ``split``, ``model_answer``, ``prefer``, ``image_info``...

        Returns
        -------
        list of MetaFile
            The documented (``known``) files of that kind, in path order, at most one per
            question type (see :func:`~spa_vl.meta_files.files_of`).
        """
        return files_of(self.files, kind)

    @property
    def image_info_file(self) -> MetaFile | None:
        """``meta_files/image_info/meta.json`` when the source has it."""
        return next((f for f in self.files if f.relative == IMAGE_INFO_FILE), None)

    def missing_type_files(self, kind: str = "split") -> list[str]:
        """``meta_files/<kind>/<type>.json`` names absent for some question type (when the kind is present at all).

        Parameters
        ----------
        kind : str, default "split"
            A per-question-type folder of ``meta_files/`` (``split``, ``model_answer``, ``prefer``).

        Returns
        -------
        list of str
            The missing relative paths, in question-type order; empty when the source has no
            file of that kind at all, or all of them.
        """
        present = {f.question_type for f in self.of_kind(kind)}
        return [f"meta_files/{kind}/{t}.json" for t in QUESTION_TYPES if present and t not in present]

    def _cached(self, name: str, files: Sequence[MetaFile], build: Callable[[], pa.Table]) -> pa.Table:
        stamps = [self.source.stamp(f.path) for f in files]
        digest = hashlib.sha256(json.dumps([_DERIVED_VERSION, name, stamps]).encode()).hexdigest()[:24]
        path = cache_root() / "meta" / f"{name}-{digest}.parquet"
        try:
            return pq.ParquetFile(path).read()
        except (OSError, pa.ArrowInvalid):
            pass
        table = build()
        try:
            atomic_write(path, lambda tmp: pq.write_table(table, tmp))
        except OSError:
            pass
        return table

    # -- image_info ----------------------------------------------------------------------------
    @cached_property
    def images(self) -> pa.Table:
        """``image`` and ``class1..3``, one row per image (classes null where its records contradict)."""
        return self._read_image_info(())  # label columns only: the captions are not read for labels

    @cached_property
    def _image_labels(self) -> tuple[pa.Table, pa.Table]:
        """``(labels, conflicts)``: each image's one class path, and the images whose records disagree.

        Records without any class say nothing and are left out; an image whose labelled records
        hold more than one distinct ``class1/class2/class3`` gets null classes (unknown, -1),
        whatever the records' order. ``conflicts`` has ``image`` and ``paths`` (the distinct
        paths, sorted), in order of first appearance.
        """
        file = self.image_info_file
        empty = pa.table({IMAGE: pa.array([], pa.string()), **{c: pa.array([], pa.string()) for c in LEVELS}})
        if file is None:
            return empty, pa.table({IMAGE: pa.array([], pa.string()), "paths": pa.array([], pa.list_(pa.string()))})
        table = read_meta_table(self.source, file, [IMAGE, *LEVELS])
        if IMAGE not in table.column_names:
            table = empty
        columns = {c: _cast(table.column(c), pa.string()) if c in table.column_names else pa.nulls(table.num_rows, pa.string()) for c in [IMAGE, *LEVELS]}
        table = pa.table(columns)
        labelled = pc.and_(pc.is_valid(table.column(IMAGE)), pc.or_(pc.or_(pc.is_valid(table.column(LEVELS[0])), pc.is_valid(table.column(LEVELS[1]))), pc.is_valid(table.column(LEVELS[2]))))
        table = table.filter(labelled)
        paths = pc.binary_join_element_wise(*(table.column(c) for c in LEVELS), "/", null_handling="replace", null_replacement="\x00").combine_chunks()
        images = table.column(IMAGE).combine_chunks()
        contradicts = _distinct_per_group(images, paths) > 1 if table.num_rows else np.zeros(0, dtype=bool)
        first = first_per_key(images)
        labels = table.take(first)
        conflicted = pa.array(contradicts[first])
        labels = pa.table({IMAGE: labels.column(IMAGE), **{c: pc.if_else(conflicted, pa.nulls(labels.num_rows, pa.string()), labels.column(c)) for c in LEVELS}})
        clash = pa.table({IMAGE: images, "path": paths}).filter(pa.array(contradicts))
        grouped = clash.group_by(IMAGE, use_threads=False).aggregate([("path", "distinct")])
        order = pc.index_in(labels.column(IMAGE), grouped.column(IMAGE))
        ordered = grouped.take(pc.drop_null(order))
        sorted_paths = [sorted(p.replace("\x00", "?") for p in v) for v in ordered.column("path_distinct").to_pylist()]
        conflicts = pa.table({IMAGE: ordered.column(IMAGE), "paths": pa.array(sorted_paths, pa.list_(pa.string()))})
        if conflicts.num_rows:
            warnings.warn(
                f"{self.source.label}: {conflicts.num_rows} image(s) have records with different classes in {IMAGE_INFO_FILE} "
                f"(e.g. {conflicts.column(IMAGE)[0].as_py()!r}: {' vs '.join(sorted_paths[0])}); their class labels are unknown (-1): "
                "fix or remove the contradicting records",
                SpaVLWarning,
                stacklevel=2,
            )
        return labels, conflicts

    @property
    def image_conflicts(self) -> pa.Table:
        """Images whose image_info records give different class paths (their classes are unknown).

        Returns
        -------
        pyarrow.Table, one row per contradicted image
            ``image`` (str) and ``paths`` (list of str: the distinct ``class1/class2/class3``
            paths its records give, sorted; a missing level shows as ``?``), in order of the
            image's first record.
        """
        return self._image_labels[1]

    @cached_property
    def _image_index(self) -> KeyIndex:
        return KeyIndex(content_keys([self.images.column(IMAGE)]))

    def image_position(self, image_names: pa.Array) -> pa.Array:
        """Row of :attr:`images` (and of every :meth:`image_info` table) for each image name.

        Parameters
        ----------
        image_names : pyarrow string array, shape (n,)
            Train ``image_name`` values: the exact name first, then its file name (a path's last part).

        Returns
        -------
        pyarrow.Int64Array, shape (n,)
            Null where no image_info record has that name.
        """
        names = image_names.combine_chunks() if isinstance(image_names, pa.ChunkedArray) else image_names
        exact = self._image_index.positions(content_keys([names]))
        if not exact.null_count:
            return exact
        file_names = pc.extract_regex(pc.replace_substring(names.cast(pa.string()), "\\", "/"), r"(?P<name>[^/]*)$").field("name")
        return pc.coalesce(exact, self._image_index.positions(content_keys([file_names])))

    @cached_property
    def _image_info_table(self) -> pa.Table:
        return self._read_image_info(tuple(IMAGE_INFO_FIELDS))

    def image_info(self, fields: Sequence[str]) -> pa.Table:
        """``image``, ``class1..3`` and the requested image_info ``fields`` (typed; null where absent).

        Parameters
        ----------
        fields : sequence of str
            Fields of :data:`~spa_vl.columns.IMAGE_INFO_FIELDS` to add.

        Returns
        -------
        pyarrow.Table, one row per distinct image
            Columns ``image``, ``class1``, ``class2``, ``class3`` and ``fields``, typed as
            documented (a value of another type is null); the first record of each image, records
            without ``image`` dropped; the classes are those all its labelled records agree on
            (null where they contradict: see :attr:`image_conflicts`). Empty when the source has no image_info file.
        """
        if set(fields) <= set(IMAGE_INFO_FIELDS):  # the documented fields: read once, selected per call
            return self._image_info_table.select([IMAGE, *LEVELS, *fields])
        return self._read_image_info(tuple(fields))

    def _read_image_info(self, fields: tuple[str, ...]) -> pa.Table:
        file = self.image_info_file
        columns = [IMAGE, *LEVELS, *fields]
        if file is None:
            return pa.table({c: pa.array([], _image_info_type(c)) for c in columns})
        table = read_meta_table(self.source, file, columns)
        table = table.filter(pc.is_valid(table.column(IMAGE))) if IMAGE in table.column_names else table.slice(0, 0)
        out = {}
        for c in columns:
            kind = _image_info_type(c)
            out[c] = _cast(table.column(c), kind) if c in table.column_names else pa.nulls(table.num_rows, kind)
        table = pa.table(out)
        table = table.take(first_per_key(table.column(IMAGE).combine_chunks()))
        # classes from the records that agree (never from whichever record came first)
        labels = self._image_labels[0]
        position = pc.index_in(table.column(IMAGE), labels.column(IMAGE))
        for c in LEVELS:
            table = table.set_column(table.column_names.index(c), c, labels.column(c).take(position))
        return table

    # -- split: question types -----------------------------------------------------------------
    @cached_property
    def match_fields(self) -> tuple[str, ...]:
        """The text fields every ``split`` file has, among question, chosen and rejected."""
        files = self.of_kind("split")
        if not files:
            return ()
        common = set(MATCH_FIELDS)
        for f in files:
            common &= set(meta_schema(self.source, f)[1])
        return tuple(c for c in MATCH_FIELDS if c in common) if QUESTION in common else ()

    def _split_keys(self, normalise: bool = False) -> pa.Table:
        """``key`` (or ``norm_key`` too) and ``question_type`` of every split record, one file at a time.

        Only the 16-byte keys of a file are kept once it is hashed, so memory holds one file's texts
        at most (the split files are ~130 MB of text on the hub).
        """
        parts = []
        for f in self.of_kind("split"):
            table = read_meta_table(self.source, f, list(self.match_fields))
            columns = [table.column(c) for c in self.match_fields]
            part = {KEY: content_keys(columns)}
            if normalise:
                part[NORM_KEY] = content_keys(columns, normalise=True)
            part[QUESTION_TYPE] = pa.array([f.question_type] * table.num_rows, pa.string())
            parts.append(pa.table(part))
            del table, columns
        return pa.concat_tables(parts)

    @cached_property
    def items(self) -> pa.Table:
        """``key``, ``question_type``: one row per distinct item of the split files.

        An item listed under two question types keeps a null type (counted in :attr:`ambiguous`).
        """
        if not self.match_fields:
            return pa.table({KEY: pa.array([], KEY_TYPE), QUESTION_TYPE: pa.array([], pa.string())})
        return self._cached("items", self.of_kind("split"), self._build_items)

    def _build_items(self) -> pa.Table:
        records = self._split_keys()
        keys = records.column(KEY).combine_chunks()
        counts = _distinct_per_group(keys, records.column(QUESTION_TYPE).combine_chunks())
        types = pc.if_else(pa.array(counts > 1), pa.nulls(len(keys), pa.string()), records.column(QUESTION_TYPE))
        return pa.table({KEY: keys, QUESTION_TYPE: types}).take(first_per_key(keys))

    @cached_property
    def normalised_items(self) -> pa.Table:
        """``norm_key`` → ``key`` for the whitespace-normalised texts that name a single item.

        Built only when some row matches no item exactly (normalising long texts is slow).
        """
        if not self.match_fields:
            return pa.table({NORM_KEY: pa.array([], KEY_TYPE), KEY: pa.array([], KEY_TYPE)})

        def build() -> pa.Table:
            table = self._split_keys(normalise=True).select([NORM_KEY, KEY])
            # the fallback must never merge two different items: drop norm keys shared by several
            shared = _distinct_per_group(table.column(NORM_KEY).combine_chunks(), table.column(KEY).combine_chunks()) > 1
            table = table.filter(pa.array(~shared))
            return table.take(first_per_key(table.column(NORM_KEY)))

        return self._cached("normalised-items", self.of_kind("split"), build)

    @property
    def ambiguous(self) -> int:
        """Items listed under more than one question type."""
        return int(self.items.column(QUESTION_TYPE).null_count)

    def __len__(self) -> int:
        return self.items.num_rows

    def item_of(self, columns: Sequence[pa.Array]) -> pa.Array:
        """The item key each row matches (exact text, then normalised text), null where none.

        Parameters
        ----------
        columns : sequence of pyarrow string arrays, shape (n,) each
            The row's values of :attr:`match_fields`, in that order.

        Returns
        -------
        pyarrow.FixedSizeBinaryArray, shape (n,)
            The key (a row of :attr:`items`) of each row's item, null where none matches.
        """
        items = self.items
        found = items.column(KEY).take(self._item_index.positions(content_keys(columns))).combine_chunks()
        unmatched = pc.indices_nonzero(pc.is_null(found))
        if items.num_rows and len(unmatched):
            norm = self.normalised_items
            subset = [pc.take(c, unmatched) for c in columns]
            by_norm = norm.column(KEY).take(lookup(content_keys(subset, normalise=True), norm.column(NORM_KEY))).combine_chunks()
            found = _fill_at(found, unmatched.to_numpy(), by_norm)
        return found

    def question_type_of(self, item_keys: pa.Array) -> pa.Array:
        """Question type per item key (null where unknown).

        Parameters
        ----------
        item_keys : pyarrow.Array of binary(16), shape (n,)
            Keys from :meth:`item_of` (nulls allowed).

        Returns
        -------
        pyarrow.StringArray, shape (n,)
            One of :data:`~spa_vl.taxonomy.QUESTION_TYPES`, null where the key is null, unknown or
            ambiguous.
        """
        return self.items.column(QUESTION_TYPE).take(self._item_index.positions(item_keys)).combine_chunks()

    @cached_property
    def _item_index(self) -> KeyIndex:
        return KeyIndex(self.items.column(KEY))

    # -- model_answer: provenance --------------------------------------------------------------
    @cached_property
    def provenance(self) -> pa.Table:
        """``key``, ``chosen_model``, ``rejected_model`` per split item (null where unknown)."""
        answers = self.of_kind("model_answer")
        if not answers or not {CHOSEN, REJECTED} <= set(self.match_fields):
            return pa.table({KEY: pa.array([], KEY_TYPE), CHOSEN_MODEL: pa.array([], pa.string()), REJECTED_MODEL: pa.array([], pa.string())})
        return self._cached("provenance", [*self.of_kind("split"), *answers], self._build_provenance)

    def _build_provenance(self) -> pa.Table:
        parts = []
        by_type = {f.question_type: f for f in self.of_kind("model_answer")}
        for split_file in self.of_kind("split"):
            records = read_meta_table(self.source, split_file, [*self.match_fields, IMAGE])
            keys = content_keys([records.column(c) for c in self.match_fields])
            answers_file = by_type.get(split_file.question_type)
            writers = {c: pa.nulls(len(keys), pa.string()) for c in (CHOSEN_MODEL, REJECTED_MODEL)}
            if answers_file is not None:
                answers = read_meta_table(self.source, answers_file, [QUESTION, IMAGE, *RESPONSE_MODELS])
                writers = dict(zip((CHOSEN_MODEL, REJECTED_MODEL), _writers(records, answers)))
                del answers
            parts.append(pa.table({KEY: keys, **writers}))
        table = pa.concat_tables(parts)
        return table.take(first_per_key(table.column(KEY).combine_chunks()))

    def models_of(self, item_keys: pa.Array) -> tuple[pa.Array, pa.Array]:
        """``(chosen_model, rejected_model)`` per item key (null where unknown).

        Parameters
        ----------
        item_keys : pyarrow.Array of binary(16), shape (n,)
            Keys from :meth:`item_of` (nulls allowed).

        Returns
        -------
        tuple of (pyarrow.StringArray, pyarrow.StringArray), each shape (n,)
            Response-model keys (:data:`~spa_vl.taxonomy.RESPONSE_MODELS`) of the chosen and the
            rejected answer.
        """
        table = self.provenance
        position = self._provenance_index.positions(item_keys)
        return table.column(CHOSEN_MODEL).take(position).combine_chunks(), table.column(REJECTED_MODEL).take(position).combine_chunks()

    @cached_property
    def _provenance_index(self) -> KeyIndex:
        return KeyIndex(self.provenance.column(KEY))

    # -- prefer: reasons -----------------------------------------------------------------------
    @cached_property
    def reasons(self) -> pa.Table:
        """``key``, ``reason1``, ``reason2`` per prefer record (keyed like the split items)."""
        files = self.of_kind("prefer")
        empty = pa.table({KEY: pa.array([], KEY_TYPE), **{c: pa.array([], pa.string()) for c in PREFER_FIELDS}})
        if not files or not self.match_fields:
            return empty

        def build() -> pa.Table:
            parts = []
            for f in files:
                t = read_meta_table(self.source, f, [*self.match_fields, *PREFER_FIELDS])
                if not set(self.match_fields) <= set(t.column_names):
                    continue
                keys = content_keys([t.column(c) for c in self.match_fields])
                parts.append(pa.table({KEY: keys, **{c: _cast(t.column(c), pa.string()) if c in t.column_names else pa.nulls(t.num_rows, pa.string()) for c in PREFER_FIELDS}}))
            table = pa.concat_tables(parts) if parts else empty
            return table.take(first_per_key(table.column(KEY).combine_chunks()))

        return self._cached("reasons", files, build)

    def reasons_of(self, item_keys: pa.Array) -> dict[str, pa.Array]:
        """``reason1``/``reason2`` per item key (null where unknown).

        Parameters
        ----------
        item_keys : pyarrow.Array of binary(16), shape (n,)
            Keys from :meth:`item_of` (nulls allowed).

        Returns
        -------
        dict of str to pyarrow.StringArray, each shape (n,)
            ``reason1`` and ``reason2``.
        """
        position = self._reasons_index.positions(item_keys)
        return {c: self.reasons.column(c).take(position).combine_chunks() for c in PREFER_FIELDS}

    @cached_property
    def _reasons_index(self) -> KeyIndex:
        return KeyIndex(self.reasons.column(KEY))


def _image_info_type(column: str) -> pa.DataType:
    return pa.type_for_alias(IMAGE_INFO_FIELDS.get(column, "string"))


def _cast(column: pa.ChunkedArray | pa.Array, kind: pa.DataType) -> pa.Array:
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if column.type == kind:
        return column
    try:
        return column.cast(kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        if pa.types.is_string(kind):
            return pc.cast(column, pa.string(), safe=False)
        return pa.nulls(len(column), kind)  # a field of another type than documented: unknown


def _unique_model(keys: pa.Array, models: pa.Array) -> pa.Table:
    """``key`` → ``model`` for the keys that one model alone has (a hash aggregation in C++)."""
    grouped = pa.table({KEY: keys, "model": models}).group_by(KEY, use_threads=False).aggregate(
        [("model", "count_distinct"), ("model", "first")]
    )
    single = grouped.filter(pc.equal(grouped.column("model_count_distinct"), 1))
    return pa.table({KEY: single.column(KEY), "model": single.column("model_first")})


def _writers(records: pa.Table, answers: pa.Table) -> tuple[pa.Array, pa.Array]:
    """For each split record, the model key whose answer equals its chosen / rejected text.

    Answers are laid out long (one row per record × model) and keyed by (question, answer); where two
    models gave one answer to one question (on different images), by (question, image, answer); then
    by whitespace-normalised (question, answer) for the records still unmatched. A text that two
    models both gave is ambiguous (null), as is one that no model gave.
    """
    models = [m for m in RESPONSE_MODELS if m in answers.column_names]
    n = records.num_rows
    if not models or QUESTION not in answers.column_names or n == 0:
        return pa.nulls(n, pa.string()), pa.nulls(n, pa.string())
    has_image = IMAGE in records.column_names and IMAGE in answers.column_names
    q_a = digests(answers.column(QUESTION))
    answer_digests = [digests(_cast(answers.column(m), pa.string()), halves=1) for m in models]
    names = pa.array(np.repeat(np.asarray(models, dtype=object), answers.num_rows), pa.string())
    by_q = _unique_model(pa.concat_arrays([combine([q_a, d]) for d in answer_digests]), names)
    by_qi = None  # (question, image, answer): built only if (question, answer) leaves a record ambiguous
    q_r = digests(records.column(QUESTION))
    out = []
    for column in (CHOSEN, REJECTED):
        d = digests(records.column(column), halves=1)
        found = by_q.column("model").take(lookup(combine([q_r, d]), by_q.column(KEY))).combine_chunks()
        if has_image and found.null_count:
            if by_qi is None:
                i_a, i_r = digests(answers.column(IMAGE)), digests(records.column(IMAGE))
                by_qi = _unique_model(pa.concat_arrays([combine([q_a, i_a, a]) for a in answer_digests]), names)
            found = pc.coalesce(found, by_qi.column("model").take(lookup(combine([q_r, i_r, d]), by_qi.column(KEY))).combine_chunks())
        missing = pc.indices_nonzero(pc.is_null(found)).to_numpy()
        if len(missing):
            found = _normalised_writers(records.take(missing), column, answers, models, found, missing)
        out.append(found)
    return out[0], out[1]


def _normalised_writers(records: pa.Table, column: str, answers: pa.Table, models: list[str], found: pa.Array, missing: np.ndarray) -> pa.Array:
    """Fill ``found`` at ``missing`` by whitespace-normalised (question, answer), on the answers of those questions only."""
    q_r = digests(records.column(QUESTION), normalise=True)
    q_a = digests(answers.column(QUESTION), normalise=True)
    wanted = np.isin(q_a[:, 0], q_r[:, 0])
    if not wanted.any():
        return found
    subset = answers.filter(pa.array(wanted))
    q_s = q_a[wanted]
    keys = pa.concat_arrays([combine([q_s, digests(_cast(subset.column(m), pa.string()), normalise=True)]) for m in models])
    by_q = _unique_model(keys, pa.array(np.repeat(np.asarray(models, dtype=object), subset.num_rows), pa.string()))
    extra = by_q.column("model").take(lookup(combine([q_r, digests(records.column(column), normalise=True)]), by_q.column(KEY))).combine_chunks()
    return _fill_at(found, missing, extra)


def _fill_at(values: pa.Array, positions: np.ndarray, replacements: pa.Array) -> pa.Array:
    """``values`` with ``replacements`` written at ``positions`` (ascending, one per replacement)."""
    mask = np.zeros(len(values), dtype=bool)
    mask[positions] = True
    return pc.replace_with_mask(values, pa.array(mask), replacements.cast(values.type))


def read_meta_index(source: Source) -> MetaIndex:
    """The meta index of a source, once per source content in a process.

    Warns (:class:`~spa_vl.taxonomy.SpaVLWarning`) about a missing ``split/<type>.json`` and
    about items listed under more than one question type.

    Parameters
    ----------
    source : Source
        The data source.

    Returns
    -------
    MetaIndex
        Cached per source content (the index's parts are built lazily on first use).
    """
    return _meta_index(source, source.fingerprint)


@lru_cache(maxsize=8)
def _meta_index(source: Source, fingerprint: str) -> MetaIndex:
    index = MetaIndex(source=source, files=tuple(list_meta_files(source)))
    missing = index.missing_type_files("split")
    if missing:
        warnings.warn(f"{source.label}: {', '.join(missing)} missing: rows of that question type get question_type -1", SpaVLWarning, stacklevel=3)
    if index.of_kind("split") and index.ambiguous:
        warnings.warn(
            f"{source.label}: {index.ambiguous} item(s) are listed under more than one question type in meta_files/split/; "
            "their question_type stays unknown (-1)",
            SpaVLWarning,
            stacklevel=3,
        )
    return index
