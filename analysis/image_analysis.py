"""Image analyses: exact and perceptual duplicates, image properties, and image_info's OCR/caption fields.

Images are streamed from the Parquet files one record batch of the ``image`` column at a time
(never all in memory). Each distinct content (sha256 of the bytes) is opened once: PIL reads the
header for format and size, then decodes a reduced-scale grey draft (JPEG's DCT scaling, 1/2 to 1/8
of the size, no full decode) for the perceptual hash. Results are cached on disk by content, so a
second run and images repeated across splits cost one sha256 each.

Perceptual hash: ``imagehash.dhash`` with ``hash_size=8`` (64 bits: is each pixel of a 9×8 grey
thumbnail brighter than its right neighbour). Two images with different bytes are *near-duplicates*
when the Hamming distance of their hashes is at most :data:`NEAR_THRESHOLD` = 8 of 64 bits.
Measured on seeded photo-like 256-px images: resized and re-encoded copies land at 0-2 bits, copies
cropped by 2.3 % per side at most 7, unrelated images at 14 or more (mean 32). dhash was chosen over
phash because phash moved 12-18 bits under the same slight crops.
"""

from __future__ import annotations

import hashlib
import io
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
from tqdm.auto import tqdm

from spa_vl.atomic import atomic_write
from spa_vl.cache import cache_root
from spa_vl.errors import SpaVLError
from spa_vl.layout import split_key
from spa_vl.opening import open_source
from spa_vl.sources import Source
from spa_vl.tables import available_splits, check_schema, open_parquet, split_files

HASH_SIZE = 8
NEAR_THRESHOLD = 8
#: Draft size asked of PIL: JPEG decodes at the smallest 1/k scale still at least this large.
DRAFT_PX = 64
TRAIN = "train/train"
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
        parquet = open_parquet(source, path)
        check_schema(parquet.schema_arrow, config, path)
        if "image" not in parquet.schema_arrow.names:
            return
        try:
            for batch in parquet.iter_batches(batch_size=batch_size, columns=["image"]):
                yield batch.column(0)
        except (pa.ArrowInvalid, OSError) as e:
            raise SpaVLError(f"{path}: reading failed ({str(e).splitlines()[0][:120]}): re-download it") from e


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
        :func:`analysis.frames.labelled_frame`), ``sha256`` (hex; ``""`` without bytes), ``hash64``
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
    bar = tqdm(total=total, desc="image hashes", unit="img", disable=not progress)

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
            for images in image_batches(source, config, split, batch_size):
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
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    cache.save()
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in _COLUMNS})
    return pd.concat(parts, ignore_index=True)[list(_COLUMNS)]


# --- duplicates ----------------------------------------------------------------------------------

@dataclass
class Duplicates:
    """Exact and near-duplicate images within the reference split and between it and each other split.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per (scope, kind): ``scope`` (``train/train`` or
        ``train/train ↔ eval/harm``...), ``kind`` (``exact``: same sha256; ``near``: different bytes,
        dhash Hamming distance <= threshold), ``rows`` (rows of the scope's split), ``duplicated_rows``
        (rows with a duplicate: within the reference, rows sharing it with another reference row;
        between splits, rows of the other split matching a reference row), ``share``
        (duplicated_rows / rows), ``images`` (distinct contents among the rows; SPA-VL asks several
        questions about one image, so train rows repeat images by design), ``duplicated_images``
        (those contents with a duplicate: exact, a content in two or more reference rows; near, a
        content within the threshold of another), ``image share`` and ``pairs`` (pairs of distinct
        contents; for exact within the reference, pairs of rows).
    examples : pandas.DataFrame
        Up to ``max_examples`` pairs per (scope, kind), closest first: ``scope``, ``kind``,
        ``split_a``, ``row_a``, ``split_b``, ``row_b``, ``distance``.
    threshold : int
        Largest Hamming distance of a near-duplicate pair.
    hash : str
        The perceptual hash used.
    """

    summary: pd.DataFrame
    examples: pd.DataFrame
    threshold: int
    hash: str = f"imagehash.dhash, {HASH_SIZE * HASH_SIZE} bits"


