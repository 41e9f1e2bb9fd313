"""The LLaMA-Factory export against its documented schema (``data/README.md``, sharegpt format).

``llamafactory`` itself is not installed: from PyPI it would downgrade ``datasets`` to 4.0 and
replace the CPU torch with a CUDA build. So its loading path is replayed: the ``dataset_info.json``
entry is read the way its ``DatasetAttr`` does (``file_name``, ``formatting``, ``ranking``,
``columns``, ``tags``), the file is loaded with ``datasets.load_dataset("json", data_files=...)``
as its loader does for local files, and every example is checked with the rules of its sharegpt
converter and multimodal plugin (alternating roles, an odd number of prompt turns for a ranking
dataset, chosen/rejected as assistant messages, one ``<image>`` per image, image paths found under
``media_dir``, which defaults to ``dataset_dir``).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import datasets
from helpers import NON_ASCII, c_locale_python

from spa_vl.analysis.writers.export import verify_subset
from spa_vl.cli import main

# LLaMA-Factory's defaults (hparams/data_args.py, data/parser.py, extras/constants.py)
DEFAULT_TAGS = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"}
IMAGE_PLACEHOLDER = "<image>"


def load_like_llamafactory(dataset_dir: Path, name: str, cache: Path) -> tuple[dict, datasets.Dataset]:
    info = json.loads((dataset_dir / "dataset_info.json").read_text(encoding="ascii"))[name]
    assert info["formatting"] == "sharegpt" and info["ranking"] is True
    columns = {"messages": "conversations", **info.get("columns", {})}
    tags = {**DEFAULT_TAGS, **info.get("tags", {})}
    data = datasets.load_dataset("json", data_files=[os.path.join(dataset_dir, info["file_name"])], split="train", cache_dir=str(cache))
    return {"columns": columns, "tags": tags}, data


def check_example(example: dict, attr: dict, media_dir: Path) -> None:
    columns, tags = attr["columns"], attr["tags"]
    messages = example[columns["messages"]]
    odd, even = (tags["user_tag"],), (tags["assistant_tag"],)
    for turn, message in enumerate(messages):
        assert message[tags["role_tag"]] in (odd, even)[turn % 2]
    assert len(messages) % 2 == 1  # a ranking example ends on the user's turn
    for side in ("chosen", "rejected"):
        answer = example[columns[side]]
        assert isinstance(answer, dict) and answer[tags["role_tag"]] in even and answer[tags["content_tag"]]
    images = example[columns["images"]]
    placeholders = sum(m[tags["content_tag"]].count(IMAGE_PLACEHOLDER) for m in messages)
    assert placeholders == len(images) == 1
    assert all(os.path.isfile(os.path.join(media_dir, image)) for image in images)


def test_dataset_info_entries_and_examples_follow_the_documented_schema(all_formats, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # image paths must not depend on the working directory
    for subset, rows, folder in zip(all_formats["subsets"], all_formats["rows"], all_formats["folders"]):
        manifest = json.loads((folder / "manifest.json").read_text(encoding="ascii"))
        dataset_dir = folder / "llamafactory"
        names = list(json.loads((dataset_dir / "dataset_info.json").read_text(encoding="ascii")))
        assert names == [f"spa_vl_{subset.name}", f"spa_vl_{subset.name}_eval"]
        attr, train = load_like_llamafactory(dataset_dir, names[0], tmp_path / "cache")
        _, evals = load_like_llamafactory(dataset_dir, names[1], tmp_path / "cache")
        assert train.num_rows == len(rows) and evals.num_rows == manifest["eval"]["rows"] >= 3
        for example in [*train, *evals]:
            check_example(example, attr, media_dir=dataset_dir)
        assert train["row_id"] == manifest["row_ids"] and sorted(evals["row_id"]) == sorted(manifest["eval"]["row_ids"])
        for column in ("class1", "class2", "class3", "question_type"):
            assert [v or "unknown" for v in train[column]] == rows[column].tolist()
        assert not set(evals["row_id"]) & set(train["row_id"])


def test_train_md_has_the_dataset_dir_and_names(all_formats):
    folder = all_formats["folders"][0]
    text = (folder / "TRAIN.md").read_text(encoding="utf-8")
    name = folder.name
    assert f"dataset_dir: {json.dumps(str(folder / 'llamafactory'))}" in text
    assert f"dataset: spa_vl_{name}\n" in text and f"eval_dataset: spa_vl_{name}_eval\n" in text


def test_json_reads_in_a_c_locale_and_images_resolve_after_a_move(all_formats, tmp_path):
    moved = tmp_path / "moved" / "subset"
    shutil.copytree(all_formats["folders"][1], moved)
    assert main(["--quiet", "ablate", "--relocate", str(moved)]) == 0
    assert verify_subset(moved) == []
    dataset_dir = moved / "llamafactory"
    code = (
        "import json, os\n"
        f"d = {str(dataset_dir)!r}\n"
        "info = json.load(open(os.path.join(d, 'dataset_info.json')))\n"
        "out = []\n"
        "for entry in info.values():\n"
        "    for ex in json.load(open(os.path.join(d, entry['file_name']))):\n"
        "        assert all(os.path.isfile(os.path.join(d, p)) for p in ex['images']), ex['images']\n"
        "        out.append(ex['chosen']['value'])\n"
        "print(json.dumps(out))\n"
    )
    result = c_locale_python(code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    texts = json.loads(result.stdout)
    assert texts and all(t.endswith(NON_ASCII) for t in texts)
