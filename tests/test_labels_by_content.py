"""Labels on a mirror in the real hub layout, checked row by row against the fixture's own files.

The expected labels come from an oracle written here with the standard library only: the meta
JSON files read with ``json`` and joined with dicts, exactly as the hub layout documents them
(train classes from image_info by image_name; question type from the split file holding the same
question, chosen and rejected; the model key of model_answer whose answer is the chosen/rejected
text). Every way of sharding the work must give the same labels, row for row, matched by content.
"""

from __future__ import annotations

import json
import warnings

import datasets
import pyarrow.parquet as pq
import pytest
import torch
from datasets.distributed import split_dataset_by_node

from spa_vl import SpaVLWarning, load_dataset
from spa_vl.labels import labelling_fingerprint
from spa_vl.loading import load_builder
from spa_vl.stats import compute_stats
from spa_vl.taxonomy import QUESTION_TYPES

LABELS = ("class1", "class2", "class3", "question_type", "chosen_model", "rejected_model")


def _oracle(root) -> dict[str, dict[tuple, dict[str, str | None]]]:
    """Expected labels of every train and validation row: {config: {(question, chosen, rejected): labels}}."""
    meta = root / "meta_files"
    info = {r["image"]: r for r in json.loads((meta / "image_info/meta.json").read_text())}
    item_type, item_models = {}, {}
    for t in QUESTION_TYPES:
        answers = {(r["question"], r["image"]): r for r in json.loads((meta / f"model_answer/{t}.json").read_text())}
        for r in json.loads((meta / f"split/{t}.json").read_text()):
            key = (r["question"], r["chosen"], r["rejected"])
            item_type[key] = t
            record = answers[(r["question"], r["image"])]
            writers = [[m for m, a in record.items() if m not in ("question", "image") and a == r[side]] for side in ("chosen", "rejected")]
            item_models[key] = tuple(w[0] if len(w) == 1 else None for w in writers)
    expected: dict[str, dict] = {"train": {}, "validation": {}}
    for config, folder in (("train", "data"), ("validation", "validation")):
        for row in pq.read_table(root / folder, columns=None).drop_columns(["image"]).to_pylist():
            key = (row["question"], row["chosen"], row["rejected"])
            classes = info[row["image_name"]] if config == "train" else row
            chosen, rejected = item_models.get(key, (None, None))
            expected[config][key] = {
                "class1": classes["class1"], "class2": classes["class2"], "class3": classes["class3"],
                "question_type": item_type.get(key), "chosen_model": chosen, "rejected_model": rejected,
            }
    return expected


def _names(rows, features) -> dict[tuple, dict[str, str | None]]:
    """Rows (dicts of ClassLabel ids) → {(question, chosen, rejected): label names}."""
    out = {}
    for row in rows:
        key = (row["question"], row["chosen"], row["rejected"])
        assert key not in out, "the fixture's items are distinct"
        out[key] = {c: (features[c].int2str(row[c]) if row[c] >= 0 else None) for c in LABELS}
    return out


@pytest.fixture(scope="module")
def oracle(sample_dir):
    return _oracle(sample_dir)


def _texts_and_labels(ds):
    return ds.select_columns(["question", "chosen", "rejected", *LABELS])


def test_the_fixture_is_in_the_real_layout(sample_dir, oracle):
    names = pq.read_table(sample_dir / "data", columns=["image_name"]).column(0).to_pylist()
    assert all("/" not in n for n in names)
    assert "class1" not in pq.read_schema(next((sample_dir / "data").glob("*.parquet"))).names
    for config in oracle.values():  # the oracle finds every label: a real test of the loader follows
        assert all(v["question_type"] and v["chosen_model"] and v["rejected_model"] for v in config.values())


def test_plain_load_matches_the_oracle_row_by_row(sample_dir, oracle, tmp_path):
    for config in ("train", "validation"):
        ds = load_dataset(sample_dir, config, split=config, cache_dir=str(tmp_path / "c"))
        assert _names(_texts_and_labels(ds), ds.features) == oracle[config]


def test_num_proc_2_gives_the_same_labels(sample_dir, oracle, tmp_path):
    train = load_dataset(sample_dir, "train", split="train", cache_dir=str(tmp_path / "c"), num_proc=2)
    assert _names(_texts_and_labels(train), train.features) == oracle["train"]


