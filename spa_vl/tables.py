"""Files → Arrow tables: find a split's shards, check them, read only the columns a step needs.

Images are bytes inside the Parquet files; nothing here decodes them, and a step that does not
ask for the ``image`` column never reads a byte of it (Parquet column projection).
"""

from __future__ import annotations

import warnings
from pathlib import PurePosixPath
from typing import Iterable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from .errors import SourceError, SpaVLError
from .hub import open_parquet as open_hub_parquet
from .layout import HUB_COLUMNS, canonical_config, config_split_keys, missing_shards, resolve_split
from .sources import Source
from .columns import CLASS_LABEL_COLUMNS
from .taxonomy import SpaVLWarning

# Columns a config's files must have to be SPA-VL at all; the others may be absent.
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "train": ("question", "chosen", "rejected"),
    "validation": ("question", "chosen", "rejected"),
    "eval": ("question",),
}


def split_files(source: Source, config: str, split: str) -> list[str]:
    """The Parquet shards of one split, sorted; errors name what is missing.

    A gap in ``-NNNNN-of-MMMMM`` numbering is an error unless ``source.allow_partial``, which warns
    instead and says how many rows are missing against the card.
    """
    layout = canonical_config(config)
    pattern = layout.splits[resolve_split(layout.name, split)]
    files = [f for f in source.glob(pattern) if f.endswith(".parquet")]
    if not files:
        raise SpaVLError(
            f"{source.label}: no Parquet files for {layout.name}/{split} (expected {pattern}.parquet): "
            "check the mirror is complete or re-download that folder"
        )
    gaps = missing_shards([PurePosixPath(f).name for f in files])
    if gaps:
        folder = str(PurePosixPath(pattern).parent)
        names = ", ".join(f"{folder}/{g}" for g in gaps)
        if not source.allow_partial:
            raise SourceError(
                f"{source.label}: missing shard(s) {names}: re-download them, or pass {{option}} to load the rest",
                parameter="allow_partial",
            )
        present = sum(open_parquet(source, f).metadata.num_rows for f in files)
        expected = source.card_rows(layout.hub_name, split)
        counted = (
            f"{present:,} rows of the card's {expected:,} ({expected - present:,} missing)"
            if expected is not None
            else f"{present:,} rows (the card gives no row count to compare)"
        )
        warnings.warn(f"{source.label}: {layout.name}/{split} loaded without {names}: {counted}", SpaVLWarning, stacklevel=2)
    return files


def open_parquet(source: Source, path: str, *, pre_buffer: bool = False) -> pq.ParquetFile:
    """Open one Parquet file; a truncated or corrupt file is an error naming it.

    A hub file is read over HTTP without read-ahead: its footer once per content (cached), then
    only the column chunks a read asks for (``pre_buffer`` merges a row group's neighbouring
    chunks into one request). Network failures are :class:`~spa_vl.hub.HubError`, never "corrupt".
    """
    if source.repo is not None:
        return open_hub_parquet(source.repo, source.relative(path), pre_buffer=pre_buffer)
    try:
        return pq.ParquetFile(path, memory_map=True)
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as e:
        raise SpaVLError(
            f"{path}: not a readable Parquet file ({str(e).splitlines()[0][:120]}): the file is truncated "
            "or corrupt; re-download it"
        ) from e


def check_schema(schema: pa.Schema, config: str, path: str) -> list[str]:
    """Check a shard's columns against the config; return its extra columns.

    A missing required column or a known column of the wrong type is an error naming both.
    """
    name = canonical_config(config).name
    for column in REQUIRED_COLUMNS[name]:
        if column not in schema.names:
            raise SpaVLError(
                f"{path}: column {column!r} is missing (a {name} file needs {', '.join(REQUIRED_COLUMNS[name])}): "
                "re-download the file or point at the right config"
            )
    for column in schema.names:
        kind = schema.field(column).type
        if column == "image":
            ok = pa.types.is_struct(kind) and "bytes" in {f.name for f in kind}
        elif column in HUB_COLUMNS[name] or column in CLASS_LABEL_COLUMNS:
            ok = pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind)
            ok = ok or (column in CLASS_LABEL_COLUMNS and pa.types.is_integer(kind))  # ClassLabel ids in our exports
        else:
            continue
        if not ok:
            raise SpaVLError(f"{path}: column {column!r} has type {kind}, expected a string column: re-export the file")
    return [c for c in schema.names if c not in HUB_COLUMNS[name] and c not in CLASS_LABEL_COLUMNS]


def read_columns(
    source: Source,
    config: str,
    split: str,
    columns: Iterable[str],
    files: list[str] | None = None,
) -> pa.Table:
    """Read the listed columns of a split (those the files have) into one Arrow table.

    Columns a file lacks are simply not returned: callers check for what they need. ``files``
    restricts the read to some of the split's shards (full paths, as :func:`split_files` gives).
    """
    wanted = list(dict.fromkeys(columns))
    tables = []
    for path in files if files is not None else split_files(source, config, split):
        parquet = open_parquet(source, path, pre_buffer=True)
        check_schema(parquet.schema_arrow, config, path)
        present = [c for c in wanted if c in parquet.schema_arrow.names]
        try:
            tables.append(parquet.read(columns=present))
        except (pa.ArrowInvalid, OSError) as e:
            raise _read_failed(source, path, e) from e
    return pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]


def iter_batches(source: Source, config: str, path: str, batch_size: int = 1000) -> Iterator[pa.RecordBatch]:
    """Stream every column of one shard in record batches (for the builder)."""
    parquet = open_parquet(source, path)
    check_schema(parquet.schema_arrow, config, path)
    try:
        yield from parquet.iter_batches(batch_size=batch_size)
    except (pa.ArrowInvalid, OSError) as e:
        raise _read_failed(source, path, e) from e


def _read_failed(source: Source, path: str, error: BaseException) -> SpaVLError:
    why = str(error).splitlines()[0][:120] if str(error) else error.__class__.__name__
    if source.repo is not None:  # the bytes arrived (network errors are HubError): the commit's file is bad
        return SpaVLError(
            f"{source.repo.describe(source.relative(path))}: reading failed ({why}): the bytes the Hub holds at this "
            "commit are corrupt; try another commit ({option}), or a local mirror",
            parameter="revision",
            value="REV",
        )
    return SpaVLError(f"{path}: reading failed ({why}): re-download it")


def available_splits(source: Source, configs: list[str] | None = None) -> list[tuple[str, str]]:
    """``(config, split)`` pairs (canonical names) for which the source has at least one Parquet file."""
    return [
        (config, split)
        for config, split in config_split_keys(configs)
        if any(f.endswith(".parquet") for f in source.glob(canonical_config(config).splits[split]))
    ]


def extra_columns(source: Source, config: str) -> pa.Schema:
    """Columns a config's files carry beyond SPA-VL's own (first shard of each split), with a warning.

    They are kept: the builder adds them to its features with their Arrow types.
    """
    fields: dict[str, pa.Field] = {}
    for split in canonical_config(config).splits:
        files = [f for f in source.glob(canonical_config(config).splits[split]) if f.endswith(".parquet")]
        if files:
            schema = open_parquet(source, files[0]).schema_arrow
            for name in check_schema(schema, config, files[0]):
                fields.setdefault(name, schema.field(name))
    if fields:
        warnings.warn(
            f"{source.label}: {canonical_config(config).name} has extra column(s) {', '.join(map(repr, fields))}: kept as they are",
            SpaVLWarning,
            stacklevel=2,
        )
    return pa.schema(list(fields.values()))
