"""``--format swift`` against ms-swift's documented custom-dataset schema, and TRAIN.md's eval settings.

ms-swift itself is not installed by the suite (a 2 GB venv: torch 2.13 and ms-swift 4.6 install from the
registry next to their own pins, in minutes); the test that runs ms-swift's own dataset loading and
preprocessing is skipped unless ``/tmp/swiftenv`` holds such a venv (docs/publish.md says how to build it).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from spa_vl.analysis.subsets.ablation import ScaleLadder
from spa_vl.analysis.writers.export import export_subsets
from spa_vl.analysis.writers.swift import IMAGE_TAG, TRAIN_FILE, VAL_FILE

SWIFT_PYTHON = Path("/tmp/swiftenv/bin/python")
#: ms-swift's standard keys (its "Custom Dataset" page); we add row_id and labels, which it passes through.
SWIFT_KEYS = {"messages", "rejected_response", "label", "images", "videos", "audios", "tools", "objects"}


@pytest.fixture(scope="module")
def swift_export(unicode_mirror, unicode_pool, tmp_path_factory):
    subsets = ScaleLadder(sizes=[max(len(unicode_pool) // 5, 5)], random_state=3).sample(unicode_pool)
    out = tmp_path_factory.mktemp("swift") / "subsets"
    (folder,) = export_subsets(unicode_mirror, subsets, out, pool=unicode_pool, formats=["swift"], seed=3, progress=False)
    return {"folder": folder, "subset": subsets[0], "rows": subsets[0].rows_in(unicode_pool)}


def read_jsonl(path: Path) -> list[dict]:
    """Every line of a JSONL file as a dict (the file must be ASCII)."""
    return [json.loads(line) for line in path.read_text(encoding="ascii").splitlines()]


def test_records_follow_the_documented_preference_schema(swift_export):
    folder = swift_export["folder"]
    train, val = read_jsonl(folder / TRAIN_FILE), read_jsonl(folder / VAL_FILE)
    assert sorted(r["row_id"] for r in train) == sorted(swift_export["subset"].row_ids)
    assert val and not {r["row_id"] for r in val} & {r["row_id"] for r in train}
    pool = swift_export["rows"].set_index("row_id")
    for record in train + val:
        assert {"messages", "rejected_response", "images"} <= set(record) and not (set(record) - SWIFT_KEYS) - {
            "row_id", "class1", "class2", "class3", "question_type"}
        user, assistant = record["messages"]
        assert (user["role"], assistant["role"]) == ("user", "assistant")
        assert user["content"].count(IMAGE_TAG) == len(record["images"]) == 1 and user["content"].startswith(IMAGE_TAG)
        assert isinstance(record["rejected_response"], str) and record["rejected_response"] != assistant["content"]
        assert (folder / record["images"][0]).is_file() and not Path(record["images"][0]).is_absolute()
    for record in train:
        assert record["class1"] == pool.loc[record["row_id"], "class1"]


def test_train_md_runs_swift_from_the_folder_with_its_val_file(swift_export):
    text = (swift_export["folder"] / "TRAIN.md").read_text(encoding="utf-8")
    assert f"cd {shlex.quote(str(swift_export['folder']))}\n" in text
    assert f"--dataset {TRAIN_FILE} --val_dataset {VAL_FILE}" in text and "--eval_strategy steps" in text


@pytest.mark.skipif(not SWIFT_PYTHON.is_file(), reason="no ms-swift venv at /tmp/swiftenv (see docs/publish.md: not built by the suite)")
def test_ms_swift_loads_and_preprocesses_the_export(swift_export):
    code = (
        "import json, os, sys\nfrom swift.dataset import load_dataset\n"
        "out = {}\n"
        "for name in sys.argv[1:]:\n"
        "    ds, _ = load_dataset([name], split_dataset_ratio=0, strict=True)  # strict: a row it cannot convert is an error\n"
        "    rows = [ds[i] for i in range(len(ds))]  # its __getitem__ decodes messages\n"
        "    assert all(r['rejected_response'] and r['messages'][-1]['role'] == 'assistant' for r in rows)\n"
        "    assert all(os.path.isfile(i['path'] if isinstance(i, dict) else i) for r in rows for i in r['images'])\n"
        "    out[name] = [[m['content'] for m in r['messages']] + [r['rejected_response']] for r in rows]\n"
        "print(json.dumps(out))\n"
    )
    out = subprocess.run([str(SWIFT_PYTHON), "-c", code, TRAIN_FILE, VAL_FILE],
                         cwd=swift_export["folder"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    for name in (TRAIN_FILE, VAL_FILE):
        ours = read_jsonl(swift_export["folder"] / name)
        assert got[name] == [[m["content"] for m in r["messages"]] + [r["rejected_response"]] for r in ours]


def test_trl_command_evaluates_on_the_test_split(all_formats):
    """TRL's own argument parser reads TRAIN.md's `trl dpo` flags: evaluation on, test split present."""
    import datasets
    from transformers import HfArgumentParser
    from trl import DPOConfig, ModelConfig, ScriptArguments

    folder = all_formats["folders"][0]
    text = (folder / "TRAIN.md").read_text(encoding="utf-8")
    command = re.search(r"`(trl dpo [^`]+)`", text)[1]
    script, config, _ = HfArgumentParser((ScriptArguments, DPOConfig, ModelConfig)).parse_args_into_dataclasses([*shlex.split(command)[2:], "--bf16", "false"])  # this CPU has no bf16
    assert config.eval_strategy == "steps" and config.eval_steps == 100
    assert script.dataset_test_split in datasets.load_dataset(script.dataset_name)
    assert 'eval_strategy="steps"' in text


def test_llamafactory_config_evaluates_its_eval_dataset(all_formats, tmp_path):
    """The YAML's trainer arguments, read by transformers' TrainingArguments, evaluate; eval_dataset is listed."""
    from transformers import TrainingArguments

    folder = all_formats["folders"][0]
    text = (folder / "TRAIN.md").read_text(encoding="utf-8")
    config = yaml.safe_load(re.search(r"```yaml\n(.*?)```", text, re.S)[1])
    fields = set(TrainingArguments.__dataclass_fields__)
    args = TrainingArguments(**{k: v for k, v in config.items() if k in fields and k not in ("output_dir", "bf16")},
                             output_dir=str(tmp_path))
    assert args.do_eval and args.eval_strategy == "steps"
    info = json.loads((folder / "llamafactory" / "dataset_info.json").read_text())
    assert config["eval_dataset"] in info and config["dataset"] in info
