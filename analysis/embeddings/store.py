"""An embedding store: every distinct text of a source embedded once, in Parquet, reused by every analysis.

A store is a folder (local or any fsspec URL) holding

* ``part-<digest>.parquet`` files with two columns: ``text_sha256`` (hex SHA-256 of the UTF-8 text
  exactly as in the data; a null text is the empty string, as :class:`~.encoder.Encoder` encodes it)
  and ``embedding`` (``fixed_size_list<float32>[dim]``, L2-normalised);
* ``manifest.json``: the model (name, revision = fingerprint of its files, max length and backend),
  dimension, normalisation, fields embedded, the sources (label and fingerprint) and the spa-vl version.

Parts are content-named and written to a hidden temp name, then renamed: a killed run leaves only
complete parts, and a rerun embeds only the texts no part holds. One writer at a time holds the
store's lock (:func:`spa_vl.atomic.output_lock`); a second fails at once with a clear line.

Engines that fill a store live in :mod:`.engines` (local process, Ray Data); an
:class:`~.encoder.Encoder` given ``store=`` reads its vectors from here and encodes only what is missing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from spa_vl.errors import UsageError

MANIFEST = "manifest.json"
KEY_COLUMN = "text_sha256"
VECTOR_COLUMN = "embedding"
FORMAT_VERSION = 1
_PART_PREFIX = "part-"


def hex_keys(texts: Sequence[str | None]) -> pa.Array:
    """Hex SHA-256 of each text's UTF-8 bytes (None hashes as the empty string).

    Parameters
    ----------
    texts : sequence of str or None, length n
        The texts, exactly as in the data.

    Returns
    -------
    pyarrow.StringArray, length n
        64 hex characters per text.
    """
    return pa.array([hashlib.sha256((t or "").encode("utf-8")).hexdigest() for t in texts], pa.string())


def digest_keys(hex_digests: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Hex digests as the 32-byte keys :func:`~.encoder.text_keys` gives.

    Parameters
    ----------
    hex_digests : pyarrow string array, length n
        64 hex characters each.

    Returns
    -------
    numpy.ndarray of dtype S32, shape (n,)
        The raw digests.
    """
    if isinstance(hex_digests, pa.ChunkedArray):
        hex_digests = hex_digests.combine_chunks()
    if len(hex_digests) == 0:
        return np.zeros(0, dtype="S32")
    return np.frombuffer(bytes.fromhex("".join(hex_digests.to_pylist())), dtype="S32")


def vector_table(keys: pa.Array, vectors: np.ndarray) -> pa.Table:
    """A store part: ``text_sha256`` and ``embedding`` (fixed-size float32 lists).

    Parameters
    ----------
    keys : pyarrow string array, length n
        Hex digests (:func:`hex_keys`).
    vectors : numpy.ndarray of float, shape (n, dim)
        One vector per key.

    Returns
    -------
    pyarrow.Table
        n rows, the two store columns.
    """
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    flat = pa.array(vectors.reshape(-1), pa.float32())
    return pa.table({KEY_COLUMN: keys, VECTOR_COLUMN: pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1])})


class StoreError(UsageError):
    """A store that cannot be used as asked: another model, a corrupt part, an unreadable manifest."""


