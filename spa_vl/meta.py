"""The meta files: which question type (and image path) each question belongs to.

Question type is no column anywhere on the hub; it is the stem of the meta file an item is
listed in (``meta_files/<kind>/{easy,hardq,hards}.json``, ``hardd`` accepted for ``hards``).
The JSON fields of the real meta files are not documented, so the field names we accept are
listed once here; records are matched to rows by their question text.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import PurePosixPath
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .atomic import atomic_write
from .cache import cache_root

from .errors import SpaVLError
from .layout import META_DIR
from .sources import Source
from .taxonomy import QUESTION_TYPE, QUESTION_TYPES, SpaVLWarning, canonical_question_type

_CACHE_VERSION = 1
#: Meta kinds holding one file per question type, in the order we look for them.
QUESTION_TYPE_META_KINDS: tuple[str, ...] = ("split", "safety", "prefer")
#: Accepted field names, first match wins. ASSUMPTION: the real files use one of these.
QUESTION_FIELDS: tuple[str, ...] = ("question", "query", "prompt", "instruction")
IMAGE_FIELDS: tuple[str, ...] = ("image", "image_name", "image_path", "img")
#: Which model wrote the chosen / rejected response. ASSUMPTION: `prefer/` records carry these
#: when the meta files say it at all; without them the response-model recipe refuses to run.
MODEL_META_KIND = "prefer"
CHOSEN_MODEL_FIELDS: tuple[str, ...] = ("chosen_model", "chosen_from", "chosen_source")
REJECTED_MODEL_FIELDS: tuple[str, ...] = ("rejected_model", "rejected_from", "rejected_source")


def file_name(paths: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The last component of each path (``/`` or ``\\`` separated)."""
    paths = paths.combine_chunks() if isinstance(paths, pa.ChunkedArray) else paths
    return pc.extract_regex(pc.replace_substring(paths.cast(pa.string()), "\\", "/"), r"(?P<name>[^/]*)$").field("name")


def _codes(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Dense integer codes of a column's distinct values (vectorised; no Acero group-by)."""
    encoded = pc.dictionary_encode(values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values)
    # nulls get -1; zero-copy keeps pandas (and its import) out of this path
    return pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=True)


def first_per_key(keys: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Positions of the first row of each distinct key, in row order."""
    if len(keys) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.unique(_codes(keys), return_index=True)[1])


def _image_keys(image_names: pa.Array | pa.ChunkedArray, questions: pa.Array | pa.ChunkedArray) -> pa.Array:
    # Questions repeat across images in SPA-VL, so an image path is looked up by file name + question.
    return pc.binary_join_element_wise(file_name(image_names), _clean(questions), "\n")


def _clean(questions: pa.Array | pa.ChunkedArray) -> pa.Array:
    questions = questions.combine_chunks() if isinstance(questions, pa.ChunkedArray) else questions
    return pc.utf8_trim_whitespace(questions.cast(pa.string()))


@dataclass(frozen=True)
class MetaIndex:
    """What the meta files say of each question, built once per source.

    ``types``: one row per unambiguous question (``question``, ``question_type``).
    ``records`` (read on first use): every meta record (``question``, ``question_type``, ``image``).
    ``images`` (built on first use): image paths keyed by file name + question (``key``, ``image``).
    ``ambiguous`` counts questions listed under more than one type (they stay unknown).
    """

    types: pa.Table
    load_records: Callable[[], pa.Table] = field(repr=False, compare=False, default=lambda: _RECORDS_SCHEMA.empty_table())
    files: tuple[str, ...] = ()
    ambiguous: int = 0

    @classmethod
    def empty(cls) -> "MetaIndex":
        return cls(types=pa.schema([("question", pa.string()), (QUESTION_TYPE, pa.string())]).empty_table())

    @cached_property
    def records(self) -> pa.Table:
        """Every meta record (read on first use: only the bare-file-name fallback needs it)."""
        return self.load_records()

    @cached_property
    def images(self) -> pa.Table:
        with_image = self.records.filter(pc.is_valid(self.records.column("image")))
        keys = _image_keys(with_image.column("image"), with_image.column("question"))
        first = pa.array(first_per_key(keys))
        return pa.table({"key": keys.take(first), "image": with_image.column("image").take(first)})

    def __len__(self) -> int:
        return self.types.num_rows

    def question_type_of(self, questions: pa.Array | pa.ChunkedArray) -> pa.Array:
        """Question type per question (null where unmatched or ambiguous)."""
        positions = pc.index_in(_clean(questions), value_set=self.types.column("question"))
        return self.types.column(QUESTION_TYPE).take(positions).combine_chunks()

    def image_path_of(self, image_names: pa.Array | pa.ChunkedArray, questions: pa.Array | pa.ChunkedArray) -> pa.Array:
        """The meta files' image path for each (file name, question) pair (null where unmatched)."""
        positions = pc.index_in(_image_keys(image_names, questions), value_set=self.images.column("key"))
        return self.images.column("image").take(positions).combine_chunks()


_RECORDS_SCHEMA = pa.schema([("question", pa.string()), (QUESTION_TYPE, pa.string()), ("image", pa.string())])


def _json_records(source: Source, path: str) -> list[dict]:
    """The records of one meta file; invalid JSON or another shape is a one-line error naming it."""
    try:
        with source.open(path, "rb") as f:
            return _records(json.load(f), path)
    except json.JSONDecodeError as e:
        raise SpaVLError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}): re-download the meta file") from e


