"""Image bytes and their hashes, read from a source: the input of the image analyses.

Images are streamed from the Parquet files one record batch of the ``image`` column at a time
(never all in memory). Each distinct content (sha256 of the bytes) is opened once: PIL reads the
header for format and size, then decodes a reduced-scale grey draft (JPEG's DCT scaling, 1/2 to 1/8
of the size, no full decode) for the perceptual hash (see :mod:`spa_vl.analysis.metrics.images`).
Results are cached on disk by content, so a second run and images repeated across splits cost one
sha256 each.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import imagehash
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from spa_vl.atomic import atomic_write
from spa_vl.cache import cache_root
from spa_vl.errors import SpaVLError
from spa_vl.layout import split_key
from spa_vl.opening import open_source
from spa_vl.progress import progress_bar
from spa_vl.sources import Source
from spa_vl.tables import available_splits, check_schema, open_parquet, split_files

from ..metrics.images import HASH_SIZE

#: Draft size asked of PIL: JPEG decodes at the smallest 1/k scale still at least this large.
DRAFT_PX = 64
#: Version of the per-file tables kept in $SPA_VL_CACHE/image-tables (bump when their meaning changes).
_FILE_TABLE_VERSION = 1
#: Below this many uncached images, hashing runs in this process (a worker pool costs ~1 s to start).
_POOL_FROM = 2000
_COLUMNS = ("split", "row", "sha256", "hash64", "format", "width", "height", "bytes")


# --- one image -----------------------------------------------------------------------------------

def describe_image(data: bytes, hash_size: int = HASH_SIZE) -> tuple[str, int, int, int]:
    """Format, width, height and perceptual hash (an int of ``hash_size²`` bits) of one image's bytes.

    Format and size come from the header; the hash from a reduced-scale grey draft.
    Unreadable bytes give ``("unreadable", -1, -1, 0)`` rather than an error: one bad row must not
    stop an analysis of 100,000 (the builder already warns about such rows).

    Parameters
    ----------
    data : bytes
        One encoded image.
    hash_size : int, default 8
        dhash side: the hash has ``hash_size²`` bits.

    Returns
    -------
    format : str
        PIL's format name (``"JPEG"``, ``"PNG"``...), ``"unknown"`` if PIL names none, or
        ``"unreadable"``.
    width : int
        Width in pixels (-1 when unreadable).
    height : int
        Height in pixels (-1 when unreadable).
    hash : int
        The dhash bits as a non-negative int, most significant first (0 when unreadable).
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt, (width, height) = image.format or "unknown", image.size
            image.draft("L", (DRAFT_PX, DRAFT_PX))
            bits = imagehash.dhash(image, hash_size=hash_size).hash.ravel()
    except Exception:  # PIL raises many types (OSError, SyntaxError, ValueError, DecompressionBombError)
        return "unreadable", -1, -1, 0
    return fmt, width, height, int.from_bytes(np.packbits(bits).tobytes(), "big")


def _describe_many(payloads: list[bytes], hash_size: int) -> list[tuple[str, int, int, int]]:
    return [describe_image(b, hash_size) for b in payloads]


# --- the content cache ---------------------------------------------------------------------------

def _cache_path(hash_size: int):
    return cache_root() / "image-hashes" / f"dhash{hash_size}-draft{DRAFT_PX}-imagehash{imagehash.__version__}.parquet"


@dataclass
class _ContentCache:
    """``{sha256 digest: (format, width, height, hash64)}``, loaded from and saved to one Parquet file."""

    hash_size: int
    entries: dict[bytes, tuple[str, int, int, int]] = field(default_factory=dict)
    added: int = 0

    @classmethod
    def load(cls, hash_size: int) -> _ContentCache:
        cache = cls(hash_size)
        path = _cache_path(hash_size)
        if path.is_file():
            try:
                t = pq.read_table(path).to_pydict()
            except (pa.ArrowInvalid, OSError):
                return cache  # a damaged cache is rebuilt, never trusted
            hash64 = np.asarray(t["hash64"], dtype=np.int64).view(np.uint64).tolist()
            cache.entries = dict(zip(t["sha256"], zip(t["format"], t["width"], t["height"], hash64)))
        return cache

    def save(self) -> None:
        if not self.added:
            return
        keys = list(self.entries)
        values = list(self.entries.values())
        table = pa.table({
            "sha256": pa.array(keys, pa.binary(32)),
            "format": [v[0] for v in values],
            "width": pa.array([v[1] for v in values], pa.int32()),
            "height": pa.array([v[2] for v in values], pa.int32()),
            "hash64": pa.array(np.asarray([v[3] for v in values], dtype=np.uint64).view(np.int64)),
        })
        atomic_write(_cache_path(self.hash_size), lambda tmp: pq.write_table(table, tmp))


# --- streaming over a source ---------------------------------------------------------------------

#: Columns of a split file's kept table (``split`` and ``row`` are set where it is read).
_FILE_COLUMNS = ("sha256", "hash64", "format", "width", "height", "bytes")


