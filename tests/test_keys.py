"""Content keys and the sorted key index: the same answers as Arrow's own lookup."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from spa_vl.keys import KeyIndex, content_keys, lookup


def _keys(words: list[list[int]]) -> pa.FixedSizeBinaryArray:
    data = np.asarray(words, dtype=np.uint64)
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), len(data), [None, pa.py_buffer(data.tobytes())])


def test_index_answers_like_index_in_with_repeats_nulls_and_misses():
    rng = np.random.default_rng(0)
    table = content_keys([pa.array([f"t{i}" for i in rng.integers(0, 5000, 20_000)])])
    table = pc.if_else(pa.array(rng.random(len(table)) < 0.05), pa.nulls(len(table), table.type), table)
    query = content_keys([pa.array([*(f"t{i}" for i in rng.integers(0, 6000, 3000)), None])])
    expected = lookup(query, table).cast(pa.int64()).to_pylist()
    assert KeyIndex(table).positions(query).to_pylist() == expected
    assert 0 < sum(p is None for p in expected) < len(expected)  # both hits and misses were asked


def test_keys_sharing_their_first_word_and_sliced_arrays():
    table = _keys([[1, 5], [1, 3], [1, 3], [2, 9], [1, 7]])
    query = _keys([[1, 3], [1, 7], [1, 4], [2, 9], [0, 0]])
    assert KeyIndex(table).positions(query).to_pylist() == [1, 4, None, 3, None] == lookup(query, table).to_pylist()
    assert KeyIndex(table.slice(1)).positions(query.slice(1)).to_pylist() == [3, None, 2, None]
    assert KeyIndex(table.slice(0, 0)).positions(query).null_count == len(query)


def test_content_keys_tell_fields_and_order_apart():
    a, b = pa.array(["x", "y"]), pa.array(["y", "x"])
    keys = content_keys([a, b]).to_pylist()
    assert keys[0] != keys[1]  # (x, y) is not (y, x)
    assert content_keys([pa.array([" x\n  y "])], normalise=True) == content_keys([pa.array(["x y"])])
