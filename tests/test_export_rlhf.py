"""The SPA-VL-RLHF export works with the official code as written (EchoseChen/SPA-VL-RLHF).

What its code does with our files is replayed here: ``load_data`` opens the config's paths as
written from the working directory of the training scripts, the datasets join ``image`` to
``--image_folder`` and make ``torch.tensor(item["id"], dtype=torch.long)``, the reward model reads
``--config_test_path`` with the same keywords, ``infer_json.py`` reads a list of
``{id, image, question}``. The flags come from the export's own ``TRAIN.md``.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import NON_ASCII, c_locale_python

from spa_vl.analysis.subsets.ablation import ScaleLadder
from spa_vl.analysis.writers.export import export_subsets, relocate_roots, relocate_tree, verify_subset, verify_tree
from spa_vl.cli import main
from spa_vl.errors import SpaVLError

KEYS = ["hardq", "hardd", "easy"]


def train_md_commands(folder: Path) -> dict[str, list[str]]:
    """The shell commands of TRAIN.md's bash blocks, by script name, as argument lists."""
    text = (folder / "TRAIN.md").read_text(encoding="utf-8")
    commands = {}
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        argv = shlex.split(block.replace("\\\n", " "))
        script = next(a for a in argv if a.endswith(".py"))
        commands[Path(script).name] = argv
    return commands


def flag(argv: list[str], name: str) -> list[str]:
    """The values after ``name`` up to the next flag."""
    i = argv.index(name)
    values = []
    for a in argv[i + 1 :]:
        if a.startswith("--"):
            break
        values.append(a)
    return values


# The official load_data + dataset item access, replayed with the standard library (and torch for
# the id), in a C locale from an unrelated folder. Prints what it read as ASCII JSON.
REPLAY = r"""
import json, locale, os, sys
import torch
from PIL import Image
configs, keywords, image_folder = json.loads(sys.argv[1]), sys.argv[2].split(), sys.argv[3]
out = {"encoding": locale.getpreferredencoding(False), "items": {}}
for config_path in configs:
    items = out["items"][config_path] = []
    with open(config_path, "r") as f:
        config = json.load(f)
    for keyword in keywords:
        with open(config[keyword], "r") as f:
            for item in json.load(f):
                Image.open(os.path.join(image_folder, item["image"])).convert("RGB")
                ident = torch.tensor(item["id"], dtype=torch.long)
                items.append({"key": keyword, "id": int(ident), **item})
print(json.dumps(out))
"""


def replay(configs: list[str], keywords: list[str], image_folder: str, cwd: Path) -> dict:
    """What the official code reads through each config, in a C-locale subprocess run from ``cwd``."""
    code = f"import sys; sys.argv = ['x', {json.dumps(configs)!r}, {' '.join(keywords)!r}, {image_folder!r}]\n" + REPLAY
    result = c_locale_python(code, cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_dpo_ppo_rm_commands_read_every_file_from_an_unrelated_folder_in_a_c_locale(all_formats, tmp_path):
    for subset, subset_rows, folder in zip(all_formats["subsets"], all_formats["rows"], all_formats["folders"]):
        commands = train_md_commands(folder)
        assert {"train_dpo.py", "train_ppo.py", "train_rm.py", "infer_json.py"} <= set(commands)
        for script in ("train_dpo.py", "train_ppo.py", "train_rm.py"):
            argv = commands[script]
            assert flag(argv, "--keywords") == KEYS
            assert Path(flag(argv, "--image_folder")[0]).is_absolute()
        rm = commands["train_rm.py"]
        configs = [flag(rm, "--config_train_path")[0], flag(rm, "--config_test_path")[0]]
        read = replay(configs, KEYS, flag(rm, "--image_folder")[0], tmp_path)
        assert "utf" not in read["encoding"].lower()  # the subprocess really reads as ASCII
        train, test = ({"items": read["items"][c]} for c in configs)
        # every row of the subset with a known question type, under its own keyword
        rows = subset_rows.set_index("row_id")
        typed = rows[rows["question_type"].isin(["easy", "hardq", "hards"])]
        assert sorted(i["row_id"] for i in train["items"]) == sorted(typed.index)
        expected_key = typed["question_type"].replace({"hards": "hardd"})
        assert all(expected_key[i["row_id"]] == i["key"] for i in train["items"])
        # non-ASCII text survived the C locale
        assert all(i["chosen"].endswith(NON_ASCII) for i in train["items"] + test["items"])
        # held-out eval rows: never a subset row
        assert len(test["items"]) >= 3
        assert not {i["row_id"] for i in test["items"]} & set(subset.row_ids)
        assert not {i["question"] + i["chosen"] for i in test["items"]} & {i["question"] + i["chosen"] for i in train["items"]}


def test_config_test_has_the_keys_of_config_train_and_infer_list_has_id_image_question(all_formats):
    folder = all_formats["folders"][0]
    train = json.loads((folder / "rlhf" / "config_train.json").read_text(encoding="ascii"))
    test = json.loads((folder / "rlhf" / "config_test.json").read_text(encoding="ascii"))
    assert list(train) == list(test) == KEYS
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in [*train.values(), *test.values()])
    infer = json.loads(Path(flag(train_md_commands(folder)["infer_json.py"], "--dataset_path")[0]).read_text(encoding="ascii"))
    tests = [item for path in test.values() for item in json.loads(Path(path).read_text(encoding="ascii"))]
    assert len(infer) == len(tests) >= 3
    assert all({"id", "image", "question"} <= set(item) for item in infer)
    assert sorted(i["id"] for i in infer) == sorted(i["id"] for i in tests)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="ascii"))
    assert sorted(i["row_id"] for i in infer) == sorted(manifest["eval"]["row_ids"])