class EmbeddingStore:
    """A folder of embedding parts plus its manifest (see the module docstring).

    Parameters
    ----------
    path : str or os.PathLike
        A local folder or an fsspec URL (``s3://bucket/store``, ``gs://...``, ``memory://...``).

    Attributes
    ----------
    path : str
        As given (for messages).
    manifest : dict
        The manifest (empty for a store not written yet).
    """

    def __init__(self, path: str | os.PathLike):
        import fsspec

        self.path = os.fspath(path)
        self.fs, self.root = fsspec.core.url_to_fs(self.path)
        self.manifest: dict[str, Any] = self._read_manifest()
        self._keys: np.ndarray | None = None
        self._index: pd.Index | None = None
        self._vectors: np.ndarray | None = None

    @property
    def is_local(self) -> bool:
        """Whether the store is a folder on this machine."""
        return "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,))

    def _read_manifest(self) -> dict[str, Any]:
        where = f"{self.root}/{MANIFEST}"
        if not self.fs.exists(where):
            return {}
        try:
            with self.fs.open(where, "rb") as f:
                manifest = json.loads(f.read())
        except (OSError, ValueError) as e:
            raise StoreError(f"{self.path}/{MANIFEST}: unreadable embedding store manifest ({e}): remove the store folder and run spa-vl embed again") from e
        if manifest.get("format") != FORMAT_VERSION:
            raise StoreError(f"{self.path}: embedding store format {manifest.get('format')!r}, this spa-vl reads {FORMAT_VERSION}: run spa-vl embed into a new folder")
        return manifest

    def parts(self) -> list[str]:
        """Full paths of the store's Parquet parts, sorted (temp files are hidden and left out).

        Returns
        -------
        list of str
            ``<root>/part-*.parquet``.
        """
        if not self.fs.isdir(self.root):
            return []
        names = [p for p in self.fs.ls(self.root, detail=False) if p.rsplit("/", 1)[-1].startswith(_PART_PREFIX) and p.endswith(".parquet")]
        return sorted(names)

    def _load(self) -> None:
        if self._index is not None:
            return
        tables = []
        for part in self.parts():
            try:
                with self.fs.open(part, "rb") as f:
                    tables.append(pq.read_table(f, columns=[KEY_COLUMN, VECTOR_COLUMN]))
            except (OSError, pa.ArrowException) as e:
                raise StoreError(f"{part}: unreadable embedding store part ({e}): delete that file and run spa-vl embed again (it embeds only its texts)") from e
        dim = int(self.manifest.get("dimension") or 0)
        if tables:
            table = pa.concat_tables(tables)
            keys = digest_keys(table[KEY_COLUMN])
            column = table[VECTOR_COLUMN].combine_chunks()
            dim = column.type.list_size
            vectors = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False).reshape(-1, dim)
        else:
            keys, vectors = np.zeros(0, "S32"), np.zeros((0, dim), np.float32)
        index = pd.Index(keys)
        if not index.is_unique:  # two runs embedded the same text (e.g. a shared remote store): keep one
            first = ~index.duplicated()
            keys, vectors, index = keys[first], vectors[first], pd.Index(keys[first])
        self._keys, self._index, self._vectors = keys, index, vectors

    def __len__(self) -> int:
        self._load()
        assert self._keys is not None
        return len(self._keys)

    def keys(self) -> np.ndarray:
        """Every stored text's key.

        Returns
        -------
        numpy.ndarray of dtype S32, shape (m,)
            Raw SHA-256 digests, in the order of :meth:`vectors`.
        """
        self._load()
        assert self._keys is not None
        return self._keys

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Row of each key in :meth:`vectors`, -1 where the store does not hold it.

        Parameters
        ----------
        keys : numpy.ndarray of dtype S32, shape (n,)
            Text keys (:func:`~.encoder.text_keys`).

        Returns
        -------
        numpy.ndarray of int64, shape (n,)
            Row of each key, or -1.
        """
        self._load()
        assert self._index is not None
        return self._index.get_indexer(np.asarray(keys, dtype="S32")).astype(np.int64)

    def vectors(self) -> np.ndarray:
        """Every stored vector.

        Returns
        -------
        numpy.ndarray of float32, shape (m, dim)
            In the order of :meth:`keys`.
        """
        self._load()
        assert self._vectors is not None
        return self._vectors

    def check_model(self, model_id: str, fingerprint: str) -> None:
        """Refuse a store embedded with another model (or runtime) than the caller's.

        Parameters
        ----------
        model_id : str
            The caller's model name or path.
        fingerprint : str
            The caller's model fingerprint (files, max length, backend).

        Raises
        ------
        StoreError
            The manifest names another model: the message names both.
        """
        model = self.manifest.get("model") or {}
        if model and model.get("revision") != fingerprint:
            raise StoreError(
                f"{self.path}: embedding store was made with model {model.get('name')!r} (revision {model.get('revision')}), "
                f"this run uses {model_id!r} (revision {fingerprint}): pass the store's model (--model), "
                f"or embed into another store with spa-vl embed --model {model_id}"
            )

    @contextlib.contextmanager
    def writing(self) -> Iterator[EmbeddingStore]:
        """Hold the store's lock while writing (a second writer fails at once).

        A local store is locked by ``<store>.lock`` beside it; a remote one by a lock file in the
        local spa-vl cache keyed by its URL, which guards writers on this machine only.

        Yields
        ------
        EmbeddingStore
            This store.
        """
        from spa_vl.atomic import output_lock
        from spa_vl.cache import cache_root

        if self.is_local:
            Path(self.root).parent.mkdir(parents=True, exist_ok=True)
            lock = Path(self.root).parent / f".{Path(self.root).name}.lock"
        else:
            lock = cache_root() / "locks" / f"store-{hashlib.sha256(self.path.encode()).hexdigest()[:16]}.lock"
            lock.parent.mkdir(parents=True, exist_ok=True)
        with output_lock(lock, Path(self.path), what="embedding store"):
            self.fs.makedirs(self.root, exist_ok=True)
            self.manifest = self._read_manifest()  # another run may have written it before we held the lock
            self._index = None
            yield self

    def _put(self, name: str, data: bytes) -> None:
        """Write ``data`` to a hidden temp file, then rename it to ``name`` (never half a file under a final name)."""
        tmp = f"{self.root}/.tmp-{os.getpid()}-{uuid.uuid4().hex}-{name}"
        try:
            with self.fs.open(tmp, "wb") as f:
                f.write(data)
            self.fs.mv(tmp, f"{self.root}/{name}")
        finally:
            with contextlib.suppress(OSError, FileNotFoundError):
                if self.fs.exists(tmp):
                    self.fs.rm(tmp)

    def append(self, table: pa.Table) -> str:
        """Add one part (call inside :meth:`writing`).

        Parameters
        ----------
        table : pyarrow.Table
            ``text_sha256`` and ``embedding`` columns (:func:`vector_table`).

        Returns
        -------
        str
            The part's file name (named by a digest of its content).
        """
        import io

        buffer = io.BytesIO()
        pq.write_table(table.select([KEY_COLUMN, VECTOR_COLUMN]), buffer)
        data = buffer.getvalue()
        name = f"{_PART_PREFIX}{hashlib.sha256(data).hexdigest()[:32]}.parquet"
        self._put(name, data)
        self._index = None
        return name

    def write_manifest(self, *, model: dict[str, Any], dimension: int, fields: Sequence[str], source: dict[str, str]) -> dict[str, Any]:
        """Record (or extend) the manifest after a run (call inside :meth:`writing`).

        Parameters
        ----------
        model : dict
            ``name``, ``revision`` (the model fingerprint), ``max_seq_length``, ``backend``.
        dimension : int
            Vector size.
        fields : sequence of str
            Text fields embedded by this run (merged with earlier runs').
        source : dict
            ``label`` and ``fingerprint`` of the source embedded (added to the list of sources).

        Returns
        -------
        dict
            The manifest written.

        Raises
        ------
        StoreError
            The store holds another model's vectors.
        """
        from spa_vl import __version__

        self.check_model(model["name"], model["revision"])
        old = self.manifest
        sources = [s for s in old.get("sources", []) if s.get("fingerprint") != source.get("fingerprint")] + [dict(source)]
        manifest = {
            "format": FORMAT_VERSION,
            "model": model,
            "dimension": int(dimension),
            "normalized": "l2",
            "dtype": "float32",
            "fields": sorted(set(old.get("fields", [])) | set(fields)),
            "sources": sources,
            "texts": len(self),
            "spa_vl_version": __version__,
        }
        self._put(MANIFEST, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
        self.manifest = manifest
        return manifest


def open_store(path: str | os.PathLike | EmbeddingStore) -> EmbeddingStore:
    """An existing store, ready to read.

    Parameters
    ----------
    path : str, os.PathLike or EmbeddingStore
        The store folder or URL (a store is returned as is).

    Returns
    -------
    EmbeddingStore

    Raises
    ------
    StoreError
        No manifest there (not a store, or one no run has finished yet).
    """
    store = path if isinstance(path, EmbeddingStore) else EmbeddingStore(path)
    if not store.manifest:
        raise StoreError(f"{store.path}: not an embedding store (no {MANIFEST}): build one with spa-vl embed SOURCE --out {store.path}")
    return store


class StoreBackedCache:
    """The store first, then the encoder's own cache (or nothing): what :class:`~.encoder.Encoder` looks vectors up in.

    Parameters
    ----------
    store : EmbeddingStore
        Read-only here.
    cache : EmbeddingCache or None
        Where newly encoded vectors go (None keeps them in memory only).

    Attributes
    ----------
    embeddings : EmbeddingStore
        The store given.
    cache : EmbeddingCache or None
        As given.
    """

    def __init__(self, store: EmbeddingStore, cache: Any | None):
        self.embeddings, self.cache = store, cache
        self._extra_keys: list[np.ndarray] = []
        self._extra_vectors: list[np.ndarray] = []
        self._extra_index: dict[bytes, int] = {}

    def __len__(self) -> int:
        return len(self.embeddings) + (len(self.cache) if self.cache is not None else len(self._extra_index))

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Row of each key: store rows first, then the cache's rows offset by the store's size; -1 if neither holds it.

        Parameters
        ----------
        keys : numpy.ndarray of dtype S32, shape (n,)
            Text keys.

        Returns
        -------
        numpy.ndarray of int64, shape (n,)
            Rows into :meth:`take`, or -1.
        """
        rows = self.embeddings.lookup(keys)
        missing = rows < 0
        if missing.any():
            if self.cache is not None:
                other = self.cache.lookup(keys[missing])
            else:
                other = np.array([self._extra_index.get(k, -1) for k in keys[missing].tolist()], dtype=np.int64)
            rows[missing] = np.where(other >= 0, other + len(self.embeddings), -1)
        return rows

    def take(self, rows: np.ndarray) -> np.ndarray:
        """Vectors at ``rows`` (as :meth:`lookup` numbers them).

        Parameters
        ----------
        rows : numpy.ndarray of int64, shape (n,)
            Non-negative rows.

        Returns
        -------
        numpy.ndarray of float32, shape (n, dim)
        """
        n = len(self.embeddings)
        stored = self.embeddings.vectors()
        out = np.empty((len(rows), stored.shape[1] if n else self._other().shape[1]), np.float32)
        inside = rows < n
        out[inside] = stored[rows[inside]]
        if (~inside).any():
            out[~inside] = self._other()[rows[~inside] - n]
        return out

    def _other(self) -> np.ndarray:
        if self.cache is not None:
            return self.cache.vectors()
        if len(self._extra_vectors) > 1:
            self._extra_vectors = [np.concatenate(self._extra_vectors)]
        return self._extra_vectors[0] if self._extra_vectors else np.zeros((0, 0), np.float32)

    def store(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Keep vectors the model encoded (in the encoder's cache when it has one).

        Parameters
        ----------
        keys : numpy.ndarray of dtype S32, shape (n,)
            Their text keys.
        vectors : numpy.ndarray of float, shape (n, dim)
            The vectors.
        """
        if self.cache is not None:
            self.cache.store(keys, vectors)
            return
        base = sum(len(v) for v in self._extra_vectors)
        self._extra_vectors.append(np.asarray(vectors, np.float32))
        self._extra_index.update({k: base + i for i, k in enumerate(keys.tolist())})


__all__ = [
    "EmbeddingStore", "StoreBackedCache", "StoreError", "open_store", "hex_keys", "digest_keys", "vector_table",
    "MANIFEST", "KEY_COLUMN", "VECTOR_COLUMN",
]
