"""Meta files in every accepted shape, with mixed and unknown fields, parsed once and cached."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from spa_vl.errors import SpaVLError
from spa_vl.meta_files import _to_table, list_meta_files, meta_schema, read_meta_table
from spa_vl.sources import resolve_source
from spa_vl.stats import compute_stats


def test_mixed_types_are_kept_field_by_field():
    late = [{"a": 1, "b": "x"}] * 1500 + [{"a": 2.5, "b": "y", "extra": [1, 2]}]
    table = _to_table(late, "f")
    assert table.schema.field("a").type == pa.float64() and table.column("extra")[-1].as_py() == [1, 2]
    clash = _to_table([{"a": 1}] * 1500 + [{"a": "text"}], "f")
    assert clash.column("a").type == pa.string() and clash.column("a")[-1].as_py() == "text"
    nulls = _to_table([{"a": None}] * 1500 + [{"a": "s"}], "f")
    assert nulls.column("a").type == pa.string() and nulls.num_rows == 1501


@pytest.mark.parametrize("shape", ["list", "data", "dict"])
def test_every_shape_gives_the_same_labels(mirror, shape):
    split = mirror / "meta_files/split"
    expected = compute_stats(mirror)  # list of records, as written by the sample
    for path in split.glob("*.json"):
        records = json.loads(path.read_text())
        for r in records:
            r["note_from_a_newer_release"] = 1  # an unknown field: listed, never fatal
        data = {"list": records, "data": {"data": records}, "dict": {str(i): r for i, r in enumerate(records)}}[shape]
        path.write_text(json.dumps(data))
    assert compute_stats(mirror) == expected
    source = resolve_source(mirror)
    file = next(f for f in list_meta_files(source) if f.relative == "meta_files/split/easy.json")
    records, fields = meta_schema(source, file)
    assert "note_from_a_newer_release" in fields and records == read_meta_table(source, file).num_rows


def test_a_file_that_is_not_records_is_a_one_line_error(mirror):
    (mirror / "meta_files/split/easy.json").write_text(json.dumps([1, 2, 3]))
    with pytest.raises(SpaVLError, match=r"meta_files/split/easy.json: expected a JSON list of objects .* re-download"):
        compute_stats(mirror)
