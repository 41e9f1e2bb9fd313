"""Unit tests of small helpers whose mistakes would be silent elsewhere."""

import os
import stat

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from spa_vl.analysis.report.render import format_number, jsonable, markdown_table
from spa_vl.analysis.subsets.recipes import farthest_point_order
from spa_vl.analysis.subsets.sampling import proportional_allocation, row_ids, stratified_sample, within_stratum_rank
from spa_vl.atomic import atomic_write_text, check_writable_dir, staged_dir
from spa_vl.errors import SpaVLError
from spa_vl.layout import missing_shards, read_card, render_card, shard_name, split_file_stem
from spa_vl.meta import first_per_key
from spa_vl.stats import label_counts


def test_shard_names_and_gaps():
    assert shard_name("train", 3, 8) == "train-00003-of-00008.parquet"
    names = [shard_name("train", i, 8) for i in (0, 1, 2, 4, 5, 6, 7)]
    assert missing_shards(names) == ["train-00003-of-00008.parquet"]
    assert missing_shards(["harm-00000-of-00001.parquet", "other.parquet"]) == []
    assert split_file_stem("test", "help") == ("test", "help")
    assert split_file_stem("default", "train") == ("data", "train")


def test_proportional_allocation_largest_remainder():
    sizes = pd.Series([50, 30, 20])
    assert proportional_allocation(sizes, 10).tolist() == [5, 3, 2]
    assert proportional_allocation(pd.Series([1, 1, 1]), 2).tolist() == [1, 1, 0]  # ties by order
    got = proportional_allocation(pd.Series([7, 13, 29, 1]), 17)
    assert got.sum() == 17 and np.all(np.abs(got - 17 * np.array([7, 13, 29, 1]) / 50) < 1)
    with pytest.raises(SpaVLError, match="pool of 3: choose a size in 0..3"):
        proportional_allocation(pd.Series([1, 2]), 4)


def test_stratified_sample_is_seeded_and_proportional():
    frame = pd.DataFrame({"g": ["a"] * 60 + ["b"] * 30 + ["c"] * 10, "question": [f"q{i}" for i in range(100)]})
    picked = stratified_sample(frame, 20, "g", random_state=3)
    assert frame.loc[picked, "g"].value_counts().to_dict() == {"a": 12, "b": 6, "c": 2}
    assert list(picked) == list(stratified_sample(frame, 20, "g", random_state=3))
    assert list(picked) != list(stratified_sample(frame, 20, "g", random_state=4))
    assert len(stratified_sample(frame, 500, "g")) == 100
    # ranked by content, not position: the same rows of a reordered frame
    reordered = frame.iloc[::-1].reset_index(drop=True)
    again = stratified_sample(reordered, 20, "g", random_state=3)
    assert set(reordered.loc[again, "question"]) == set(frame.loc[picked, "question"])
    with pytest.raises(SpaVLError, match="row_id column or one of image_name"):
        stratified_sample(frame[["g"]], 20, "g")


def test_row_ids_are_the_hash_in_hex_with_repeat_suffixes():
    frame = pd.DataFrame({"question": ["a", "b", "a", "a"], "chosen": ["x", "y", "x", "x"]})
    hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    ids = row_ids(frame)
    assert ids.iloc[1] == format(int(hashes[1]), "016x") and len(ids.iloc[1]) == 16
    assert ids.tolist()[2:] == [ids.iloc[0] + "-1", ids.iloc[0] + "-2"]
    assert row_ids(frame.iloc[[1, 0]]).tolist() == [ids.iloc[1], ids.iloc[0]]


def test_within_stratum_rank_counts_from_zero_in_each_stratum():
    codes = np.array([1, 0, 1, 0, 1])
    priority = np.array([4, 3, 0, 1, 2])
    assert within_stratum_rank(codes, priority).tolist() == [2, 1, 0, 0, 1]


def test_first_per_key_and_label_counts():
    assert first_per_key(pa.array(["b", "a", "b", "c", "a"])).tolist() == [0, 1, 3]
    assert first_per_key(pa.array([], pa.string())).tolist() == []
    counts = label_counts(pa.array(["x", None, "y", "x", None, None]))
    assert list(counts.items()) == [("unknown", 3), ("x", 2), ("y", 1)]


def test_farthest_point_order_spreads_out():
    x = np.array([[1, 0], [0.99, 0.1], [0, 1], [-1, 0], [0.98, 0.2]])
    order = farthest_point_order(x, 3, start=0)
    assert order[0] == 0 and order[1] == 3 and order[2] == 2


def test_markdown_and_json_helpers():
    frame = pd.DataFrame({"n": [3.0, 1.5], "name": ["a|b", "c"]}, index=pd.Index(["r1", "r2"], name="row"))
    text = markdown_table(frame)
    assert text.splitlines()[0] == "| row | n | name |"
    assert "| r1 | 3 | a\\|b |" in text and "| r2 | 1.500 | c |" in text
    assert markdown_table(pd.DataFrame()) == "_no rows_\n"
    assert format_number(float("nan")) == "—" and format_number(12345.0) == "12,345"
    assert jsonable({1: np.float64("nan"), "x": (np.int64(2), float("inf"))}) == {"1": None, "x": [2, None]}


def test_card_round_trip(tmp_path):
    path = tmp_path / "README.md"
    path.write_text(render_card({"license": "cc-by-4.0", "configs": [{"config_name": "default"}]}, "# Title\n"))
    metadata, body = read_card(path)
    assert metadata == {"license": "cc-by-4.0", "configs": [{"config_name": "default"}]}
    assert body.strip() == "# Title"
    path.write_text("---\nbad: [unclosed\n---\nbody")
    with pytest.raises(SpaVLError, match="YAML front matter does not parse"):
        read_card(path)


def test_atomic_writers_leave_no_temp_and_normal_permissions(tmp_path):
    target = atomic_write_text(tmp_path / "a" / "f.txt", "hello\n")
    assert target.read_text() == "hello\n"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask
    with pytest.raises(RuntimeError):
        with staged_dir(tmp_path / "out") as tmp:
            (tmp / "partial.txt").write_text("x")
            raise RuntimeError("killed half-way")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]  # neither the output nor a temp folder
    (tmp_path / "file").write_text("x")
    with pytest.raises(SpaVLError, match="not a folder"):
        check_writable_dir(tmp_path / "file", overwrite=True, what="report")
