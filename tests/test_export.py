import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import datasets
import pyarrow.parquet as pq
import pytest
from helpers import tree_digest

from spa_vl.analysis.subsets.ablation import ScaleLadder, train_pool
from spa_vl.analysis.writers.export import export_subsets, verify_subset
from spa_vl.cli import main
from spa_vl.errors import SpaVLError
from spa_vl.taxonomy import reference_names


@pytest.fixture(scope="module")
def exported(sample_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("subsets")
    assert main(["--quiet", "ablate", str(sample_dir), "--out", str(out), "--sizes", "40,120", "--seed", "3"]) == 0
    return out


def test_every_subset_loads_with_plain_datasets(exported, tmp_path):
    for name, rows in (("scale-40", 40), ("scale-120", 120)):
        ds = datasets.load_dataset(str(exported / name), split="train", cache_dir=str(tmp_path / "cache"))
        assert ds.num_rows == rows
        assert isinstance(ds.features["class1"], datasets.ClassLabel)
        assert ds.features["class3"].names[: len(reference_names("class3"))] == reference_names("class3")
        assert ds.features["question_type"].names == ["easy", "hardq", "hards"]
        assert ds[0]["image"].size == (32, 32)
        manifest = json.loads((exported / name / "manifest.json").read_text())
        assert ds["row_id"] == manifest["row_ids"]
        assert sum(manifest["strata"].values()) == rows
        assert manifest["seed"] == 3 and manifest["recipe"] == "scale"


def test_rlhf_files_have_the_training_repo_keys_and_images(exported):
    folder = exported / "scale-120"
    rlhf = folder / "rlhf"
    config = json.loads((rlhf / "config_train.json").read_text(encoding="ascii"))
    assert config == {k: str(folder.resolve() / "rlhf" / f"{k}.json") for k in ("hardq", "hardd", "easy")}
    manifest = json.loads((folder / "manifest.json").read_text(encoding="ascii"))
    total = 0
    for path in config.values():
        items = json.loads(open(path, encoding="ascii").read())
        total += len(items)
        for item in items:
            assert set(item) == {"id", "image", "question", "chosen", "rejected", "row_id"}
            assert isinstance(item["id"], int) and item["row_id"] in manifest["row_ids"]
            assert (folder / "images" / item["image"]).is_file()
            assert item["image"].count("/") == 3  # <class1>/<class2>/<class3>/<n>.jpg
    assert total == 120 - manifest["formats"]["rlhf"]["skipped_unknown_question_type"]


def test_verify_detects_a_modified_file(exported, tmp_path, capsys):
    assert main(["ablate", "--verify", str(exported)]) == 0
    copy = tmp_path / "copy"
    shutil.copytree(exported, copy)
    assert main(["--quiet", "ablate", "--relocate", str(copy)]) == 0  # a copy is a moved folder
    shard = next((copy / "scale-40" / "data").glob("*.parquet"))
    shard.write_bytes(shard.read_bytes()[:-1] + b"\0")
    assert main(["ablate", "--verify", str(copy)]) == 1
    captured = capsys.readouterr()
    assert "modified" in captured.out and shard.name in captured.out
    assert "1 of 2 subset(s) do not match" in captured.err
    assert verify_subset(copy / "scale-120") == []


def relocate_commands(text: str) -> list[str]:
    """The folders of the `spa-vl ablate --relocate FOLDER` commands a message suggests, in order."""
    return [shlex.split(folder)[0] for folder in re.findall(r"spa-vl ablate --relocate (.+?)`", text)]


def test_verify_after_a_move_suggests_one_relocate_for_the_moved_folder(exported, tmp_path, capsys):
    """Issue 24: after moving the folder `ablate --out` wrote, --verify names one `--relocate PARENT`, which fixes
    every subset; when only some subsets moved or broke, it says which, still one command per folder that fixes them."""
    written = tmp_path / "written" / "subsets"
    shutil.copytree(exported, written)
    assert main(["--quiet", "ablate", "--relocate", str(written)]) == 0  # as if `ablate --out` had written it here
    moved = tmp_path / "moved" / "subsets"
    written.parent.rename(moved.parent)  # the user moves the folder
    capsys.readouterr()
    assert main(["ablate", "--verify", str(moved)]) == 1
    out, err = capsys.readouterr()
    assert out.count(": moved from ") == 2 and len(err.strip().splitlines()) == 1
    assert relocate_commands(out + err) == [str(moved)]
    assert f"2 of 2 subset(s) do not match their manifest; all 2 were moved from {written}:" in err
    assert main(["--quiet", "ablate", "--relocate", relocate_commands(err)[0]]) == 0
    assert main(["ablate", "--verify", str(moved)]) == 0
    # one subset moved within the folder, another edited: the moved one is named, the fix is still the parent's
    (moved / "scale-40").rename(moved / "scale-40 renamed")
    with open(moved / "scale-120" / "README.md", "a", encoding="utf-8") as f:
        f.write("edited\n")
    capsys.readouterr()
    assert main(["ablate", "--verify", str(moved)]) == 1
    out, err = capsys.readouterr()
    assert relocate_commands(out + err) == [str(moved)]
    assert f"scale-40 renamed was moved from {moved}:" in err and "the problems of scale-120 are listed above" in err
    # a subset whose manifest is unreadable would stop `--relocate PARENT`: the command names the moved subset instead
    (moved / "scale-120" / "manifest.json").write_text("{", encoding="utf-8")
    assert main(["ablate", "--verify", str(moved)]) == 1
    out, err = capsys.readouterr()
    assert relocate_commands(out + err) == [str(moved / "scale-40 renamed")]
    assert main(["--quiet", "ablate", "--relocate", relocate_commands(err)[0]]) == 0
    assert verify_subset(moved / "scale-40 renamed") == []


def test_refuses_to_overwrite_then_replaces(exported, sample_dir):
    with pytest.raises(SpaVLError, match="overwrite=True"):
        pool = train_pool(sample_dir)
        export_subsets(sample_dir, ScaleLadder(sizes=[40]).sample(pool), exported, progress=False)
    assert main(["--quiet", "ablate", str(sample_dir), "--out", str(exported), "--sizes", "40", "--seed", "3", "--overwrite"]) == 0
    assert verify_subset(exported / "scale-40") == []


def test_size_larger_than_pool_is_refused_with_pool_size(sample_dir, tmp_path, capsys):
    assert main(["ablate", str(sample_dir), "--out", str(tmp_path / "x"), "--sizes", "100,90000"]) == 1
    err = capsys.readouterr().err
    n = len(train_pool(sample_dir))
    assert f"the pool has {n} rows, so sizes must be 1..{n}" in err
    assert not (tmp_path / "x").exists()


def _cli(args, env):
    return subprocess.run([sys.executable, "-m", "spa_vl.cli", "--quiet", *args], env=env, capture_output=True, text=True)


def test_same_seed_same_bytes_across_processes(sample_dir, tmp_path):
    # absolute paths (rlhf configs, TRAIN.md) name the folder, so both runs write to the same one
    outputs = []
    for hash_seed in ("1", "987"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        args = ["ablate", str(sample_dir), "--out", str(tmp_path / "a"), "--recipe", "question-type", "--n", "20", "--seed", "9", "--overwrite"]
        result = _cli([*args, "--format", "parquet,rlhf,trl,llamafactory"], env)
        assert result.returncode == 0, result.stderr
        outputs.append(tree_digest(tmp_path / "a"))
    assert outputs[0] == outputs[1]
    other = export_subsets(sample_dir, ScaleLadder(sizes=[20], random_state=10).sample(train_pool(sample_dir)), tmp_path / "c", progress=False)
    first = pq.read_table(tmp_path / "a" / "qtype-mixed" / "data").column("row_id").to_pylist()
    assert set(first) != set(pq.read_table(other[0] / "data").column("row_id").to_pylist())


def test_parquet_only_and_unknown_format(sample_dir, tmp_path, capsys):
    assert main(["--quiet", "ablate", str(sample_dir), "--out", str(tmp_path / "p"), "--sizes", "15", "--format", "parquet"]) == 0
    assert not (tmp_path / "p" / "scale-15" / "rlhf").exists() and not (tmp_path / "p" / "scale-15" / "images").exists()
    assert json.loads((tmp_path / "p" / "scale-15" / "manifest.json").read_text())["located_files"] == []
    assert main(["ablate", str(sample_dir), "--out", str(tmp_path / "q"), "--sizes", "15", "--format", "arrow"]) == 1
    assert "unknown export format" in capsys.readouterr().err


def test_embedding_and_response_model_recipes_from_the_cli(sample_dir, tmp_path):
    assert main(["--quiet", "ablate", str(sample_dir), "--out", str(tmp_path / "e"), "--recipe", "embedding", "--n", "25", "--format", "parquet"]) == 0
    vendi = {
        kind: json.loads((tmp_path / "e" / f"embedding-{kind}" / "manifest.json").read_text())["metrics"]["vendi_score"]
        for kind in ("max", "random", "min")
    }
    assert vendi["max"] > vendi["random"] > vendi["min"]
    assert main(["--quiet", "ablate", str(sample_dir), "--out", str(tmp_path / "m"), "--recipe", "response-models", "--n", "5", "--models", "12"]) == 0
    manifest = json.loads((tmp_path / "m" / "models-m12" / "manifest.json").read_text())
    assert manifest["parameters"]["m"] == 12 and manifest["rows"] == 5
    assert main(["ablate", str(sample_dir), "--out", str(tmp_path / "n"), "--recipe", "taxonomy"]) == 1  # needs --n


def test_stats_of_an_exported_subset_read_its_class_labels(exported, sample_dir):
    import warnings

    from spa_vl import compute_stats
    from spa_vl.analysis.subsets.ablation import train_pool
    from spa_vl.taxonomy import SpaVLWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpaVLWarning)  # row_id is reported as an extra column
        stats = compute_stats(exported / "scale-120")
    manifest = json.loads((exported / "scale-120" / "manifest.json").read_text())
    pool = train_pool(sample_dir).set_index("row_id").loc[manifest["row_ids"]]
    entry = stats["train/train"]
    assert entry["rows"] == 120
    assert entry["class1"] == pool["class1"].value_counts().to_dict()
    assert entry["question_type"] == pool["question_type"].value_counts().to_dict()


def test_one_writer_class_per_format_chosen_by_name(sample_dir, tmp_path):
    import importlib

    from spa_vl.analysis.writers import base as writer
    from spa_vl.analysis.writers.export import FORMATS

    assert list(FORMATS) == ["parquet", "rlhf", "trl", "llamafactory", "swift"]
    modules = {writer.WRITERS[name].__module__ for name in FORMATS}
    assert len(modules) == len(FORMATS)  # each in its own module
    assert all(issubclass(writer.WRITERS[name], writer.SubsetWriter) for name in FORMATS)

    @writer.register
    class RowIdList(writer.SubsetWriter):  # a new format touches no other writer
        name = "row-ids"

        def add(self, file_index, rows):
            self.ids = getattr(self, "ids", []) + rows.column("row_id").to_pylist()

        def finish(self, eval_rows):
            (self.context.folder / "row_ids.txt").write_text("\n".join(self.ids) + "\n", encoding="ascii")
            return {"rows": len(self.ids)}

    try:
        pool = train_pool(sample_dir)
        (folder,) = export_subsets(sample_dir, ScaleLadder(sizes=[12]).sample(pool), tmp_path / "x", formats=["row-ids"], progress=False)
        manifest = json.loads((folder / "manifest.json").read_text())
        assert (folder / "row_ids.txt").read_text().split() == manifest["row_ids"]
        assert manifest["formats"] == {"row-ids": {"rows": 12}} and manifest["eval"] is None
        assert verify_subset(folder) == []
    finally:
        del writer.WRITERS["row-ids"]
    importlib.import_module("spa_vl.analysis.writers.export")


def test_export_resolves_row_ids_against_the_pool(sample_dir, tmp_path):
    from spa_vl.analysis.subsets.sampling import Subset

    pool = train_pool(sample_dir)
    subset = ScaleLadder(sizes=[12], random_state=2).sample(pool)[0]
    stray = Subset("stray", "scale", {}, ["0000000000000000", *subset.row_ids[1:]])
    with pytest.raises(SpaVLError, match=r"subset stray: 1 of 12 row id\(s\) \(first 0000000000000000\) are not in the pool"):
        export_subsets(sample_dir, [stray], tmp_path / "x", pool=pool, formats=["parquet"], progress=False)
    assert not (tmp_path / "x").exists()
    (folder,) = export_subsets(sample_dir, [subset], tmp_path / "y", pool=pool, formats=["parquet"], progress=False)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["row_ids"] == subset.row_ids and manifest["rows"] == len(subset) == 12
    assert manifest["strata"] == subset.strata_counts(pool) and sum(manifest["strata"].values()) == 12
    assert pq.read_table(folder / "data").column("row_id").to_pylist() == subset.row_ids  # source order