def _file_table_path(source: Source, path: str, hash_size: int):
    stamp = json.dumps([source.stamp(path), hash_size, DRAFT_PX, imagehash.__version__, _FILE_TABLE_VERSION])
    return cache_root() / "image-tables" / f"{hashlib.sha256(stamp.encode()).hexdigest()[:40]}.parquet"


def _read_file_table(path) -> pd.DataFrame | None:
    """A split file's kept rows, or None when absent or unreadable (then the file is hashed again)."""
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid):
        return None
    if table.column_names != list(_FILE_COLUMNS):
        return None
    return table.to_pandas()


def _write_file_table(path, frame: pd.DataFrame) -> None:
    table = pa.Table.from_pandas(frame[list(_FILE_COLUMNS)], preserve_index=False)
    try:
        atomic_write(path, lambda tmp: pq.write_table(table, tmp))
    except OSError:  # a read-only or full cache only costs the next run the hashing
        pass


def _image_file(source: Source, config: str, path: str) -> pq.ParquetFile | None:
    """A split file, its schema checked; None when it has no ``image`` column (nothing more of its split is read)."""
    parquet = open_parquet(source, path)
    check_schema(parquet.schema_arrow, config, path)
    return parquet if "image" in parquet.schema_arrow.names else None


def _file_image_batches(parquet: pq.ParquetFile, path: str, batch_size: int) -> Iterator[pa.Array]:
    try:
        for batch in parquet.iter_batches(batch_size=batch_size, columns=["image"]):
            yield batch.column(0)
    except (pa.ArrowInvalid, OSError) as e:
        raise SpaVLError(f"{path}: reading failed ({str(e).splitlines()[0][:120]}): re-download it") from e


def image_batches(source: Source, config: str, split: str, batch_size: int = 512) -> Iterator[pa.Array]:
    """The ``image`` structs ``{bytes, path}`` of one split, in file order, one batch at a time.

    Parameters
    ----------
    source : Source
        The data source.
    config : str
        The config.
    split : str
        The split.
    batch_size : int, default 512
        Rows per batch.

    Yields
    ------
    pyarrow.StructArray, shape (<= batch_size,)
        The ``image`` column of consecutive rows (only the image column is read from each file).
        Nothing more is yielded once a file without an ``image`` column is met.

    Raises
    ------
    SpaVLError
        If a file lacks the config's required columns or cannot be read.
    """
    for path in split_files(source, config, split):
        parquet = _image_file(source, config, path)
        if parquet is None:
            return
        yield from _file_image_batches(parquet, path, batch_size)


def _payloads(images: pa.Array) -> list[bytes | None]:
    if not pa.types.is_struct(images.type) or images.type.get_field_index("bytes") < 0:
        return [None] * len(images)
    return images.field("bytes").to_pylist()