def _records(data: Any, path: str) -> list[dict]:
    if isinstance(data, dict):  # {id: record} or {"data": [...]}
        data = data.get("data", list(data.values())) if "data" in data else list(data.values())
    if not isinstance(data, list) or (data and not isinstance(data[0], dict)):
        raise SpaVLError(f"{path}: expected a JSON list of objects (one per item); re-download the meta file")
    return data


def _field(record_keys: set[str], names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in record_keys), None)


def _read_type_file(source: Source, path: str, question_type: str) -> pa.Table:
    records = _json_records(source, path)
    keys = set(records[0]) if records else set()
    q_field, i_field = _field(keys, QUESTION_FIELDS), _field(keys, IMAGE_FIELDS)
    if records and q_field is None:
        raise SpaVLError(
            f"{path}: no question field (looked for {', '.join(QUESTION_FIELDS)}); cannot match items to rows"
        )
    questions = pa.array([r.get(q_field) for r in records], pa.string())
    images = pa.array([r.get(i_field) if i_field else None for r in records], pa.string())
    return pa.table(
        {
            "question": pc.utf8_trim_whitespace(questions),
            QUESTION_TYPE: pa.array([question_type] * len(records), pa.string()),
            "image": images,
        }
    )


def read_meta_index(source: Source) -> MetaIndex:
    """Index the first meta kind that has question-type files; an empty index when none does.

    Parsed once per source content in a process (cached by the source's fingerprint).
    """
    return _meta_index(source, source.fingerprint)


@lru_cache(maxsize=8)
def _meta_index(source: Source, fingerprint: str) -> MetaIndex:
    for kind in QUESTION_TYPE_META_KINDS:
        files = source.glob(f"{META_DIR}/{kind}/*.json")
        typed = [(f, canonical_question_type(PurePosixPath(f).stem)) for f in files]
        typed = [(f, t) for f, t in typed if t is not None]
        if typed:
            break
    else:
        return MetaIndex.empty()
    missing = [f"{META_DIR}/{kind}/{t}.json" for t in QUESTION_TYPES if t not in {qt for _, qt in typed}]
    if missing:
        warnings.warn(
            f"{source.label}: {', '.join(missing)} missing: rows of that question type get question_type -1",
            SpaVLWarning,
            stacklevel=2,
        )
    cache = _MetaCache(source, typed)
    types, ambiguous = cache.types()
    if ambiguous:
        warnings.warn(
            f"{source.label}: {ambiguous} question(s) are listed under more than one question type in "
            f"{META_DIR}/{kind}/; their question_type stays unknown (-1)",
            SpaVLWarning,
            stacklevel=2,
        )
    return MetaIndex(types=types, load_records=cache.records, files=tuple(f for f, _ in typed), ambiguous=ambiguous)


