"""Content keys: 128-bit digests of one or more text columns, vectorised.

Rows are matched to meta records by what they say (question, chosen, rejected, image name),
never by where they sit, so labels cannot depend on how the rows were sharded or shuffled. Keys
are fixed-size so that a 93K-row split and its meta files can be matched without holding their
long texts: two independent SipHash-2-4 digests (pandas' hashing, fixed keys, independent of
``PYTHONHASHSEED``) of every field, mixed field by field.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: Width of a key in bytes.
KEY_BYTES = 16
KEY_TYPE = pa.binary(KEY_BYTES)
_HASH_KEYS = ("spa-vl-key-one-0", "spa-vl-key-two-1")  # pandas wants 16-byte keys
_NULL = "\x00spa-vl-null\x00"  # what a missing text hashes as (distinct from any real text)
_MIX = np.uint64(0x9E3779B97F4A7C15)


def _as_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def normalise_whitespace(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    r"""Trim each text and collapse every run of whitespace to one space (nulls stay null).

    The real questions start with a space, ``"\\n\\n"`` or ``" \\n"``; this is the fallback
    form used only when exact text finds no match.

    Parameters
    ----------
    values : pyarrow.Array or pyarrow.ChunkedArray of string, shape (n,)
        The texts (cast to string; chunks are combined).

    Returns
    -------
    pyarrow.StringArray, shape (n,)
        The normalised texts, nulls where ``values`` is null.
    """
    values = _as_array(values).cast(pa.string())
    return pc.replace_substring_regex(pc.utf8_trim_whitespace(values), r"\s+", " ")


def digests(values: pa.Array | pa.ChunkedArray, *, normalise: bool = False, halves: int = 2) -> np.ndarray:
    """Two independent 64-bit digests of every text.

    Parameters
    ----------
    values : pyarrow.Array or pyarrow.ChunkedArray of string, shape (n,)
        The texts; a null hashes as a fixed marker, distinct from any real text.
    normalise : bool
        Digest the whitespace-normalised texts.
    halves : int
        ``1`` computes one digest and repeats it (half the time): enough for a field that is
        combined with 128-bit digests of others and only compared within them (an answer
        within its question).

    Returns
    -------
    numpy.ndarray of uint64, shape (n, 2)
        The two digests of each text (equal columns when ``halves`` is 1).
    """
    import pandas as pd  # a dependency of `datasets`; imported here to keep `import spa_vl` light

    array = normalise_whitespace(values) if normalise else _as_array(values).cast(pa.string())
    objects = pc.fill_null(array, _NULL).to_numpy(zero_copy_only=False)
    computed = [pd.util.hash_array(objects, hash_key=k, categorize=False) for k in _HASH_KEYS[:halves]]
    return np.stack([computed[0], computed[-1]], axis=1)


def combine(parts: Sequence[np.ndarray]) -> pa.FixedSizeBinaryArray:
    """One 128-bit key per row from the :func:`digests` of several fields, in order.

    Parameters
    ----------
    parts : sequence of numpy.ndarray of uint64, each shape (n, 2)
        The digests of each field, in key order (order matters).

    Returns
    -------
    pyarrow.FixedSizeBinaryArray, shape (n,)
        16-byte keys.

    Raises
    ------
    ValueError
        If ``parts`` is empty.
    """
    if not parts:
        raise ValueError("combine needs at least one field")
    key = np.zeros_like(parts[0])
    with np.errstate(over="ignore"):
        for part in parts:
            key = (key * _MIX) ^ part  # order matters: (x, y) and (y, x) differ
    packed = np.ascontiguousarray(key)
    return pa.FixedSizeBinaryArray.from_buffers(KEY_TYPE, len(packed), [None, pa.py_buffer(packed.tobytes())])


def content_keys(columns: Sequence[pa.Array | pa.ChunkedArray], *, normalise: bool = False) -> pa.FixedSizeBinaryArray:
    """One 128-bit key per row from the texts of several aligned columns.

    Parameters
    ----------
    columns : sequence of Arrow string arrays, each of length n
        The fields to key on, in a fixed order (e.g. question, chosen, rejected).
    normalise : bool
        Key the whitespace-normalised texts (:func:`normalise_whitespace`) instead of the exact ones.

    Returns
    -------
    pyarrow.FixedSizeBinaryArray, shape (n,)
        Equal keys mean equal texts in every field. The first field gets two independent 64-bit
        digests, the others one (they only tell apart rows whose first field is equal), so two
        different rows collide with a chance of about 2**-64 at worst.

    Raises
    ------
    ValueError
        If ``columns`` is empty.
    """
    if not columns:
        raise ValueError("content_keys needs at least one column")
    return combine([digests(c, normalise=normalise, halves=2 if i == 0 else 1) for i, c in enumerate(columns)])


def lookup(keys: pa.Array, table_keys: pa.Array) -> pa.Array:
    """Position of each key in ``table_keys`` (first occurrence), null where absent.

    Parameters
    ----------
    keys : pyarrow.Array, shape (n,)
        The keys to look up (e.g. from :func:`content_keys`).
    table_keys : pyarrow.Array or pyarrow.ChunkedArray, shape (m,)
        The keys to find them in.

    Returns
    -------
    pyarrow.Int32Array, shape (n,)
        Index into ``table_keys`` of each key, null where it is absent.
    """
    return pc.index_in(keys, value_set=_as_array(table_keys))


def _words(keys: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """The two 64-bit words of every 16-byte key, shape (n, 2), and whether each key is valid, shape (n,)."""
    array = _as_array(keys)
    if len(array) == 0:
        return np.zeros((0, 2), np.uint64), np.zeros(0, bool)
    data = np.frombuffer(array.buffers()[1], dtype=np.uint64, count=2 * (array.offset + len(array)))
    words = data[2 * array.offset :].reshape(-1, 2)
    valid = np.ones(len(array), bool) if array.null_count == 0 else array.is_valid().to_numpy(zero_copy_only=False)
    return words, valid


class KeyIndex:
    """A sorted index of 128-bit keys, built once and looked up per batch (no hash table per call).

    ``pyarrow.compute.index_in`` hashes its whole value set on every call; labelling looks the same
    meta tables up once per record batch, so the builder would rebuild a 100K-entry hash table a
    hundred times. This index sorts the keys once and answers with ``numpy.searchsorted``.

    Parameters
    ----------
    keys : pyarrow.FixedSizeBinaryArray of 16-byte keys, shape (m,)
        The table's keys (nulls are never found); with repeats, the first position wins, as with
        :func:`lookup`.
    """

    def __init__(self, keys: pa.Array | pa.ChunkedArray):
        words, valid = _words(keys)
        positions = np.flatnonzero(valid)
        order = np.lexsort((positions, words[positions, 1], words[positions, 0]))  # by (hi, lo), then position
        self._positions = positions[order]
        self._hi = np.ascontiguousarray(words[self._positions, 0])
        self._lo = np.ascontiguousarray(words[self._positions, 1])

    def __len__(self) -> int:
        return len(self._positions)

    def positions(self, query: pa.Array | pa.ChunkedArray) -> pa.Array:
        """Position of each query key in the indexed keys (first occurrence), null where absent.

        Parameters
        ----------
        query : pyarrow.FixedSizeBinaryArray of 16-byte keys, shape (n,)

        Returns
        -------
        pyarrow.Int64Array, shape (n,)
        """
        words, valid = _words(query)
        if len(self) == 0 or len(words) == 0:
            return pa.nulls(len(words), pa.int64())
        hi, lo = words[:, 0], words[:, 1]
        start = np.searchsorted(self._hi, hi, side="left")
        stop = np.searchsorted(self._hi, hi, side="right")
        # keys sharing the first word are sorted by the second: find the exact one inside that run
        at = start.copy()
        shared = np.flatnonzero(stop - start > 1)
        for i in shared:  # runs of one first word are astronomically rare with hashed keys
            at[i] = start[i] + np.searchsorted(self._lo[start[i] : stop[i]], lo[i], side="left")
        inside = at < len(self)
        clipped = np.minimum(at, len(self) - 1)
        found = valid & inside & (self._hi[clipped] == hi) & (self._lo[clipped] == lo)
        return pa.array(np.where(found, self._positions[clipped], 0), pa.int64(), mask=~found)
