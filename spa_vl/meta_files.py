"""The files under ``meta_files/``: found, classified, parsed once into Arrow, cached by content.

Layout on the hub (``../shared/reference/hub_layout.md``)::

    meta_files/image_info/meta.json                  per train image: labels and image fields
    meta_files/split/{easy,hardq,hards}.json         question type = the file an item is in
    meta_files/prefer/{easy,hardq,hards}.json        GPT-4V's reasons (reason1, reason2)
    meta_files/model_answer/{easy,hardq,hards}.json  the 12 response models' answers
    meta_files/safety/{easy,hardq,hards}.json        undocumented; read and listed, never required

Each file is parsed with orjson and converted to Arrow in C++ (``pyarrow.array`` over the
records), one file at a time, then kept as Parquet under ``$SPA_VL_CACHE/meta/`` keyed by the
file's name, size and modification (or blob) id. Later reads take only the columns they need
from that Parquet. A top-level list of records, a ``{"data": [...]}`` object and a dict of
records are all accepted; fields are whatever the records hold (unknown ones are listed by the
doctor, never fatal).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .atomic import atomic_write, atomic_write_text
from .cache import cache_root
from .errors import SpaVLError
from .layout import META_DIR
from .sources import Source
from .taxonomy import SpaVLWarning, canonical_question_type

_PARSER_VERSION = 2
_TYPE_SAMPLE = 1000  # records the struct type is inferred from before converting all of them
#: Meta kinds with one file per question type.
PER_TYPE_KINDS: tuple[str, ...] = ("split", "prefer", "model_answer", "safety")
IMAGE_INFO_FILE = f"{META_DIR}/image_info/meta.json"
#: Kinds whose parsed tables are kept as Parquet (read on every labelling run).
CACHED_KINDS: tuple[str, ...] = ("image_info", "split")
#: Fields the card documents for each kind (the doctor compares them with what the files hold).
DOCUMENTED_FIELDS: dict[str, tuple[str, ...]] = {
    "image_info": ("image", "width", "height", "url", "md5", "caption_laion", "text_similarity", "text_count", "gemini_caption", "class1", "class2", "class3"),
    "split": ("image", "question", "chosen", "rejected"),
    "prefer": ("image", "question", "chosen", "rejected", "reason1", "reason2"),
    "model_answer": ("image", "question"),  # + one key per response model (RESPONSE_MODELS)
    "safety": (),
}


@dataclass(frozen=True)
class MetaFile:
    """One file under ``meta_files/``.

    Attributes
    ----------
    path : str
        Full path as the source lists it.
    relative : str
        Path relative to the source root, e.g. ``meta_files/split/easy.json``.
    kind : str
        Its folder (``split``, ``image_info``, ...); any other folder name is kept as it is.
    question_type : str or None
        Canonical question type of a per-type file (``hardd`` is read as ``hards``).
    """

    path: str
    relative: str
    kind: str
    question_type: str | None

    @property
    def known(self) -> bool:
        """Whether the file is one the card documents."""
        if self.kind == "image_info":
            return self.relative == IMAGE_INFO_FILE
        return self.kind in PER_TYPE_KINDS and self.question_type is not None


def list_meta_files(source: Source) -> list[MetaFile]:
    """Every ``meta_files/<kind>/<name>.json`` of a source, sorted by path.

    Parameters
    ----------
    source : Source
        The data source.

    Returns
    -------
    list of MetaFile
        Documented or not; ``question_type`` is set for per-type kinds whose stem is a question
        type or alias.
    """
    found = []
    for path in source.glob(f"{META_DIR}/*/*.json"):
        relative = source.relative(path)
        kind = PurePosixPath(relative).parent.name
        stem = PurePosixPath(relative).stem
        found.append(MetaFile(path, relative, kind, canonical_question_type(stem) if kind in PER_TYPE_KINDS else None))
    return found


def files_of(files: Sequence[MetaFile], kind: str) -> list[MetaFile]:
    """The documented files of one kind (per-type kinds: at most one per question type).

    Parameters
    ----------
    files : sequence of MetaFile
        Files in path order (as :func:`list_meta_files` returns them).
    kind : str
        The kind wanted (``split``, ``model_answer``, ``prefer``, ``image_info``...).

    Returns
    -------
    list of MetaFile
        The ``known`` files of that kind, in the order given; of two files for one question type
        (``hards.json`` and ``hardd.json``) the first is kept.
    """
    chosen: dict[str | None, MetaFile] = {}
    for f in files:
        if f.kind == kind and f.known:
            chosen.setdefault(f.question_type, f)  # `hards.json` before `hardd.json` (sorted order)
    return list(chosen.values())


def _records(data: Any, path: str) -> list[dict]:
    if isinstance(data, dict):
        if isinstance(data.get("data"), list):
            data = data["data"]
        elif all(isinstance(v, dict) for v in data.values()):
            data = list(data.values())
    if not isinstance(data, list) or any(not isinstance(r, dict) for r in data[:1]):
        raise SpaVLError(f"{path}: expected a JSON list of objects (one per item) or a dict of them; re-download the meta file")
    bad = next((i for i, r in enumerate(data) if not isinstance(r, dict)), None)
    if bad is not None:
        shown = json.dumps(data[bad])[:40]
        raise SpaVLError(
            f"{path}: record {bad} (counting from 0) is {shown}, not an object like the others: "
            "remove it (or restore the record) and run again, or re-download the meta file"
        )
    return data


def _first_odd_type(values: list, path: str, name: str) -> str:
    """Where a field's values stop having one type: ``record i holds T (v) where record j holds U (w)``."""
    first = next((i for i, v in enumerate(values) if v is not None), None)
    if first is None:
        return ""
    kind = type(values[first])
    odd = next((i for i, v in enumerate(values) if v is not None and type(v) is not kind), None)
    if odd is None:
        return ""
    return (
        f"{path}: field {name!r} holds {type(values[odd]).__name__} in record {odd} ({json.dumps(values[odd])[:40]}) but "
        f"{kind.__name__} in record {first} ({json.dumps(values[first])[:40]}); the field is read as text: "
        f"fix record {odd} if that is a mistake"
    )


