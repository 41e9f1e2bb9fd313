"""The Ray Data engine: read, deduplicate and embed on a Ray cluster; the driver writes the store.

The pipeline (each step a Ray Data operator, streamed):

1. ``read_parquet`` of each config's shards with column projection (only the asked text fields);
2. ``map_batches`` (tasks): the texts of a block's fields, null as ``""``, distinct within the
   block, with their hex SHA-256, less those the store already holds;
3. ``groupby("text_sha256")`` → one row per key over the whole source (a hash shuffle);
4. ``map_batches`` with :class:`EmbedBatch`, a callable class: an actor pool of ``workers`` actors,
   each loading the model once; ``num_gpus`` per actor when the cluster has GPUs, one CPU otherwise;
5. the driver streams the results (``iter_batches``) into content-named store parts, written to a
   temp name and renamed, so a killed run keeps every finished part and a rerun embeds the rest.

Workers import spa-vl and the model package from their own environment: on a multi-node cluster
install ``spa-vl[ray]`` on every node (docs/scale_out.md).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from spa_vl.errors import UsageError
from spa_vl.sources import Source

from .encoder import Encoder
from .local import distinct_texts, source_shards
from .store import KEY_COLUMN, EmbeddingStore, hex_keys, vector_table

TEXT = "text"


def block_texts(batch: pa.Table, fields: Sequence[str]) -> pa.Table:
    """Ray Data batch function: the distinct texts of some fields of a block, with their keys.

    Parameters
    ----------
    batch : pyarrow.Table
        A block of the shards (the projected fields).
    fields : sequence of str
        The text columns to take.

    Returns
    -------
    pyarrow.Table
        ``text`` and ``text_sha256``, one row per distinct text of the block (null as ``""``).
    """
    texts = distinct_texts([batch[f] for f in fields if f in batch.column_names])
    return pa.table({TEXT: texts, KEY_COLUMN: hex_keys(texts.to_pylist())})


class DropKnown:
    """Ray Data callable class: leave out the rows whose key the store already holds.

    Parameters
    ----------
    known : pyarrow.StringArray
        Hex keys the store holds (sent to each actor once).
    """

    def __init__(self, known: pa.Array):
        self.known = known

    def __call__(self, batch: pa.Table) -> pa.Table:
        """The batch less its stored keys.

        Parameters
        ----------
        batch : pyarrow.Table
            ``text`` and ``text_sha256``.

        Returns
        -------
        pyarrow.Table
            The rows whose key is not in the store.
        """
        return batch.filter(pc.invert(pc.is_in(batch[KEY_COLUMN], value_set=self.known)))


def first_of_group(group: pa.Table) -> pa.Table:
    """One row of a group of equal keys (equal keys are equal texts).

    Parameters
    ----------
    group : pyarrow.Table
        Rows sharing one ``text_sha256``.

    Returns
    -------
    pyarrow.Table
        Its first row.
    """
    return group.slice(0, 1)


class EmbedBatch:
    """Ray Data callable class: one model per actor, vectors for a batch of texts.

    Parameters
    ----------
    model : str or None
        Model name or path (None: the packaged default, resolved on the worker).
    batch_size : int
        Texts per forward pass.
    device : str
        ``"cpu"`` or ``"cuda"`` (the actor's GPU).
    """

    def __init__(self, model: str | None, batch_size: int, device: str):
        self.encoder = Encoder(model, batch_size=batch_size, device=device, cache_dir=False, progress=False)
        self.encoder.dimension  # noqa: B018 - load the weights now, once per actor

    def __call__(self, batch: pa.Table) -> pa.Table:
        """Vectors of one batch.

        Parameters
        ----------
        batch : pyarrow.Table
            ``text`` and ``text_sha256``.

        Returns
        -------
        pyarrow.Table
            ``text_sha256`` and ``embedding`` (the store's columns).
        """
        vectors = self.encoder.encode(batch[TEXT].to_pylist())
        return vector_table(batch[KEY_COLUMN].combine_chunks(), vectors)


def connect(address: str | None) -> bool:
    """Join the cluster at ``address``, the one this process already joined, or start a local one.

    Parameters
    ----------
    address : str or None
        ``"auto"``, ``host:port`` or ``ray://host:port``; None: the current cluster or a new local one.

    Returns
    -------
    bool
        True when this call started (or joined) Ray and the caller should shut it down.

    Raises
    ------
    UsageError
        Ray is not installed, or no cluster answers at ``address``.
    """
    try:
        import ray
    except ImportError:
        raise UsageError("--engine ray needs Ray Data: pip install 'spa-vl[ray]'", parameter="engine", value="local") from None
    if ray.is_initialized():
        return False
    try:
        # "local": a new cluster, never one a stale /tmp/ray/ray_current_cluster or RAY_ADDRESS points at (that is --address auto)
        ray.init(address=address or "local", include_dashboard=False, log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise UsageError(f"--address {address}: no Ray cluster answers there ({e}): start one with `ray start --head`, or leave --address out to start a local one") from e
    return True


def embed_ray(
    source: Source,
    store: EmbeddingStore,
    fields: Sequence[str],
    *,
    model: str | None = None,
    batch_size: int = 64,
    num_gpus: float | None = None,
    workers: int | None = None,
    address: str | None = None,
    chunk_rows: int = 4096,
    progress: bool = True,
) -> tuple[int, int, float, int, Encoder]:
    """Embed the texts of ``fields`` the store lacks on a Ray cluster (store lock held by the caller).

    Parameters
    ----------
    source : Source
        A resolved source (local folders are read by path; a hub source through its fsspec filesystem).
    store : EmbeddingStore
        The store, inside :meth:`~..store.EmbeddingStore.writing`.
    fields : sequence of str
        Checked text fields.
    model, batch_size, num_gpus, workers, address, chunk_rows, progress
        As for :func:`~.embed_source`.

    Returns
    -------
    tuple of (int, int, float, int, Encoder)
        Distinct texts, texts embedded now, seconds of the pipeline, actors in the pool, and the
        driver's encoder (identity only: its weights are not loaded unless the store is empty).
    """
    encoder = Encoder(model, batch_size=batch_size, cache_dir=False, progress=False)
    store.check_model(encoder.model_id, encoder.fingerprint)
    started = connect(address)
    import ray

    try:
        context = ray.data.DataContext.get_current()
        saved = context.enable_progress_bars, context.shuffle_strategy
        context.enable_progress_bars = progress
        # the hash shuffle's aggregator actors reserve CPUs and were seen to wait forever on a 1-CPU
        # cluster; the pull-based sort shuffle runs as plain tasks
        context.shuffle_strategy = ray.data.context.ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
        resources = ray.cluster_resources()
        gpus = float(resources.get("GPU", 0))
        per_actor = (1.0 if gpus else 0.0) if num_gpus is None else float(num_gpus)
        if per_actor > gpus:
            raise UsageError(f"--num-gpus {num_gpus}: the cluster has {gpus:g} GPU(s)", parameter="num_gpus", value=0)
        pool = workers or (max(1, int(gpus // per_actor)) if per_actor else max(1, int(resources.get("CPU", 1)) - 1))
        filesystem = None
        if not source.is_local:
            from pyarrow.fs import FSSpecHandler, PyFileSystem

            filesystem = PyFileSystem(FSSpecHandler(source.fs))
        parts = []
        for _config, _split, paths, present in source_shards(source, fields):
            data = ray.data.read_parquet(paths, columns=present, filesystem=filesystem, partitioning=None)
            parts.append(data.map_batches(block_texts, fn_kwargs={"fields": present}, batch_format="pyarrow", batch_size=None))  # type: ignore[arg-type]
        if not parts:  # no config of the source has any of the fields
            return 0, 0, 0.0, pool, encoder
        data = parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]
        # few partitions: one per CPU keeps the shuffle's fixed cost small; the texts are small next to their vectors
        texts = data.groupby(KEY_COLUMN, num_partitions=max(1, int(resources.get("CPU", 1)))).map_groups(first_of_group, batch_format="pyarrow").materialize()
        total = texts.count()
        if len(store):
            texts = texts.map_batches(DropKnown, fn_constructor_kwargs={"known": _hex(store.keys())}, batch_format="pyarrow",
                                      batch_size=None, compute=ray.data.ActorPoolStrategy(size=1)).materialize()
        start = time.perf_counter()
        embedded = 0
        if texts.count():
            vectors = texts.map_batches(
                EmbedBatch, fn_constructor_kwargs={"model": model, "batch_size": batch_size, "device": "cuda" if per_actor else "cpu"},
                batch_format="pyarrow", batch_size=max(batch_size, min(chunk_rows, 1024)), compute=ray.data.ActorPoolStrategy(size=pool),
                num_gpus=per_actor or None, num_cpus=None if per_actor else 1,
            )
            for batch in vectors.iter_batches(batch_size=chunk_rows, batch_format="pyarrow"):
                store.append(batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch]))
                embedded += batch.num_rows
        seconds = time.perf_counter() - start
    finally:
        context.enable_progress_bars, context.shuffle_strategy = saved
        if started:
            ray.shutdown()
    return total, embedded, seconds, pool, encoder


def _hex(keys: np.ndarray) -> pa.Array:
    """32-byte keys as hex strings."""
    return pa.array([k.hex() for k in keys.tolist()], pa.string())


__all__ = ["embed_ray", "EmbedBatch", "DropKnown", "block_texts", "connect", "first_of_group"]