def _ids(folder: Path) -> dict[str, int]:
    config = json.loads((folder / "rlhf" / "config_train.json").read_text(encoding="ascii"))
    return {item["row_id"]: item["id"] for path in config.values() for item in json.loads(Path(path).read_text(encoding="ascii"))}


def test_ids_are_int64_unique_and_stable_per_row(all_formats, unicode_mirror, unicode_pool, tmp_path):
    small, large = (_ids(f) for f in all_formats["folders"])
    for ids in (small, large):
        values = np.array(list(ids.values()))
        assert all(isinstance(v, int) for v in ids.values())
        assert values.min() >= 0 and values.max() <= np.iinfo(np.int64).max
        assert len(set(ids.values())) == len(ids)
    assert all(large[row] == small[row] for row in small)  # nested: one row, one id in every subset
    again = export_subsets(
        unicode_mirror, ScaleLadder(sizes=[len(small)], random_state=5).sample(unicode_pool), tmp_path / "again",
        formats=["rlhf"], seed=5, progress=False,
    )
    assert _ids(again[0]) == small  # a second run, another folder: the same ids


def test_relocate_then_verify_after_moving_the_folder(all_formats, tmp_path):
    moved = tmp_path / "elsewhere" / "subsets"
    shutil.copytree(all_formats["out"], moved)
    problems = verify_tree(moved)
    assert all(any("still name that folder" in p for p in found) for found in problems.values())  # stale paths are reported
    assert relocate_roots(moved) == [str(moved)]  # one relocate of the parent fixes them all
    assert main(["ablate", "--verify", str(moved)]) == 1
    assert main(["--quiet", "ablate", "--relocate", str(moved)]) == 0
    assert main(["ablate", "--verify", str(moved)]) == 0
    for folder in sorted(p for p in moved.iterdir() if p.is_dir()):
        assert verify_subset(folder) == []
        rm = train_md_commands(folder)["train_rm.py"]
        for name in ("--config_train_path", "--config_test_path"):
            config = json.loads(Path(flag(rm, name)[0]).read_text(encoding="ascii"))
            assert all(Path(p).is_file() and moved in Path(p).parents for p in config.values())
        assert moved in Path(flag(rm, "--image_folder")[0]).parents
    assert relocate_tree(moved) == {str(p): False for p in sorted(moved.iterdir()) if p.is_dir()}  # idempotent


def test_hand_edited_config_is_reported_modified(all_formats, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(all_formats["folders"][0], copy)
    assert main(["--quiet", "ablate", "--relocate", str(copy)]) == 0
    config = copy / "rlhf" / "config_train.json"
    config.write_text(config.read_text(encoding="ascii").replace("hardq.json", "hardq2.json"), encoding="ascii")
    assert any("config_train.json: modified" in p for p in verify_subset(copy))


def test_fewer_than_three_typed_rows_are_refused_for_rlhf_only(unicode_mirror, unicode_pool, tmp_path, capsys):
    out = tmp_path / "tiny"
    assert main(["ablate", str(unicode_mirror), "--out", str(out), "--sizes", "2", "--format", "parquet,rlhf"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "at least 3" in err and "scale-2" in err
    assert not out.exists()
    assert main(["--quiet", "ablate", str(unicode_mirror), "--out", str(out), "--sizes", "2", "--format", "parquet"]) == 0
    assert verify_subset(out / "scale-2") == []


def test_eval_rows_from_held_out_train_rows(unicode_mirror, unicode_pool, tmp_path):
    subsets = ScaleLadder(sizes=[max(len(unicode_pool) // 4, 5)], random_state=1).sample(unicode_pool)
    (folder,) = export_subsets(unicode_mirror, subsets, tmp_path / "t", formats=["rlhf"], seed=1, progress=False, eval_from="train", eval_size=12)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="ascii"))
    held_out = manifest["eval"]["row_ids"]
    assert manifest["eval"]["from"] == "train" and 3 <= len(held_out) <= 12
    assert set(held_out) <= set(unicode_pool["row_id"]) and not set(held_out) & set(subsets[0].row_ids)
    with pytest.raises(SpaVLError, match="--eval-from"):
        export_subsets(unicode_mirror, subsets, tmp_path / "u", formats=["rlhf"], progress=False, eval_from="harm")
