"""``spa-vl doctor`` on a complete mirror and on mirrors that miss what the layout promises."""

from __future__ import annotations

import json

from spa_vl.cli import build_parser, main
from spa_vl.doctor import diagnose


def test_complete_mirror_passes_with_full_coverage(sample_dir, tmp_path, capsys):
    assert main(["doctor", str(sample_dir), "--json", str(tmp_path / "d.json")]) == 0
    out = capsys.readouterr().out
    assert "every promised join covers at least 99%" in out
    data = json.loads((tmp_path / "d.json").read_text())
    assert data["failures"] == []
    train = {c["join"]: c for c in data["coverage"]["train/train"]}
    assert {j: c["share"] for j, c in train.items()} == {"classes": 1.0, "question_type": 1.0, "models": 1.0}
    files = {m["path"]: m for m in data["meta_files"]}
    assert files["meta_files/image_info/meta.json"]["records"] > 0
    assert files["meta_files/safety/easy.json"]["fields"]  # an undocumented kind is read and listed
    assert all(m["missing_fields"] == [] for m in data["meta_files"])
    rows = {s["split"]: s for s in data["splits"]}
    assert all(s["rows"] == s["card_rows"] for s in rows.values())


def test_missing_split_file_fails_and_names_the_file_and_split(mirror, capsys):
    (mirror / "meta_files/split/hardq.json").unlink()
    assert main(["--quiet", "doctor", str(mirror)]) == 1
    out = capsys.readouterr().out
    failed = [line for line in out.splitlines() if line.startswith("FAILED:")]
    assert any("train/train: question_type" in line and "meta_files/split/hardq.json" in line for line in failed), out
    assert "unmatched question_type: row" in out  # examples of unmatched rows are shown


def test_missing_image_info_fails_on_train_classes_only(mirror):
    (mirror / "meta_files/image_info/meta.json").unlink()
    report = diagnose(mirror)
    assert len(report.failures) == 1
    assert report.failures[0].startswith("train/train: classes covers 0 of") and "meta_files/image_info/meta.json" in report.failures[0]
    assert {c.join: c.share for c in report.coverage["validation/validation"]}["classes"] == 1.0


def test_help_names_the_promised_joins():
    subparsers = next(a for a in build_parser()._actions if a.dest == "command").choices
    text = subparsers["doctor"].format_help()
    assert "99%" in text and "image_info/meta.json" in text and "model_answer" in text
