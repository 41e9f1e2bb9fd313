"""Files → Arrow tables: find a split's shards, check them, read only the columns a step needs.

Images are bytes inside the Parquet files; nothing here decodes them, and a step that does not
ask for the ``image`` column never reads a byte of it (Parquet column projection).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from pathlib import PurePosixPath

import pyarrow as pa
import pyarrow.parquet as pq

from .columns import CLASS_LABEL_COLUMNS
from .errors import SourceError, SpaVLError
from .hub import open_parquet as open_hub_parquet
from .layout import HUB_COLUMNS, canonical_config, config_split_keys, missing_shards, resolve_split
from .sources import Source
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

    Parameters
    ----------
    source : Source
        A resolved source.
    config : str
        A config name or alias (``"train"``/``"default"``, ``"validation"``, ``"eval"``/``"test"``).
    split : str
        A split of that config (``"harm"``/``"help"`` for eval).

    Returns
    -------
    list of str
        Full paths of the split's ``.parquet`` files (see :meth:`Source.glob`), sorted by name.

    Raises
    ------
    SpaVLError
        The config or split is unknown, or the source has no Parquet file for the split.
    SourceError
        Shards are missing from the numbering and ``source.allow_partial`` is off.

    Warns
    -----
    SpaVLWarning
        Shards are missing and ``source.allow_partial`` is on (rows present against the card's).
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

    Parameters
    ----------
    source : Source
        The source holding the file.
    path : str
        A full path in the source (as :func:`split_files` gives).
    pre_buffer : bool, default False
        Hub files: coalesce a row group's neighbouring column chunks into one request (for
        projected reads). Local files are memory-mapped either way.

    Returns
    -------
    pyarrow.parquet.ParquetFile
        Its footer read; no column data yet.

    Raises
    ------
    SpaVLError
        A local file is truncated or corrupt; a hub file has no readable footer
        (:class:`~spa_vl.hub.HubError`, as are failed requests).
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

    Parameters
    ----------
    schema : pyarrow.Schema
        The shard's Arrow schema.
    config : str
        The config (name or alias) the shard belongs to.
    path : str
        The shard's path, for error messages.

    Returns
    -------
    list of str
        Names of the columns that are neither the config's hub columns
        (:data:`~spa_vl.layout.HUB_COLUMNS`) nor class-label columns, in schema order.

    Raises
    ------
    SpaVLError
        The config is unknown, a required column (:data:`REQUIRED_COLUMNS`) is missing, ``image``
        is not a struct with ``bytes``, or a text or label column is not a string column (label
        columns may also be integer ClassLabel ids).
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

    Parameters
    ----------
    source : Source
        A resolved source.
    config : str
        A config name or alias.
    split : str
        A split of that config.
    columns : iterable of str
        Columns wanted (duplicates ignored), e.g. ``["question", "class1"]``.
    files : list of str, optional
        Shards to read (non-empty); all of the split's (:func:`split_files`) when None.

    Returns
    -------
    pyarrow.Table
        One row per row of the shards read, in file order; the wanted columns the files have, in
        the order asked when every shard has them (a column only some shards have is null in the
        others' rows).

    Raises
    ------
    SpaVLError
        The split's shards cannot be found (see :func:`split_files`), a shard fails
        :func:`check_schema`, or a shard cannot be opened or read.
    """
    wanted = list(dict.fromkeys(columns))
    tables = []
    for path in files if files is not None else split_files(source, config, split):
        # no pre_buffer: its asynchronous reads of a Python file object (hub sources) were seen to
        # abort the interpreter at exit ("terminate called without an active exception")
        parquet = open_parquet(source, path)
        check_schema(parquet.schema_arrow, config, path)
        present = [c for c in wanted if c in parquet.schema_arrow.names]
        try:
            tables.append(parquet.read(columns=present))
        except (pa.ArrowInvalid, OSError) as e:
            raise _read_failed(source, path, e) from e
    return pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]


def iter_batches(source: Source, config: str, path: str, batch_size: int = 1000) -> Iterator[pa.RecordBatch]:
    """Stream every column of one shard in record batches (for the builder).

    Parameters
    ----------
    source : Source
        The source holding the shard.
    config : str
        The config (name or alias) the shard belongs to, for :func:`check_schema`.
    path : str
        The shard's full path.
    batch_size : int, default 1000
        Maximum rows per batch.

    Yields
    ------
    pyarrow.RecordBatch
        Up to ``batch_size`` rows with every column of the shard, in file order.

    Raises
    ------
    SpaVLError
        The shard cannot be opened, fails :func:`check_schema`, or cannot be read.
    """
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
    """``(config, split)`` pairs (canonical names) for which the source has at least one Parquet file.

    Parameters
    ----------
    source : Source
        A resolved source.
    configs : list of str, optional
        Config names or aliases to look at; all configs when None.

    Returns
    -------
    list of tuple of (str, str)
        In canonical order (see :func:`~spa_vl.layout.config_split_keys`), e.g.
        ``[("train", "train"), ("eval", "harm")]``.

    Raises
    ------
    SpaVLError
        A config is unknown, or none of the asked configs has a Parquet file (never an empty
        answer: an empty result used to read as "nothing to report" and exit 0).
    """
    keys = config_split_keys(configs)
    found = [
        (config, split)
        for config, split in keys
        if any(f.endswith(".parquet") for f in source.glob(canonical_config(config).splits[split]))
    ]
    if not found:
        patterns = ", ".join(dict.fromkeys(f"{canonical_config(c).splits[s]}.parquet" for c, s in keys))
        raise SpaVLError(
            f"{source.label}: no config found: no Parquet file matches {patterns} under {source.root}: "
            "check the path points at the mirror's top folder (the one holding README.md and data/) and that its shards are there"
        )
    return found


def extra_columns(source: Source, config: str) -> pa.Schema:
    """Columns a config's files carry beyond SPA-VL's own (first shard of each split), with a warning.

    They are kept: the builder adds them to its features with their Arrow types.

    Parameters
    ----------
    source : Source
        A resolved source.
    config : str
        A config name or alias.

    Returns
    -------
    pyarrow.Schema
        One field per extra column (name and Arrow type from the first split that has it); empty
        when there are none.

    Raises
    ------
    SpaVLError
        The config is unknown, or a first shard cannot be opened or fails :func:`check_schema`.

    Warns
    -----
    SpaVLWarning
        Naming the extra columns, when there are any.
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