def _types_from_records(records: pa.Table) -> tuple[pa.Table, int]:
    """One row per unambiguous question (sorted), and how many questions were ambiguous."""
    question_ids = _codes(records.column("question"))
    type_ids = pc.index_in(records.column(QUESTION_TYPE), value_set=pa.array(QUESTION_TYPES)).to_numpy(zero_copy_only=False)
    pairs = np.unique(question_ids.astype(np.int64) * 8 + type_ids)  # distinct (question, type)
    types_per_question = np.bincount(pairs // 8, minlength=int(question_ids.max(initial=-1)) + 1)
    first = np.unique(question_ids, return_index=True)[1]
    keep = np.sort(first[types_per_question[question_ids[first]] == 1])
    types = records.select(["question", QUESTION_TYPE]).take(pa.array(keep)).sort_by("question")
    return types, int((types_per_question > 1).sum())


class _MetaCache:
    """Parsed meta files kept as Parquet under ``$SPA_VL_CACHE/meta/<key>/``.

    The key is every file's name, size and modification (or blob) id, so an edited meta file is
    parsed again; a cache file that cannot be read is ignored and rewritten. ``types.parquet`` (one
    row per question) serves every run; ``records.parquet`` only the bare-file-name fallback.
    """

    def __init__(self, source: Source, typed: list[tuple[str, str]]):
        self.source, self.typed = source, typed
        stamps = [[t, *source.stamp(f)] for f, t in typed]
        key = hashlib.sha256(json.dumps([_CACHE_VERSION, QUESTION_FIELDS, IMAGE_FIELDS, stamps]).encode()).hexdigest()[:24]
        self.dir = cache_root() / "meta" / key

    def _read(self, name: str) -> pa.Table | None:
        try:
            return pq.ParquetFile(self.dir / name).read()
        except (OSError, pa.ArrowInvalid):
            return None

    def _write(self, name: str, table: pa.Table) -> None:
        try:
            atomic_write(self.dir / name, lambda tmp: pq.write_table(table, tmp))
        except OSError:  # a read-only cache is not an error: the files were parsed anyway
            pass

    def records(self) -> pa.Table:
        cached = self._read("records.parquet")
        if cached is not None:
            return cached.cast(_RECORDS_SCHEMA)
        table = pa.concat_tables([_read_type_file(self.source, f, t) for f, t in self.typed])
        table = table.filter(pc.is_valid(table.column("question")))
        self._write("records.parquet", table)
        return table

    def types(self) -> tuple[pa.Table, int]:
        cached = self._read("types.parquet")
        if cached is not None and b"ambiguous" in (cached.schema.metadata or {}):
            return cached.replace_schema_metadata(None), int(cached.schema.metadata[b"ambiguous"])
        types, ambiguous = _types_from_records(self.records())
        self._write("types.parquet", types.replace_schema_metadata({"ambiguous": str(ambiguous)}))
        return types, ambiguous


def read_response_models(source: Source) -> pa.Table | None:
    """``key`` (file name + question), ``chosen_model``, ``rejected_model`` from the meta files.

    None when no ``meta_files/prefer/*.json`` record names the models (see :data:`CHOSEN_MODEL_FIELDS`).
    """
    tables = []
    for path in source.glob(f"{META_DIR}/{MODEL_META_KIND}/*.json"):
        records = _json_records(source, path)
        keys = set(records[0]) if records else set()
        fields = [_field(keys, names) for names in (QUESTION_FIELDS, IMAGE_FIELDS, CHOSEN_MODEL_FIELDS, REJECTED_MODEL_FIELDS)]
        if None in fields:
            continue
        q, i, c, r = ([rec.get(f) for rec in records] for f in fields)
        tables.append(
            pa.table(
                {
                    "key": _image_keys(pa.array(i, pa.string()), pa.array(q, pa.string())),
                    "chosen_model": pa.array(c, pa.string()),
                    "rejected_model": pa.array(r, pa.string()),
                }
            )
        )
    if not tables:
        return None
    table = pa.concat_tables(tables)
    return table.take(pa.array(first_per_key(table.column("key"))))


def response_models_of(models: pa.Table, image_names: pa.Array, questions: pa.Array) -> tuple[pa.Array, pa.Array]:
    """``(chosen_model, rejected_model)`` per row, looked up by file name + question (null if unknown)."""
    positions = pc.index_in(_image_keys(image_names, questions), value_set=models.column("key"))
    return (
        models.column("chosen_model").take(positions).combine_chunks(),
        models.column("rejected_model").take(positions).combine_chunks(),
    )
