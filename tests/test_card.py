import datasets
import pyarrow.parquet as pq
from helpers import rewrite_parquet, set_column

from spa_vl.card import write_card
from spa_vl.cli import main
from spa_vl.layout import read_card
from spa_vl.taxonomy import reference_names


def test_card_makes_plain_load_dataset_typed(mirror, tmp_path):
    write_card(mirror, overwrite=True)
    metadata, body = read_card(mirror / "README.md")
    assert [c["config_name"] for c in metadata["configs"]] == ["default", "validation", "test"]
    assert "synthetic sample" in body  # the existing body is kept
    val = datasets.load_dataset(str(mirror), "validation", split="validation", cache_dir=str(tmp_path / "cache"))
    assert isinstance(val.features["class1"], datasets.ClassLabel)
    assert val.features["class3"].names[:53] == reference_names("class3")
    raw = pq.read_table(mirror / "validation").column("class3").to_pylist()
    assert [val.features["class3"].names[i] for i in val["class3"]] == raw
    harm = datasets.load_dataset(str(mirror), "test", split="harm", cache_dir=str(tmp_path / "cache"))
    assert isinstance(harm.features["class2"], datasets.ClassLabel)
    train = datasets.load_dataset(str(mirror), "default", split="train", cache_dir=str(tmp_path / "cache"))
    assert isinstance(train.features["image"], datasets.Image)  # train has no label columns on the hub


def test_card_includes_new_label_names_and_cli(mirror, tmp_path, capsys):
    shard = mirror / "test/help-00000-of-00001.parquet"
    n = pq.read_metadata(shard).num_rows
    rewrite_parquet(shard, lambda t: set_column(t, "class2", ["Novel category"] * n))
    assert main(["--quiet", "card", str(mirror), "--overwrite"]) == 0
    assert "README.md" in capsys.readouterr().out
    help_split = datasets.load_dataset(str(mirror), "test", split="help", cache_dir=str(tmp_path / "cache"))
    names = help_split.features["class2"].names
    assert names[-1] == "Novel category"
    assert set(help_split["class2"]) == {len(names) - 1}
