"""Image metrics: exact and perceptual duplicates, image properties, and image_info's OCR/caption fields.

They take the per-row table that :func:`spa_vl.analysis.inputs.images.image_table` reads
(sha256, perceptual hash, format and size of every row's image) and return frames.

Perceptual hash: ``imagehash.dhash`` with ``hash_size=8`` (64 bits: is each pixel of a 9×8 grey
thumbnail brighter than its right neighbour). Two images with different bytes are *near-duplicates*
when the Hamming distance of their hashes is at most :data:`NEAR_THRESHOLD` = 8 of 64 bits.
Measured on seeded photo-like 256-px images: resized and re-encoded copies land at 0-2 bits, copies
cropped by 2.3 % per side at most 7, unrelated images at 14 or more (mean 32). dhash was chosen over
phash because phash moved 12-18 bits under the same slight crops.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .distributions import known_labels

HASH_SIZE = 8
NEAR_THRESHOLD = 8
IMAGE_NAME = "image_name"
TRAIN = "train/train"


# --- duplicates ----------------------------------------------------------------------------------

@dataclass
class Duplicates:
    """Exact and near-duplicate images within the reference split and between it and each other split.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per (scope, kind): ``scope`` (``train/train`` or
        ``train/train ↔ eval/harm``...), ``kind`` (``reuse``: within the reference, one
        ``image_name`` in several rows — SPA-VL asks three questions about each image, by design;
        ``exact``: same sha256, within the reference under *different* image names when names are
        known; ``near``: different bytes, dhash Hamming distance <= threshold), ``rows`` (rows of
        the scope's split), ``duplicated_rows`` (rows concerned: for reuse, rows whose name is in
        another row; within the reference, rows whose content has a duplicate; between splits, rows
        of the other split matching a reference row), ``share`` (duplicated_rows / rows), ``images``
        (distinct names for reuse, else distinct contents), ``duplicated_images`` (names in two or
        more rows; contents under two or more names (rows without names); contents within the
        threshold of another), ``image share`` and ``pairs`` (pairs of rows sharing a name; pairs
        of names sharing bytes; pairs of distinct contents).
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


def with_image_names(images: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """``images`` with the ``image_name`` of each row from a labelled frame of the same source.

    Both tables hold the rows of each split in file order (:func:`spa_vl.analysis.inputs.frames.labelled_frame`
    and :func:`spa_vl.analysis.inputs.images.image_table` read the same files), so ``(split, row)`` is the key.

    Parameters
    ----------
    images : pandas.DataFrame
        The frame of :func:`image_table`.
    frame : pandas.DataFrame
        A labelled frame with ``split`` and ``image_name`` (null outside train).

    Returns
    -------
    pandas.DataFrame
        ``images`` with an ``image_name`` column (null where the frame has none).
    """
    if IMAGE_NAME not in frame.columns:
        return images
    names = frame[["split", IMAGE_NAME]].assign(row=frame.groupby("split", sort=False).cumcount())
    return images.merge(names, on=["split", "row"], how="left")


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
        The frame of :func:`image_table`, optionally with an ``image_name`` column (then reuse of
        one name is told apart from the same bytes under two names); unreadable and missing
        images are left out.
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

    # within the reference: one image_name in several rows is reuse by design (SPA-VL asks three
    # questions about each image); the same bytes under different names are the duplicates that matter
    named = IMAGE_NAME in ref.columns and ref[IMAGE_NAME].notna().all()
    if named:
        per_name = ref[IMAGE_NAME].value_counts()
        summary.append({"scope": reference, "kind": "reuse", "rows": len(ref),
                        "duplicated_rows": int(ref[IMAGE_NAME].map(per_name).gt(1).sum()), "images": len(per_name),
                        "duplicated_images": int((per_name > 1).sum()), "pairs": int((per_name * (per_name - 1) // 2).sum())})
    units = ref.drop_duplicates(IMAGE_NAME) if named else ref  # one row per name, or every row without names
    per_content = units["sha256"].value_counts()
    repeated = units[units["sha256"].map(per_content).to_numpy() > 1]
    summary.append({"scope": reference, "kind": "exact", "rows": len(ref),
                    "duplicated_rows": int(ref["sha256"].isin(repeated["sha256"]).sum()), "images": int(ref["sha256"].nunique()),
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

    ``frame`` is :func:`spa_vl.analysis.inputs.frames.labelled_frame`'s (rows of each split in file order, as in
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
    frame = known_labels(frame, by)  # unknown is never a group
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