def _usable(images: pd.DataFrame) -> pd.DataFrame:
    return images[~images["format"].isin(["unreadable", "missing"]) & (images["sha256"] != "")]


def _near_pairs(a: np.ndarray, b: np.ndarray | None, threshold: int, keep: int, chunk: int = 256):
    """Pairs (i, j) with popcount(a[i] ^ b[j]) <= threshold (``b=None``: within ``a``, i < j).

    Parameters
    ----------
    a : uint64 array of shape (n,); b : uint64 array of shape (m,) or None.

    Returns
    -------
    has_a : bool (n,), has_b : bool (m,) (or (n,) within a), n_pairs : int,
    closest : int array (k, 3) of (i, j, distance), the ``keep`` closest pairs (ties by i, j).
    """
    within = b is None
    other: np.ndarray = a if b is None else b
    has_a, has_b = np.zeros(len(a), dtype=np.bool_), np.zeros(len(other), dtype=np.bool_)
    n_pairs, best = 0, np.zeros((0, 3), np.int64)
    for start in range(0, len(a), chunk):
        block = a[start:start + chunk]
        # within a: compare the block with itself and everything after it only
        lo = start if within else 0
        dist = np.bitwise_count(block[:, None] ^ other[None, lo:])
        hit = dist <= threshold
        if within:
            hit &= np.arange(lo, len(other))[None, :] > np.arange(start, start + len(block))[:, None]
        if not hit.any():
            continue
        i, j = np.nonzero(hit)
        n_pairs += len(i)
        has_a[start + i] = True
        has_b[lo + j] = True
        found = np.column_stack([start + i, lo + j, dist[i, j]]).astype(np.int64)
        merged = np.concatenate([best, found])
        best = merged[np.lexsort((merged[:, 1], merged[:, 0], merged[:, 2]))][:keep]
    if within:
        has_a |= has_b
    return has_a, has_b, n_pairs, best


