"""Content keys: 128-bit digests of one or more text columns, vectorised.

Rows are matched to meta records by what they say (question, chosen, rejected, image name),
never by where they sit, so labels cannot depend on how the rows were sharded or shuffled. Keys
are fixed-size so that a 93K-row split and its meta files can be matched without holding their
long texts: two independent SipHash-2-4 digests (pandas' hashing, fixed keys, independent of
``PYTHONHASHSEED``) of every field, mixed field by field.
"""

from __future__ import annotations

from typing import Sequence

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
    """Trim each text and collapse every run of whitespace to one space (nulls stay null).

    The real questions start with a space, ``"\\n\\n"`` or ``" \\n"``; this is the fallback
    form used only when exact text finds no match.
    """
    values = _as_array(values).cast(pa.string())
    return pc.replace_substring_regex(pc.utf8_trim_whitespace(values), r"\s+", " ")


def _digests(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd  # a dependency of `datasets`; imported here to keep `import spa_vl` light

    objects = pc.fill_null(values.cast(pa.string()), _NULL).to_numpy(zero_copy_only=False)
    return tuple(pd.util.hash_array(objects, hash_key=k, categorize=False) for k in _HASH_KEYS)  # type: ignore[return-value]


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
        Equal keys mean equal texts in every field (up to a 2**-128 collision chance).
    """
    if not columns:
        raise ValueError("content_keys needs at least one column")
    n = len(columns[0])
    first = np.zeros(n, dtype=np.uint64)
    second = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for column in columns:
            array = normalise_whitespace(column) if normalise else _as_array(column)
            a, b = _digests(array)
            first = (first * _MIX) ^ a  # order matters: (x, y) and (y, x) differ
            second = (second * _MIX) ^ b
    packed = np.ascontiguousarray(np.stack([first, second], axis=1))
    return pa.FixedSizeBinaryArray.from_buffers(KEY_TYPE, n, [None, pa.py_buffer(packed.tobytes())])


def lookup(keys: pa.Array, table_keys: pa.Array) -> pa.Array:
    """Position of each key in ``table_keys`` (first occurrence), null where absent.

    Parameters
    ----------
    keys : pyarrow.Array, shape (n,)
    table_keys : pyarrow.Array, shape (m,)

    Returns
    -------
    pyarrow.Int32Array, shape (n,)
    """
    return pc.index_in(keys, value_set=_as_array(table_keys))