def test_streaming_shuffle_and_node_splits_give_the_same_labels(sample_dir, oracle):
    streamed = load_dataset(sample_dir, "train", split="train", streaming=True).remove_columns(["image"])
    features = streamed.features
    shuffled = list(streamed.shuffle(seed=3, buffer_size=50))
    got = _names(shuffled, features)
    assert [r["question"] for r in shuffled] != [r["question"] for r in streamed]  # really another order
    assert got == oracle["train"]
    ranks = [_names(split_dataset_by_node(streamed, rank=r, world_size=2), features) for r in (0, 1)]
    assert not set(ranks[0]) & set(ranks[1]) and {**ranks[0], **ranks[1]} == got


def test_torch_dataloader_with_two_workers_gives_the_same_labels(sample_dir, oracle):
    streamed = load_dataset(sample_dir, "train", split="train", streaming=True).select_columns(["question", "chosen", "rejected", *LABELS])
    loader = torch.utils.data.DataLoader(streamed, batch_size=None, num_workers=2)
    rows = [{k: (v.item() if isinstance(v, torch.Tensor) else v) for k, v in row.items()} for row in loader]
    assert _names(rows, streamed.features) == oracle["train"]


def test_stats_count_every_train_row_under_its_real_labels(sample_dir, oracle):
    with warnings.catch_warnings():
        warnings.simplefilter("error", SpaVLWarning)  # no new-label (or any other) warning
        stats = compute_stats(sample_dir)
    for config in ("train", "validation"):
        for column in ("class1", "class3", "question_type"):
            expected: dict[str, int] = {}
            for labels in oracle[config].values():
                expected[labels[column]] = expected.get(labels[column], 0) + 1
            assert stats[f"{config}/{config}"][column] == dict(sorted(expected.items(), key=lambda p: (-p[1], p[0])))


def test_whitespace_fallback_matches_but_never_merges_two_items(mirror, tmp_path):
    easy_path, hardq_path = mirror / "meta_files/split/easy.json", mirror / "meta_files/split/hardq.json"
    easy, hardq = json.loads(easy_path.read_text()), json.loads(hardq_path.read_text())
    first, second = dict(easy[0]), dict(easy[1])
    # 1: a record whose question differs from its row's only in whitespace is still found
    easy[0]["question"] = "  " + " ".join(first["question"].split()) + "\n"
    # 2: two records (easy and hardq) that differ from a row only in whitespace: not merged, unknown
    easy[1]["question"] = second["question"] + "  "
    hardq.append(dict(second, question="\n" + second["question"]))
    easy_path.write_text(json.dumps(easy))
    hardq_path.write_text(json.dumps(hardq))
    got = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpaVLWarning)
        for config in ("train", "validation"):
            ds = load_dataset(mirror, config, split=config, cache_dir=str(tmp_path / "c"))
            got.update(_names(_texts_and_labels(ds), ds.features))
    assert got[(first["question"], first["chosen"], first["rejected"])]["question_type"] == "easy"
    assert got[(second["question"], second["chosen"], second["rejected"])]["question_type"] is None


def test_a_prepared_dataset_from_other_labelling_code_is_not_reused(sample_dir, tmp_path):
    builder = load_builder(sample_dir, "validation", cache_dir=str(tmp_path / "c"))
    assert labelling_fingerprint() in builder.cache_dir  # labels from other code → another cache folder
    assert builder.config.version.major >= 2  # caches of the position-based 1.x labelling are never read


def test_image_info_and_reasons_are_opt_in_typed_columns(sample_dir, tmp_path):
    train = load_dataset(sample_dir, "train", split="train", cache_dir=str(tmp_path / "c"), image_info=True, reasons=True)
    assert train.features["width"] == datasets.Value("int64")
    assert train.features["text_similarity"] == datasets.Value("float64")
    info = {r["image"]: r for r in json.loads((sample_dir / "meta_files/image_info/meta.json").read_text())}
    prefer = {(r["question"], r["chosen"], r["rejected"]): r for t in QUESTION_TYPES for r in json.loads((sample_dir / f"meta_files/prefer/{t}.json").read_text())}
    for row in train.remove_columns(["image"]).select(range(25)):
        record = info[row["image_name"]]
        assert (row["width"], row["text_count"], row["md5"], row["gemini_caption"]) == (record["width"], record["text_count"], record["md5"], record["gemini_caption"])
        assert row["text_similarity"] == pytest.approx(record["text_similarity"])
        assert row["reason1"] == prefer[(row["question"], row["chosen"], row["rejected"])]["reason1"]