def image_table(
    source: str | os.PathLike | Source = "sample",
    configs: list[str] | None = None,
    *,
    hash_size: int = HASH_SIZE,
    n_jobs: int | None = None,
    batch_size: int = 512,
    progress: bool = False,
) -> pd.DataFrame:
    """One row per image of a source: content hash, perceptual hash and header properties.

    Parameters
    ----------
    source : str or os.PathLike or Source, default "sample"
        The sample, a mirror folder or a hub id.
    configs : list of str, optional
        Configs to read (default all).
    hash_size : int, default 8
        dhash side; the hash has ``hash_size²`` bits (8 → 64, stored as uint64).
    n_jobs : int, optional
        Worker processes for uncached images (default: every core; 1 = in this process; below
        2,000 rows there is no pool).
    batch_size : int, default 512
        Rows read per Parquet batch (bounds memory: one batch of bytes per worker in flight).
    progress : bool, default False
        Show a progress bar.

    Returns
    -------
    pandas.DataFrame, shape (n_images, 8)
        ``split`` (``config/split``), ``row`` (position in the split, the order of
        :func:`spa_vl.analysis.inputs.frames.labelled_frame`), ``sha256`` (hex; ``""`` without bytes), ``hash64``
        (uint64, the dhash), ``format`` (``"missing"`` without bytes, ``"unreadable"``),
        ``width``, ``height`` (-1 when unreadable or missing) and ``bytes`` (0 when a row has no bytes).

    Raises
    ------
    SpaVLError
        If ``hash_size²`` exceeds 64, or the source or one of its files cannot be read.
    """
    if hash_size * hash_size > 64:
        raise SpaVLError(f"hash_size {hash_size} gives {hash_size ** 2} bits: use at most 8 (64-bit hashes)")
    source = open_source(source)
    cache = _ContentCache.load(hash_size)
    n_jobs = n_jobs or os.cpu_count() or 1
    splits = available_splits(source, configs)
    total = sum(open_parquet(source, f).metadata.num_rows for c, s in splits for f in split_files(source, c, s))
    use_pool = n_jobs > 1 and total >= _POOL_FROM
    parts: list[pd.DataFrame] = []
    pool: ProcessPoolExecutor | None = None
    bar = progress_bar(total, "image hashes", "img", enabled=progress)  # erased when done inside a report stage

    def finish(key: str, start: int, digests: list, sizes: list, missing: list, results) -> None:
        if isinstance(results, list) and results and not isinstance(results[0], tuple):  # futures
            results = [r for future in results for r in future.result()]
        for digest, result in zip(missing, results):
            cache.entries[digest] = result
        cache.added += len(missing)
        rows = [cache.entries[d] if d is not None else ("missing", -1, -1, 0) for d in digests]
        parts.append(pd.DataFrame({
            "split": key,
            "row": np.arange(start, start + len(digests), dtype=np.int64),
            "sha256": [d.hex() if d is not None else "" for d in digests],
            "hash64": np.asarray([r[3] for r in rows], dtype=np.uint64),
            "format": [r[0] for r in rows],
            "width": np.asarray([r[1] for r in rows], dtype=np.int64),
            "height": np.asarray([r[2] for r in rows], dtype=np.int64),
            "bytes": np.asarray(sizes, dtype=np.int64),
        }))
        bar.update(len(digests))

    pending: list[tuple] = []  # batches in file order; at most three in flight (bounded memory)
    try:
        for config, split in splits:
            key, offset = split_key(config, split), 0
            for path in split_files(source, config, split):
                kept_path = _file_table_path(source, path, hash_size)
                kept = _read_file_table(kept_path)
                if kept is not None:  # this file's rows, hashed by an earlier run: no image byte is read
                    parts.append(kept.assign(split=key, row=np.arange(offset, offset + len(kept), dtype=np.int64)))
                    offset += len(kept)
                    bar.update(len(kept))
                    continue
                parquet = _image_file(source, config, path)
                if parquet is None:  # as image_batches: a file without images ends its split
                    break
                first_part = len(parts)
                for images in _file_image_batches(parquet, path, batch_size):
                    payloads = _payloads(images)
                    digests = [hashlib.sha256(b).digest() if b is not None else None for b in payloads]
                    sizes = [len(b) if b is not None else 0 for b in payloads]
                    todo: dict[bytes, bytes] = {}
                    for digest, data in zip(digests, payloads):
                        if digest is not None and data is not None and digest not in cache.entries and digest not in todo:
                            todo[digest] = data
                    # a content repeated in a batch still in flight is hashed twice at worst: same result
                    missing, blobs = list(todo), list(todo.values())
                    results: list  # futures of the worker pool, or the rows themselves
                    if use_pool and blobs:
                        pool = pool or ProcessPoolExecutor(n_jobs)
                        step = -(-len(blobs) // n_jobs)
                        results = [pool.submit(_describe_many, blobs[i:i + step], hash_size) for i in range(0, len(blobs), step)]
                    else:
                        results = _describe_many(blobs, hash_size)
                    pending.append((key, offset, digests, sizes, missing, results))
                    offset += len(payloads)
                    while len(pending) > 2:
                        finish(*pending.pop(0))
                while pending:
                    finish(*pending.pop(0))
                if len(parts) > first_part:
                    _write_file_table(kept_path, pd.concat(parts[first_part:], ignore_index=True))
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    cache.save()
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in _COLUMNS})
    return pd.concat(parts, ignore_index=True)[list(_COLUMNS)]


def fetch_images(source: str | os.PathLike | Source, wanted: Sequence[tuple[str, int]], batch_size: int = 512) -> dict[tuple[str, int], bytes]:
    """The bytes of a few rows ``(split key, row)``, streaming each split needed once (for figures).

    Parameters
    ----------
    source : str or os.PathLike or Source
        The sample, a mirror folder or a hub id.
    wanted : sequence of (str, int)
        ``(config/split key, row within the split)`` pairs.
    batch_size : int, default 512
        Rows read per Parquet batch; a split is read only up to its last wanted row.

    Returns
    -------
    dict of (str, int) to bytes
        The image bytes of each wanted row found (``None`` for a row without bytes); rows beyond a
        split's end, or of splits the source lacks, are absent.

    Raises
    ------
    SpaVLError
        If the source or a file cannot be read.
    """
    source = open_source(source)
    by_split: dict[str, set[int]] = {}
    for key, row in wanted:
        by_split.setdefault(key, set()).add(int(row))
    found: dict[tuple[str, int], bytes] = {}
    for config, split in available_splits(source):
        key = split_key(config, split)
        if key not in by_split:
            continue
        rows, offset = by_split[key], 0
        for images in image_batches(source, config, split, batch_size):
            hits = [r for r in rows if offset <= r < offset + len(images)]
            if hits:
                payloads = images.field("bytes")
                for r in hits:
                    found[(key, r)] = payloads[r - offset].as_py()
            offset += len(images)
            if offset > max(rows):
                break
    return found
