"""One interface for every export format of an ablation subset, and the registry of formats.

A format is one :class:`SubsetWriter` subclass in its own module (``writer_parquet``,
``writer_rlhf``, ``writer_trl``, ``writer_llamafactory``), registered under its name with
:func:`register`. The orchestrator (:mod:`spa_vl.analysis.writers.export`) streams the source once and drives
every writer through the same four steps:

1. :meth:`SubsetWriter.check` — refuse a subset the format cannot hold, before any work;
2. :meth:`SubsetWriter.add` — the subset's rows of one source shard (labelled, with ``row_id``);
3. :meth:`SubsetWriter.finish` — the remaining files, the eval rows, and a manifest section;
4. :meth:`SubsetWriter.located_files` / :meth:`SubsetWriter.instructions` — the files whose text
   holds the subset's absolute location, and the writer's part of ``TRAIN.md``. Both depend on the
   location and the manifest section only, so ``spa-vl ablate --relocate`` rewrites them after a
   move without re-reading the source.

Adding a format is one new module and one import line in :mod:`spa_vl.analysis.writers.export`; no writer knows
another. Shared helpers live here: ASCII-only JSON, integer training ids, and the image store
that writes each image file of a subset once for every format that needs files on disk.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

import datasets
import numpy as np
import pandas as pd
import pyarrow as pa
from PIL import Image, UnidentifiedImageError

from spa_vl.atomic import make_subfolder
from spa_vl.errors import SpaVLError
from spa_vl.labels import encode_view, label_batch
from spa_vl.taxonomy import LEVELS, LabelSpace

from ..subsets.sampling import Subset

#: name → writer class, filled by :func:`register` when a writer module is imported.
WRITERS: dict[str, type[SubsetWriter]] = {}
#: Folder of a subset that holds the image files (shared by the formats that need files).
IMAGES_DIR = "images"
#: Folder below :data:`IMAGES_DIR` for the eval rows' images.
EVAL_IMAGES_DIR = "eval"


def register(cls: type[SubsetWriter]) -> type[SubsetWriter]:
    """Class decorator: make ``cls`` available as ``--format cls.name``.

    Parameters
    ----------
    cls : type of SubsetWriter
        A writer class with a unique ``name``.

    Returns
    -------
    type of SubsetWriter
        ``cls`` itself.

    Raises
    ------
    ValueError
        If another class is registered under ``cls.name``.
    """
    if cls.name in WRITERS and WRITERS[cls.name] is not cls:
        raise ValueError(f"two writers named {cls.name!r}: {WRITERS[cls.name].__name__} and {cls.__name__}")
    WRITERS[cls.name] = cls
    return cls


def writer_classes(formats: list[str] | tuple[str, ...]) -> list[type[SubsetWriter]]:
    """The writer classes of ``formats``, in the given order (duplicates dropped).

    Parameters
    ----------
    formats : list or tuple of str
        Format names (:data:`WRITERS` keys).

    Returns
    -------
    list of type of SubsetWriter
        One class per distinct name, in first-seen order.

    Raises
    ------
    SpaVLError
        On an empty list or a name no writer is registered under.
    """
    unknown = sorted({f for f in formats if f not in WRITERS})
    if unknown or not formats:
        raise SpaVLError(f"unknown export format(s) {unknown or list(formats)}: choose from {', '.join(WRITERS)}")
    return [WRITERS[f] for f in dict.fromkeys(formats)]


def label_rows(table: pa.Table, meta: Any) -> pa.Table:
    """The labelled view of a source table (the loader's one labelling function).

    Its columns with labels as strings (null = unknown).

    Parameters
    ----------
    table : pyarrow.Table, shape (n, ...)
        Rows of a source shard, any columns of a SPA-VL Parquet file.
    meta : MetaIndex
        The source's meta index (:func:`~spa_vl.meta.read_meta_index`).

    Returns
    -------
    pyarrow.Table, shape (n, ...)
        :func:`~spa_vl.labels.label_batch` with the model columns: the table's columns other than
        labels, then ``class1``, ``class2``, ``class3``, ``question_type``, ``chosen_model``,
        ``rejected_model`` and ``_item``; labels are strings, null where unknown.
    """
    return label_batch(table, meta)


def encode_rows(table: pa.Table, space: LabelSpace) -> pa.Table:
    """``table`` with its string label columns replaced by ClassLabel ids of ``space`` (-1 unknown).

    Parameters
    ----------
    table : pyarrow.Table, shape (n, ...)
        A labelled view (:func:`label_rows`).
    space : LabelSpace
        The label names to encode against.

    Returns
    -------
    pyarrow.Table, shape (n, ...)
        The same columns in the same order; the label columns present are int64 ids.
    """
    return encode_view(table, space)


def present_features(features: datasets.Features, columns: list[str]) -> datasets.Features:
    """``features`` restricted to ``columns`` (in the features' order).

    Labelled views may lack optional columns (response models) that the typed features declare.

    Parameters
    ----------
    features : datasets.Features
        Typed features (e.g. :attr:`SubsetContext.features`).
    columns : list of str
        The columns a table has.

    Returns
    -------
    datasets.Features
        The features whose name is in ``columns``.
    """
    return datasets.Features({name: feature for name, feature in features.items() if name in columns})


def dumps_json(value: Any) -> str:
    r"""JSON text that any locale can read: ASCII only (``\uXXXX`` escapes), one item per line.

    Parameters
    ----------
    value : object
        JSON-able data; NumPy scalars are written as Python numbers.

    Returns
    -------
    str
        Indented JSON (indent 1) ending in a newline.

    Raises
    ------
    TypeError
        If ``value`` holds something neither JSON nor a NumPy scalar.
    """
    return json.dumps(value, ensure_ascii=True, indent=1, default=_json_default) + "\n"


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def training_ids(row_ids: list[str] | pd.Series) -> np.ndarray:
    """Integer ids for training code that needs ``torch.long`` ids: one per row, stable, in int64.

    Each id is a keyed 64-bit hash of the row's content id (``row_id``, suffix included) with the
    top bit cleared, so ``0 <= id < 2**63``: the same row gets the same id in every subset and run.

    Parameters
    ----------
    row_ids : list of str or pandas.Series, shape (n,)
        Content ids (:func:`spa_vl.analysis.subsets.ablation.row_ids`).

    Returns
    -------
    numpy.ndarray of int64, shape (n,)

    Raises
    ------
    SpaVLError
        If two different row ids map to one integer (about one chance in 10**10 at 100k rows).
    """
    series = pd.Series(list(row_ids), dtype=object)
    hashed = pd.util.hash_pandas_object(series, index=False).to_numpy()
    ids = (hashed >> np.uint64(1)).astype(np.int64)
    unique, first, counts = np.unique(ids, return_index=True, return_counts=True)
    if (counts > 1).any():
        clash = unique[counts > 1][0]
        names = series[ids == clash].tolist()
        raise SpaVLError(f"rows {names[0]} and {names[1]} map to one training id {clash}: export them in separate subsets")
    return ids


def unreadable_images(rows: pa.Table) -> np.ndarray:
    """Which rows' image bytes are not an image Pillow can identify and verify (null bytes included).

    Parameters
    ----------
    rows : pyarrow.Table, shape (n, ...)
        Rows with an ``image`` column (struct of ``bytes`` and ``path``, as in SPA-VL's Parquet).

    Returns
    -------
    numpy.ndarray of bool, shape (n,)
        True where the bytes are missing or unreadable.
    """
    data = rows.column("image").combine_chunks().field("bytes").to_pylist()
    return np.array([not _readable(b) for b in data], dtype=bool)


def _readable(data: bytes | None) -> bool:
    if not data:
        return False
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()  # headers and structure, without decoding every pixel
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return False
    return True


@dataclass
class ImageStore:
    """Writes each image of a subset once under ``<subset>/images/`` and names it for every writer.

    Train images go to ``<class1>/<class2>/<class3>/<file name>`` (the layout the SPA-VL-RLHF
    README shows) when the labels are known, else ``unknown/<row_id><suffix>``; eval images go below
    ``eval/``. Only a digest per path is kept in memory, never the bytes.

    Attributes
    ----------
    folder : Path
        The subset folder; files go below ``folder / "images"``.
    """

    folder: Path
    _paths: dict[str, str] = field(default_factory=dict)  # row key → relative path
    _digests: dict[str, bytes] = field(default_factory=dict)  # relative path → blake2b digest

    def paths(self, rows: pa.Table, *, eval_rows: bool = False) -> list[str]:
        """Relative paths (below ``images/``) of the images of ``rows``, writing new ones.

        Parameters
        ----------
        rows : pyarrow.Table
            Labelled rows with ``row_id``, ``image`` and the class columns (``image_name`` optional).
        eval_rows : bool
            Whether the rows are eval rows (their files go below ``eval/``).

        Returns
        -------
        list of str, length n
            One POSIX path per row, relative to ``images/``; a row seen before keeps its path.
        """
        prefix = f"{EVAL_IMAGES_DIR}/" if eval_rows else ""
        columns = ["row_id", *LEVELS] + (["image_name"] if "image_name" in rows.column_names else [])
        texts = rows.select(columns).to_pydict()
        images = rows.column("image").combine_chunks().field("bytes").to_pylist()
        names = texts.get("image_name") or [None] * rows.num_rows
        out = []
        for i, data in enumerate(images):
            row_id = texts["row_id"][i]
            key = prefix + row_id
            if key not in self._paths:
                self._paths[key] = self._store(prefix, row_id, names[i], [texts[level][i] for level in LEVELS], data or b"")
            out.append(self._paths[key])
        return out

    def _store(self, prefix: str, row_id: str, image_name: str | None, levels: list, data: bytes) -> str:
        name = PurePosixPath(str(image_name or "").replace("\\", "/")).name
        suffix = PurePosixPath(name).suffix or ".jpg"
        if not name or prefix:
            name = f"{row_id}{suffix}"
        path = prefix + ("/".join([*levels, name]) if all(levels) else f"unknown/{row_id}{suffix}")
        digest = hashlib.blake2b(data, digest_size=16).digest()
        if self._digests.get(path, digest) != digest:  # two different images under one name
            path = f"{prefix}unknown/{row_id}{suffix}"
        if path not in self._digests:
            self._digests[path] = digest
            target = self.folder / IMAGES_DIR / path
            make_subfolder(self.folder, target.parent.relative_to(self.folder))  # never recreates a vanished temp folder
            target.write_bytes(data)
        return path


@dataclass
class SubsetContext:
    """What every writer of one subset shares.

    Attributes
    ----------
    subset : Subset
        Which rows (ids) and how they were drawn.
    rows : pandas.DataFrame, shape (n, ...)
        The subset's pool rows (:meth:`Subset.rows_in`), in source order: ``row_id``, ``file``,
        ``position`` and the labels.
    folder : Path
        The temp folder the subset is built in (renamed into place when every writer is done).
    location : Path
        The absolute final folder: what absolute paths in the files must name.
    features : datasets.Features
        The typed train features plus ``row_id`` (the Parquet format's schema).
    space : LabelSpace
        Label names of the source (ClassLabel ids).
    seed : int or None
        The recipe's seed (recorded in cards).
    images : ImageStore
        The subset's shared image files.
    strict : bool
        Refuse rows a format cannot hold (instead of leaving them out with a warning).
    """

    subset: Subset
    rows: pd.DataFrame
    folder: Path
    location: Path
    features: datasets.Features
    space: LabelSpace
    seed: int | None
    images: ImageStore
    strict: bool = False


class SubsetWriter:
    """One export format of one subset (see the module docstring for the protocol).

    Parameters
    ----------
    context : SubsetContext
        What the subset's writers share (kept as ``self.context``).

    Class attributes
    ----------------
    name : str
        The format's name on the command line (``--format``) and in the manifest.
    description : str
        One line for ``--help`` and the manifest.
    needs_eval : bool
        Whether :meth:`finish` wants the eval rows (held-out rows for the trainer's eval set).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    needs_eval: ClassVar[bool] = False

    def __init__(self, context: SubsetContext):
        self.context = context

    @classmethod
    def check(cls, subset: Subset, rows: pd.DataFrame) -> None:
        """Raise :class:`SpaVLError` if this format cannot hold ``subset`` (called before any work).

        Parameters
        ----------
        subset : Subset
            The subset (its name for messages).
        rows : pandas.DataFrame, shape (n, ...)
            The subset's pool rows (labels, ``file``, ``position``).

        Raises
        ------
        SpaVLError
            If the format cannot hold the subset; the default accepts every subset.
        """

    def add(self, file_index: int, rows: pa.Table) -> None:
        """Take the subset's rows of source shard ``file_index``.

        Called once per shard that holds subset rows, in shard order.

        Parameters
        ----------
        file_index : int
            Index of the source shard in the train split's files.
        rows : pyarrow.Table, shape (k, ...)
            The subset's rows of that shard: a labelled view (:func:`label_rows`; labels as
            strings, null = unknown) with ``row_id``, in source order.
        """
        raise NotImplementedError

    def finish(self, eval_rows: pa.Table | None) -> dict[str, Any]:
        """Write the remaining files; return this format's manifest section (JSON-able).

        Parameters
        ----------
        eval_rows : pyarrow.Table or None
            Held-out eval rows (same columns as :meth:`add`'s rows), given when :attr:`needs_eval`;
            None otherwise.

        Returns
        -------
        dict of str to object
            The format's manifest section, also what :meth:`located_files` and
            :meth:`instructions` receive.
        """
        raise NotImplementedError

    @classmethod
    def located_files(cls, location: Path, section: dict[str, Any]) -> dict[str, str]:
        """Files (relative path → text) whose content names ``location``; none by default.

        Parameters
        ----------
        location : Path
            The subset folder's absolute location.
        section : dict of str to object
            The format's manifest section (:meth:`finish`).

        Returns
        -------
        dict of str to str
            Path relative to the subset folder → the file's text.
        """
        return {}

    @classmethod
    def instructions(cls, location: Path, section: dict[str, Any]) -> str:
        """The format's Markdown section of ``TRAIN.md`` (may name ``location``).

        Parameters
        ----------
        location : Path
            The subset folder's absolute location.
        section : dict of str to object
            The format's manifest section (:meth:`finish`).

        Returns
        -------
        str
            Markdown; empty by default (no section).
        """
        return ""