def find_duplicates(
    images: pd.DataFrame,
    reference: str = TRAIN,
    others: Sequence[str] | None = None,
    threshold: int = NEAR_THRESHOLD,
    max_examples: int = 6,
) -> Duplicates:
    """Exact (sha256) and near (dhash) duplicates within ``reference`` and between it and ``others``.

    Memory is O(chunk · n_contents) (a 256-row block of distances at a time), time O(n_contents²).

    Parameters
    ----------
    images : pandas.DataFrame, n_images rows
        The frame of :func:`image_table`; unreadable and missing images are left out.
    reference : str, default "train/train"
        Split key compared with itself and with every other split.
    others : sequence of str, optional
        Split keys compared with the reference (default every other split in ``images``).
    threshold : int, default 8
        Largest Hamming distance (bits of 64) of a near-duplicate pair.
    max_examples : int, default 6
        Example pairs kept per (scope, kind).

    Returns
    -------
    Duplicates
        The summary (columns ``scope``, ``kind``, ``rows``, ``duplicated_rows``, ``share``,
        ``images``, ``duplicated_images``, ``image share``, ``pairs``), the example pairs and the
        threshold.
    """
    images = _usable(images)
    others = [s for s in (others if others is not None else dict.fromkeys(images["split"])) if s != reference]
    ref = images[images["split"] == reference]
    ref_contents = ref.drop_duplicates("sha256")
    ref_hashes = ref_contents["hash64"].to_numpy(np.uint64)
    summary, examples = [], []

    def example(scope: str, kind: str, a: pd.Series, b: pd.Series, distance: int) -> None:
        examples.append({"scope": scope, "kind": kind, "split_a": a["split"], "row_a": int(a["row"]),
                         "split_b": b["split"], "row_b": int(b["row"]), "distance": int(distance)})

    # within the reference: exact
    counts = ref["sha256"].map(ref["sha256"].value_counts())
    repeated = ref[counts.to_numpy() > 1]
    per_content = ref["sha256"].value_counts()
    summary.append({"scope": reference, "kind": "exact", "rows": len(ref), "duplicated_rows": len(repeated), "images": len(per_content),
                    "duplicated_images": int((per_content > 1).sum()), "pairs": int((per_content * (per_content - 1) // 2).sum())})
    for _, group in list(repeated.groupby("sha256", sort=False))[:max_examples]:
        example(reference, "exact", group.iloc[0], group.iloc[1], 0)
    # within the reference: near (distinct contents only)
    has, _, n_pairs, best = _near_pairs(ref_hashes, None, threshold, max_examples)
    near_rows = ref["sha256"].isin(ref_contents["sha256"][has])
    summary.append({"scope": reference, "kind": "near", "rows": len(ref), "duplicated_rows": int(near_rows.sum()), "images": len(ref_contents),
                    "duplicated_images": int(has.sum()), "pairs": n_pairs})
    for i, j, d in best:
        example(reference, "near", ref_contents.iloc[i], ref_contents.iloc[j], d)

    ref_rows_by_sha = ref_contents.set_index("sha256", drop=False)
    for other in others:
        rows = images[images["split"] == other]
        scope = f"{reference} ↔ {other}"
        exact = rows["sha256"].isin(ref_rows_by_sha.index)
        n_images = rows["sha256"].nunique()
        matched = int(rows.loc[exact, "sha256"].nunique())
        summary.append({"scope": scope, "kind": "exact", "rows": len(rows), "duplicated_rows": int(exact.sum()), "images": n_images,
                        "duplicated_images": matched, "pairs": matched})
        for _, row in rows[exact].head(max_examples).iterrows():
            example(scope, "exact", ref_rows_by_sha.loc[row["sha256"]], row, 0)
        contents = rows.drop_duplicates("sha256")
        contents = contents[~contents["sha256"].isin(ref_rows_by_sha.index)]  # exact matches are not "near"
        _, has_other, n_pairs, best = _near_pairs(ref_hashes, contents["hash64"].to_numpy(np.uint64), threshold, max_examples)
        near = rows["sha256"].isin(contents["sha256"][has_other])
        summary.append({"scope": scope, "kind": "near", "rows": len(rows), "duplicated_rows": int(near.sum()), "images": n_images,
                        "duplicated_images": int(has_other.sum()), "pairs": n_pairs})
        for i, j, d in best:
            example(scope, "near", ref_contents.iloc[i], contents.iloc[j], d)
    table = pd.DataFrame(summary)
    table["share"] = table["duplicated_rows"] / table["rows"].where(table["rows"] > 0)
    table["image share"] = table["duplicated_images"] / table["images"].where(table["images"] > 0)
    columns = ["scope", "kind", "split_a", "row_a", "split_b", "row_b", "distance"]
    ordered = ["scope", "kind", "rows", "duplicated_rows", "share", "images", "duplicated_images", "image share", "pairs"]
    return Duplicates(table[ordered], pd.DataFrame(examples, columns=columns), threshold)


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


# --- properties and image_info -------------------------------------------------------------------

def image_properties(images: pd.DataFrame) -> pd.DataFrame:
    """Per split: rows, unreadable rows, format shares, width/height/bytes quantiles.

    Parameters
    ----------
    images : pandas.DataFrame
        The frame of :func:`image_table`.

    Returns
    -------
    pandas.DataFrame, one row per split
        Indexed by split, with columns ``rows``, ``unreadable``, ``format: X`` (share of each
        format), ``width p50``, ``height p50``, ``width min``/``max``, ``height min``/``max``,
        ``bytes mean``, ``bytes p50``. Sizes and formats count readable rows only; empty when
        ``images`` is.
    """
    if images.empty:
        return pd.DataFrame()
    readable = images[images["width"] >= 0]
    grouped = readable.groupby("split", sort=False)
    table = pd.DataFrame({"rows": images.groupby("split", sort=False).size()})
    table["unreadable"] = images.groupby("split", sort=False)["width"].apply(lambda w: int((w < 0).sum()))
    formats = pd.crosstab(readable["split"], readable["format"], normalize="index").add_prefix("format: ")
    table = table.join(formats)
    for column in ("width", "height"):
        table[f"{column} min"] = grouped[column].min()
        table[f"{column} p50"] = grouped[column].median()
        table[f"{column} max"] = grouped[column].max()
    table["bytes mean"] = grouped["bytes"].mean()
    table["bytes p50"] = grouped["bytes"].median()
    return table


def size_agreement(images: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame | None:
    """Compare header sizes with image_info's ``width``/``height`` columns of ``frame`` (train rows).

    ``frame`` is :func:`analysis.frames.labelled_frame`'s (rows of each split in file order, as in
    ``images``). Returns None when ``frame`` has no usable width/height.

    Parameters
    ----------
    images : pandas.DataFrame
        The frame of :func:`image_table`.
    frame : pandas.DataFrame
        A labelled frame read with ``image_info=("width", "height")``.

    Returns
    -------
    pandas.DataFrame or None
        Indexed by split: ``rows with image_info`` (both sizes known), ``agree``, ``disagree``,
        ``share disagree``.
    """
    if not {"width", "height"} <= set(frame.columns):
        return None
    sizes = frame[["split", "width", "height"]].copy()
    sizes["row"] = sizes.groupby("split", sort=False).cumcount()
    sizes[["width", "height"]] = sizes[["width", "height"]].apply(pd.to_numeric, errors="coerce")
    sizes = sizes.dropna(subset=["width", "height"])
    if sizes.empty:
        return None
    joined = sizes.merge(images[["split", "row", "width", "height"]], on=["split", "row"], suffixes=(" info", " header"))
    joined = joined[joined["width header"] >= 0]
    differs = (joined["width info"] != joined["width header"]) | (joined["height info"] != joined["height header"])
    table = joined.assign(differs=differs).groupby("split", sort=False)["differs"].agg(["size", "sum"])
    table.columns = ["rows with image_info", "disagree"]
    table.insert(1, "agree", table["rows with image_info"] - table["disagree"])
    table["share disagree"] = table["disagree"] / table["rows with image_info"]
    return table


IMAGE_INFO_FIELDS = ("text_similarity", "text_count")


def image_info_stats(frame: pd.DataFrame, by: str) -> pd.DataFrame | None:
    """Distribution of image_info's ``text_similarity`` (image–caption) and ``text_count`` (OCR elements) per group.

    Parameters
    ----------
    frame : pandas.DataFrame
        A labelled frame read with ``image_info=("text_similarity", "text_count")``.
    by : str
        The column to group by (e.g. ``class1`` or ``split``).

    Returns
    -------
    pandas.DataFrame or None
        Indexed by (``by`` value, field) with ``count``, ``mean``, ``std``, ``min``, ``25%``,
        ``50%``, ``75%``, ``max`` and, for text_count, ``share > 0`` (images carrying any OCR text);
        None when ``frame`` has neither field or only missing values.
    """
    present = [f for f in IMAGE_INFO_FIELDS if f in frame.columns and pd.to_numeric(frame[f], errors="coerce").notna().any()]
    if not present:
        return None
    parts = []
    for name in present:
        values = pd.to_numeric(frame[name], errors="coerce")
        rows = frame.assign(**{name: values}).dropna(subset=[name])
        stats = rows.groupby(by)[name].describe()
        if name == "text_count":
            stats["share > 0"] = rows.groupby(by)[name].apply(lambda v: float((v > 0).mean()))
        stats["field"] = name
        parts.append(stats.reset_index().set_index([by, "field"]))
    return pd.concat(parts).sort_index()


NO_IMAGE_INFO = "no image_info: the source's frame has no text_similarity / text_count (meta_files/image_info/meta.json)"