def _to_table(records: list[dict], path: str) -> pa.Table:
    if not records:
        return pa.table({})
    # Infer the struct type from a sample, then convert every record with it in C++ (2-3x faster
    # than inferring over all records); fall back to full inference when the sample cannot say.
    try:  # a field whose type differs within the sample cannot be inferred from it
        sampled: pa.DataType | None = pa.array(records[:_TYPE_SAMPLE]).type
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        sampled = None
    if sampled is not None:
        every_key = set().union(*records)
        explicit = len(sampled) == len(every_key) and not any(pa.types.is_null(f.type) for f in sampled)
        try:
            array = pa.array(records, type=sampled) if explicit else pa.array(records)
            return pa.Table.from_struct_array(array) if len(array.type) else pa.table({})
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass
        try:
            array = pa.array(records)
            return pa.Table.from_struct_array(array) if len(array.type) else pa.table({})
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass
    # Mixed types in a field: infer field by field, falling back to text for that field alone.
    columns = {}
    for name in dict.fromkeys(k for r in records for k in r):
        values = [r.get(name) for r in records]
        try:
            columns[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            columns[name] = pa.array([None if v is None else v if isinstance(v, str) else json.dumps(v) for v in values], pa.string())
            where = _first_odd_type(values, path, name)
            if where:
                warnings.warn(where, SpaVLWarning, stacklevel=2)
    return pa.table(columns)


def _token_at(text: str, pos: int) -> str:
    """The JSON token starting at ``pos`` (up to the next delimiter, at most 30 characters)."""
    match = re.match(r"[^\s,:\[\]{}]+|.", text[pos : pos + 30], re.DOTALL)
    return match.group(0) if match else "end of file"


def _lenient_json(raw: bytes, path: str) -> Any:
    """Parse JSON that orjson refused.

    NaN, Infinity and numbers out of range (1e999) become missing values, with one warning;
    anything else is an error naming the position and the token.
    """
    text = raw.decode("utf-8", errors="replace")
    odd: list[str] = []

    def missing(token: str) -> None:
        odd.append(token)
        return None

    def number(token: str) -> float | None:
        value = float(token)
        if math.isfinite(value):
            return value
        odd.append(token)
        return None

    try:
        data = json.loads(text, parse_constant=missing, parse_float=number)
    except json.JSONDecodeError as e:
        raise SpaVLError(
            f"{path}: not valid JSON at line {e.lineno} column {e.colno} (character {e.pos}): {e.msg} at "
            f"{_token_at(text, e.pos)!r}: fix the file there, or re-download the meta file"
        ) from None
    if odd:
        found = re.search(r"[:\[,]\s*(" + re.escape(odd[0]) + r")\s*[,\]}]", text)
        at = f" at line {text.count(chr(10), 0, found.start(1)) + 1} column {found.start(1) - text.rfind(chr(10), 0, found.start(1))}" if found else ""
        warnings.warn(
            f"{path}: {len(odd)} value(s) are not finite JSON numbers (first: {odd[0]!r}{at}); read as missing values: "
            "write null for a missing value",
            SpaVLWarning,
            stacklevel=3,
        )
    return data


def _load_records(source: Source, file: MetaFile) -> list[dict]:
    import orjson

    with source.open(file.path, "rb") as f:
        raw = f.read()
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = _lenient_json(raw, file.relative)  # NaN, Infinity, 1e999: missing; else a one-line error
    return _records(data, file.relative)


def parse_meta_file(source: Source, file: MetaFile) -> pa.Table:
    """Parse one meta file into an Arrow table (one row per record, one column per field).

    Also records the file's record count and fields for :func:`meta_schema` (in the cache).

    Parameters
    ----------
    source : Source
        The data source holding the file.
    file : MetaFile
        The file to parse.

    Returns
    -------
    pyarrow.Table
        One row per record, in file order; a field whose values mix types is read as JSON text.
        No columns when the file has no records.

    Raises
    ------
    SpaVLError
        The file is not valid JSON, or not a list/dict of objects (one line, naming the file).
    """
    table = _to_table(_load_records(source, file), file.relative)
    _write_summary(source, file, table.num_rows, table.column_names)
    return table


def _cache_path(source: Source, file: MetaFile, suffix: str = ".parquet") -> Path:
    stamp = json.dumps([_PARSER_VERSION, source.stamp(file.path)])
    return cache_root() / "meta" / f"{hashlib.sha256(stamp.encode()).hexdigest()[:24]}{suffix}"


def _write_summary(source: Source, file: MetaFile, records: int, fields: list[str]) -> None:
    try:
        atomic_write_text(_cache_path(source, file, ".fields.json"), json.dumps({"records": records, "fields": fields}))
    except OSError:  # a read-only cache is not an error
        pass


def read_meta_table(source: Source, file: MetaFile, columns: Sequence[str] | None = None) -> pa.Table:
    """A meta file's records as Arrow.

    Files read on every run (image_info, split: :data:`CACHED_KINDS`) are parsed once per file
    content and then read from a Parquet cache; the large ones that only feed a derived, cached
    table (model_answer, prefer) are parsed when that table is built and not kept.

    Parameters
    ----------
    source : Source
        The data source holding the file.
    file : MetaFile
        The file to read.
    columns : sequence of str, optional
        Fields to return (those the file has); all when None.

    Returns
    -------
    pyarrow.Table
        One row per record, in file order.

    Raises
    ------
    SpaVLError
        If the file has to be parsed and is not valid JSON or not a list/dict of objects.
    """
    cached = _cache_path(source, file)
    if file.kind in CACHED_KINDS:
        try:
            parquet = pq.ParquetFile(cached)
            present = None if columns is None else [c for c in columns if c in parquet.schema_arrow.names]
            return parquet.read(columns=present)
        except (OSError, pa.ArrowInvalid):
            pass  # not cached yet, or a damaged cache file: parse again
    table = parse_meta_file(source, file)
    if file.kind in CACHED_KINDS:
        try:
            atomic_write(cached, lambda tmp: pq.write_table(table, tmp, compression="zstd"))
        except OSError:  # a read-only cache is not an error: the file was parsed anyway
            pass
    return table if columns is None else table.select([c for c in columns if c in table.column_names])


def meta_schema(source: Source, file: MetaFile) -> tuple[int, list[str]]:
    """``(records, fields)`` of a meta file, from a small summary kept when it was first parsed.

    A file never parsed before is read (records counted, fields collected) without building Arrow.

    Parameters
    ----------
    source : Source
        The data source holding the file.
    file : MetaFile
        The meta file.

    Returns
    -------
    tuple of (int, list of str)
        The number of records, and every field name in order of first appearance.

    Raises
    ------
    SpaVLError
        If the file has to be parsed and is not valid JSON or not a list/dict of objects.
    """
    try:
        summary = json.loads(_cache_path(source, file, ".fields.json").read_text(encoding="utf-8"))
        return int(summary["records"]), list(summary["fields"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    if file.kind in CACHED_KINDS:  # parsed and cached now, since labelling reads it anyway
        table = read_meta_table(source, file)
        return table.num_rows, table.column_names
    records = _load_records(source, file)
    fields = list(dict.fromkeys(k for r in records for k in r))
    _write_summary(source, file, len(records), fields)
    return len(records), fields
