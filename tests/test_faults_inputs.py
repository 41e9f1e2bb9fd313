"""Issue 21, the inputs half: odd paths, contradicting and malformed meta files, odd cards, empty splits.

Each case is a real file on disk read through the public entry points (``compute_stats``,
``diagnose``, ``spa_vl.load_dataset``, the CLI); a bad input must end in one line naming the
file, the record or row, and the fix, never a traceback or a silently empty answer.
"""

from __future__ import annotations

import json
import shutil

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
