import json

import pytest

from spa_vl import compute_stats, load_dataset
from spa_vl.cli import main
from spa_vl.sample import split_sizes


def test_stats_shape_and_keys(sample_dir):
    stats = compute_stats(sample_dir)
    assert list(stats) == ["train/train", "validation/validation", "eval/harm", "eval/help"]
    for key, entry in stats.items():
        config, split = key.split("/")
        assert entry["rows"] == split_sizes(300)[(config, split)]
        assert set(entry) == {"rows", "class1", "class2", "class3", "question_type"}
        for column in ("class1", "class2", "class3", "question_type"):
            assert sum(entry[column].values()) == entry["rows"]


@pytest.mark.parametrize("config", ["train", "validation", "eval"])
def test_stats_equal_counts_from_the_typed_dataset(sample_dir, config):
    stats = compute_stats(sample_dir, [config])
    built = load_dataset(sample_dir, config)
    for split, ds in built.items():
        frame = ds.select_columns(["class1", "class2", "class3", "question_type"]).to_pandas()
        for column in frame:
            names = ds.features[column].names
            expected = frame[column].map(lambda i, names=names: "unknown" if i < 0 else names[i]).value_counts().to_dict()
            assert stats[f"{config}/{split}"][column] == expected


def test_unknown_labels_are_counted_under_unknown(mirror):
    (mirror / "meta_files/split/hardq.json").unlink()
    stats = compute_stats(mirror, ["validation"])
    entry = stats["validation/validation"]
    assert entry["question_type"]["unknown"] == entry["rows"] - entry["question_type"]["easy"] - entry["question_type"]["hards"]
    assert "hardq" not in entry["question_type"]


def test_cli_stats_json_and_aliases(sample_dir, tmp_path, capsys):
    out = tmp_path / "stats.json"
    assert main(["stats", str(sample_dir), "--name", "test", "--json", str(out)]) == 0
    written = json.loads(out.read_text())
    assert list(written) == ["eval/harm", "eval/help"]
    assert written == compute_stats(sample_dir, ["eval"])
    assert main(["stats", str(sample_dir), "--name", "validation"]) == 0
    assert "validation/validation:" in capsys.readouterr().out


def test_cli_stats_defaults_to_the_embedded_sample(capsys):
    assert main(["stats"]) == 0
    printed = capsys.readouterr().out
    assert "train/train: " in printed and "eval/help: " in printed
