"""The local engine: this process reads the source, and the :class:`~..encoder.Encoder` embeds what the store lacks."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from spa_vl.layout import HUB_COLUMNS, canonical_config
from spa_vl.progress import progress_bar
from spa_vl.sources import Source
from spa_vl.tables import available_splits, read_columns, split_files

from .encoder import Encoder
from .store import EmbeddingStore, digest_keys, hex_keys, vector_table


def source_shards(source: Source, fields: Sequence[str]) -> list[tuple[str, str, list[str], list[str]]]:
    """Every config/split's shards with the asked fields that config has.

    Parameters
    ----------
    source : Source
        A resolved source.
    fields : sequence of str
        Text fields.

    Returns
    -------
    list of (str, str, list of str, list of str)
        ``(config, split, shard paths, fields present)`` per config/split that has any of the fields.
    """
    out = []
    for config, split in available_splits(source):
        present = [f for f in fields if f in HUB_COLUMNS[canonical_config(config).name]]
        if present:
            out.append((config, split, split_files(source, config, split), present))
    return out


def distinct_texts(columns: Sequence[pa.ChunkedArray | pa.Array]) -> pa.Array:
    """Distinct texts over text columns, in order of first appearance; null is the empty string.

    Parameters
    ----------
    columns : sequence of pyarrow string arrays
        The text columns.

    Returns
    -------
    pyarrow.StringArray
        Each distinct text once.
    """
    if not columns:
        return pa.array([], pa.string())
    chunks = [c.cast(pa.large_string()) for c in columns]
    combined = pa.chunked_array([chunk for c in chunks for chunk in (c.chunks if isinstance(c, pa.ChunkedArray) else [c])], pa.large_string())
    return pc.unique(pc.fill_null(combined, "")).cast(pa.string())


def embed_local(
    source: Source,
    store: EmbeddingStore,
    fields: Sequence[str],
    *,
    model: str | None = None,
    batch_size: int = 64,
    device: str = "cpu",
    chunk_rows: int = 4096,
    progress: bool = True,
) -> tuple[int, int, float, int, Encoder]:
    """Embed the texts of ``fields`` the store lacks, one part per ``chunk_rows`` texts (store lock held by the caller).

    Parameters
    ----------
    source : Source
        A resolved source.
    store : EmbeddingStore
        The store, inside :meth:`~..store.EmbeddingStore.writing`.
    fields : sequence of str
        Checked text fields.
    model, batch_size, device, chunk_rows, progress
        As for :func:`~.embed_source`.

    Returns
    -------
    tuple of (int, int, float, int, Encoder)
        Distinct texts, texts embedded now, seconds spent embedding, workers (1), and the encoder.
    """
    encoder = Encoder(model, batch_size=batch_size, device=device, cache_dir=False, progress=False)
    store.check_model(encoder.model_id, encoder.fingerprint)
    columns = []
    for config, split, paths, present in source_shards(source, fields):
        table = read_columns(source, config, split, present, files=paths)
        columns += [table[f] for f in present if f in table.column_names]
    texts = distinct_texts(columns)
    keys = hex_keys(texts.to_pylist())
    missing = (store.lookup(digest_keys(keys)) < 0).nonzero()[0]
    start = time.perf_counter()
    with progress_bar(len(missing), "spa-vl embed (local)", "text", enabled=progress and bool(len(missing))) as bar:
        for begin in range(0, len(missing), chunk_rows):
            rows = missing[begin : begin + chunk_rows]
            vectors = encoder.encode(texts.take(rows).to_pylist())
            store.append(vector_table(keys.take(rows), vectors))
            bar.update(len(rows))
    return len(texts), len(missing), time.perf_counter() - start, 1, encoder


__all__ = ["embed_local", "source_shards", "distinct_texts"]
