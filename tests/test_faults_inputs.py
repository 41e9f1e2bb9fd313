"""Issue 21, the inputs half: odd paths, contradicting and malformed meta files, odd cards, empty splits.

Each case is a real file on disk read through the public entry points (``compute_stats``,
``diagnose``, ``spa_vl.load_dataset``, the CLI); a bad input must end in one line naming the
file, the record or row, and the fix, never a traceback or a silently empty answer.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import spa_vl
from spa_vl.cli import main
from spa_vl.errors import SpaVLError
from spa_vl.stats import compute_stats

IMAGE_INFO = "meta_files/image_info/meta.json"


def _one_line_error(capsys, argv: list[str]) -> str:
    """Run the CLI, assert exit 1 with one ``spa-vl: error:`` line on stderr, return that line."""
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("spa-vl: error: "), err
    return err[0]


# --- item 3: any path a filesystem allows, or a loud failure ------------------------------------------

def test_a_mirror_under_brackets_reads_like_any_other(sample_dir, tmp_path, capsys):
    odd = tmp_path / "brackets [v2]" / "SPA VL mirror*?"
    shutil.copytree(sample_dir, odd)
    stats = compute_stats(odd)
    assert stats == compute_stats(sample_dir) and stats  # was {}: the root was read as a glob pattern
    assert main(["--quiet", "doctor", str(odd), "--json", str(tmp_path / "d.json")]) == 0
    report = json.loads((tmp_path / "d.json").read_text())
    assert {s["split"] for s in report["splits"]} == set(stats)  # was [] with "every join covered"
    assert len(report["meta_files"]) == len(list((odd / "meta_files").glob("*/*.json")))
    built = spa_vl.load_dataset(odd, "validation", split="validation")
    assert built.num_rows == stats["validation/validation"]["rows"]


def test_no_config_found_is_an_error_not_an_empty_success(mirror, capsys):
    for shard in mirror.rglob("*.parquet"):  # the card still lists configs, so the folder is accepted
        shard.unlink()
    with pytest.raises(SpaVLError, match=r"no config found.*data/train-\*\.parquet.*top folder"):
        compute_stats(mirror)
    line = _one_line_error(capsys, ["doctor", str(mirror)])
    assert "no config found" in line and str(mirror) in line


# --- item 4: contradicting meta records are unknown, never decided by file order -----------------------

def _with_contradiction(mirror: Path, first_wins: bool) -> dict:
    """Give one image a second record with another class1/2/3, after (or before) its own record."""
    path = mirror / IMAGE_INFO
    records = json.loads(path.read_text())
    victim = records[0]
    other = next(r for r in records if r["class1"] != victim["class1"])
    clash = {**victim, **{k: other[k] for k in ("class1", "class2", "class3")}}
    path.write_text(json.dumps([*records, clash] if first_wins else [clash, *records]))
    return victim


def _train_image_names(mirror: Path) -> list[str]:
    """Train ``image_name`` in row order (shards in name order)."""
    shards = sorted(mirror.glob("data/train-*.parquet"))
    return [v for p in shards for v in pq.read_table(p, columns=["image_name"]).column("image_name").to_pylist()]


def test_contradicting_image_records_are_unknown_in_either_order(sample_dir, tmp_path, capsys):
    from spa_vl.labels import split_labels
    from spa_vl.sources import resolve_source

    per_order = []
    for first_wins in (True, False):
        mirror = tmp_path / f"first-wins-{first_wins}"
        shutil.copytree(sample_dir, mirror)
        victim = _with_contradiction(mirror, first_wins)
        with pytest.warns(UserWarning, match=r"1 image\(s\) have records with different classes.*unknown \(-1\)"):
            view = next(e.view for e in split_labels(resolve_source(mirror)) if e.config == "train")
        hit = {i for i, name in enumerate(_train_image_names(mirror)) if name == victim["image"]}
        assert hit, "the sample's train rows use the first image_info image"
        classes = view.column("class1").to_pylist()
        assert all(classes[i] is None for i in hit)  # unknown: not whichever record came first
        assert all(c is not None for i, c in enumerate(classes) if i not in hit)
        per_order.append((compute_stats(mirror), classes))
        report = tmp_path / f"doctor-{first_wins}.json"
        assert main(["--quiet", "doctor", str(mirror), "--json", str(report)]) == 1  # 1 of 83 images > 0.1 %
        out = capsys.readouterr().out
        assert f"conflicting classes: image {victim['image']!r}" in out
        assert any(line.startswith(f"FAILED: {IMAGE_INFO}: 1 of ") and "contradicting records" in line for line in out.splitlines()), out
        (conflict,) = json.loads(report.read_text())["conflicts"]
        assert conflict["count"] == 1 and conflict["examples"][0]["image"] == victim["image"]
        assert len(conflict["examples"][0]["paths"]) == 2
    assert per_order[0] == per_order[1]  # the same labels and counts whatever the order


def test_repeated_agreeing_records_are_no_conflict(mirror):
    from spa_vl.doctor import diagnose

    path = mirror / IMAGE_INFO
    records = json.loads(path.read_text())
    path.write_text(json.dumps([*records, records[0], {"image": records[1]["image"]}]))  # a copy; a record without classes
    report = diagnose(mirror)
    assert report.conflicts == [] and report.failures == []
    assert compute_stats(mirror)["train/train"]["rows"] == len(_train_image_names(mirror))


# --- item 6: one clear line instead of a traceback ------------------------------------------------------

def test_a_field_whose_type_differs_in_the_first_records_is_read_as_text_with_a_line(mirror, sample_dir):
    path = mirror / IMAGE_INFO
    records = json.loads(path.read_text())
    records[5]["width"] = "wide"  # was: ArrowInvalid "Could not convert 'wide' with type str: tried to convert to int64"
    path.write_text(json.dumps(records))
    with pytest.warns(UserWarning, match=rf"{IMAGE_INFO}: field 'width' holds str in record 5 \("):
        stats = compute_stats(mirror)
    assert stats == compute_stats(sample_dir)  # labels do not depend on the odd field


@pytest.mark.parametrize("bad, shown", [(None, "null"), (7, "7")])
def test_a_record_that_is_not_an_object_is_named(mirror, capsys, bad, shown):
    path = mirror / "meta_files/split/easy.json"
    records = json.loads(path.read_text())
    records.insert(4, bad)  # was: TypeError 'NoneType' object is not iterable (or ArrowInvalid)
    path.write_text(json.dumps(records))
    line = _one_line_error(capsys, ["stats", str(mirror)])
    assert f"meta_files/split/easy.json: record 4 (counting from 0) is {shown}, not an object" in line and "remove it" in line


def test_a_card_in_cp1252_is_named_with_the_fix(mirror, capsys):
    card = mirror / "README.md"
    raw = (card.read_text(encoding="utf-8") + "\nCaf\u00e9 \u2014 notes\n").encode("cp1252")
    card.write_bytes(raw)
    first = next(i for i, b in enumerate(raw) if b >= 0x80)  # cp1252 bytes >= 0x80 never start valid UTF-8 here
    line = _one_line_error(capsys, ["doctor", str(mirror)])  # was: UnicodeDecodeError traceback
    at_line = raw[:first].count(b"\n") + 1
    assert f"{card}: not UTF-8 (byte 0x{raw[first]:02x} at line {at_line}, byte {first})" in line
    assert "iconv -f cp1252 -t utf-8" in line


def test_a_split_whose_only_shard_has_no_rows_is_named(mirror):
    (shard,) = mirror.glob("validation/*.parquet")
    table = pq.read_table(shard)
    pq.write_table(table.slice(0, 0), shard)
    for split in ("validation", None):  # was: ValueError Instruction "validation" corresponds to no data!
        with pytest.raises(SpaVLError, match=r"validation/validation has no rows: its shard\(s\) validation/validation-00000-of-00001\.parquet hold 0 rows: re-download it"):
            spa_vl.load_dataset(mirror, "validation", split=split)


def test_a_full_datasets_cache_names_the_folder_and_the_variable(sample_dir, tmp_path):
    from test_faults_outputs import small_tmpfs

    with small_tmpfs(tmp_path / "small", "size=64k") as small:
        with pytest.raises(SpaVLError) as error:  # was: DatasetGenerationError: An error occurred while generating the dataset
            spa_vl.load_dataset(sample_dir, "train", cache_dir=str(small))
    message = str(error.value)
    assert message.startswith(f"the datasets cache {small} is full") and "HF_DATASETS_CACHE" in message and "\n" not in message


# --- item 8: NaN and 1e999 are missing values; bad JSON names the position and the token -------------

def test_non_finite_numbers_are_missing_values_with_a_warning(mirror, sample_dir):
    path = mirror / IMAGE_INFO
    text = path.read_text()
    text = text.replace('"width": ', '"width": 1e999, "was_width": ', 1).replace('"text_similarity": ', '"text_similarity": NaN, "was": ', 1)
    path.write_text(text)  # was: "not valid JSON (...): re-download the meta file"
    line, column = _position(text, "1e999")
    with pytest.warns(UserWarning, match=rf"{IMAGE_INFO}: 2 value\(s\) are not finite JSON numbers \(first: '1e999' at line {line} column {column}\); read as missing"):
        stats = compute_stats(mirror)
    assert stats == compute_stats(sample_dir)
    built = spa_vl.load_dataset(mirror, "train", split="train", image_info=True)
    assert None in built["width"] and None in built["text_similarity"]


def test_invalid_json_names_the_position_and_the_token(mirror, capsys):
    path = mirror / IMAGE_INFO
    text = path.read_text().replace('"width": ', '"width": wide, "w": ', 1)
    path.write_text(text)
    line, column = _position(text, "wide")
    message = _one_line_error(capsys, ["stats", str(mirror)])
    assert f"{IMAGE_INFO}: not valid JSON at line {line} column {column}" in message and "'wide'" in message and "fix the file there" in message


def _position(text: str, token: str) -> tuple[int, int]:
    """1-based line and column of the first ``token`` in ``text``."""
    at = text.index(token)
    return text.count("\n", 0, at) + 1, at - text.rfind("\n", 0, at)
