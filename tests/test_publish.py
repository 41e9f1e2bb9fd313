"""``spa-vl publish``: a folder plain ``datasets`` loads typed, with no spa-vl; re-publishing; pushing.

Plain loads run in a subprocess where ``import spa_vl`` fails (``sys.modules`` poison), so nothing
of ours can take part; the expected labels come from :func:`spa_vl.load_dataset` on the source.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest
from helpers import rewrite_parquet

import spa_vl
from spa_vl.analysis.writers.publish import publish, shard_plan
from spa_vl.card import FINGERPRINT_PREFIX, content_fingerprint
from spa_vl.columns import CLASS_LABEL_COLUMNS
from spa_vl.errors import UsageError
from spa_vl.layout import CONFIGS, read_card, render_card

#: Small limits, so the sample's train split is cut into several shards and row groups.
SHARD_BYTES, GROUP_BYTES = 60_000, 15_000
HUB_CONFIGS = {layout.hub_name: layout.name for layout in CONFIGS.values()}

PLAIN_LOAD = textwrap.dedent(
    """
    import json, sys
    sys.modules["spa_vl"] = None  # spa-vl cannot be imported: only datasets reads the folder
    try:
        import spa_vl
    except ImportError:
        pass
    else:
        raise SystemExit("spa_vl importable")
    import datasets
    path, configs, streaming = sys.argv[1], sys.argv[2].split(","), sys.argv[3] == "1"
    kwargs = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
    out = {}
    for config in configs:
        dd = datasets.load_dataset(path, config, streaming=streaming, **kwargs)
        for split, ds in dd.items():
            labels = [c for c, f in ds.features.items() if isinstance(f, datasets.ClassLabel)]
            rows = [{k: r[k] for k in labels + ["question"]} for r in ds.remove_columns(["image"])]
            out[f"{config}/{split}"] = {"classlabels": {c: ds.features[c].names for c in labels}, "rows": rows,
                                        "image": type(ds.features["image"]).__name__}
    print(json.dumps(out))
    """
)


def plain_load(path: str | Path, configs: list[str], *, streaming: bool = False, cache: Path, env: dict | None = None,
               **kwargs) -> dict:
    """Load ``configs`` with plain ``datasets`` in a process where ``import spa_vl`` fails."""
    run_env = {**os.environ, "HF_DATASETS_CACHE": str(cache), **(env or {})}
    out = subprocess.run([sys.executable, "-c", PLAIN_LOAD, str(path), ",".join(configs), "1" if streaming else "0", json.dumps(kwargs)],
                         env=run_env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def expected(source: Path) -> dict:
    """What spa_vl.load_dataset gives: label ids, names and questions per hub config/split."""
    out = {}
    for hub_name, config in HUB_CONFIGS.items():
        for split, ds in spa_vl.load_dataset(str(source), config).items():
            labels = [c for c in CLASS_LABEL_COLUMNS if c in ds.features]
            rows = ds.remove_columns(["image"]).select_columns([*labels, "question"]).to_list()
            out[f"{hub_name}/{split}"] = {"classlabels": {c: ds.features[c].names for c in labels}, "rows": rows, "image": "Image"}
    return out


@pytest.fixture(scope="module")
def published(sample_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("publish") / "SPA-VL-labelled"
    return publish(sample_dir, folder, shard_bytes=SHARD_BYTES, row_group_bytes=GROUP_BYTES, progress=False)


def test_plain_datasets_loads_classlabels_and_the_loaders_labels_without_spa_vl(published, sample_dir, tmp_path):
    want = expected(sample_dir)
    got = plain_load(published.folder, list(HUB_CONFIGS), cache=tmp_path / "cache")
    assert got == want
    streamed = plain_load(published.folder, list(HUB_CONFIGS), streaming=True, cache=tmp_path / "stream-cache")
    assert streamed == want


def test_every_file_holds_int64_labels_and_the_features_of_the_card(published):
    meta, _ = read_card(published.folder / "README.md")
    card = {entry["config_name"]: datasets.Features._from_yaml_list(entry["features"]) for entry in meta["dataset_info"]}
    files = [f for s in published.splits for f in s.files]
    assert sorted(files) == sorted(p.relative_to(published.folder).as_posix() for p in published.folder.rglob("*.parquet"))
    for s in published.splits:
        for name in s.files:
            parquet = pq.ParquetFile(published.folder / name)
            schema = parquet.schema_arrow
            for column in CLASS_LABEL_COLUMNS:
                if column in card[s.config]:
                    assert str(schema.field(column).type) == "int64", (name, column)
            embedded = datasets.Features.from_dict(json.loads(schema.metadata[b"huggingface"])["info"]["features"])
            assert embedded == card[s.config]
            assert schema.field("image").type == card[s.config].arrow_schema.field("image").type


def test_shards_and_row_groups_follow_the_plan(published, sample_dir):
    train = next(s for s in published.splits if s.config == "default")
    source_rows, source_bytes = train.rows, sum(
        pq.ParquetFile(p).metadata.row_group(i).total_byte_size
        for p in sorted((sample_dir / "data").glob("train-*.parquet")) for i in range(pq.ParquetFile(p).metadata.num_row_groups))
    plan, group = shard_plan(source_rows, source_bytes, shard_bytes=SHARD_BYTES, row_group_bytes=GROUP_BYTES)
    assert len(plan) > 1 and len(train.files) == len(plan)
    for name, rows in zip(train.files, plan):
        meta = pq.ParquetFile(published.folder / name).metadata
        assert meta.num_rows == rows
        sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        assert all(n == group for n in sizes[:-1]) and 0 < sizes[-1] <= group


@pytest.mark.parametrize(("rows", "nbytes"), [(0, 0), (1, 10), (7, 10**9), (93_258, 3_568_134_896), (1000, 999)])
def test_shard_plan_covers_every_row_within_the_limits(rows, nbytes):
    plan, group = shard_plan(rows, nbytes)
    assert sum(plan) == rows and max(plan) - min(plan) <= 1 and group >= 1
    if rows:
        per_row = nbytes / rows
        assert max(plan) * per_row <= 500_000_000 or max(plan) == 1
        assert group * per_row <= 100_000_000 or group == 1


def test_an_existing_folder_is_refused_without_overwrite(published, sample_dir):
    before = (published.folder / "README.md").read_text()
    with pytest.raises(UsageError, match="already holds files"):
        publish(sample_dir, published.folder, progress=False)
    assert (published.folder / "README.md").read_text() == before


def test_republished_rows_are_loaded_from_the_same_cache(mirror, tmp_path):
    """Other rows into the same folder, loaded through the same cache, give the new rows.

    The control shows what the fingerprint prevents: with one card for both contents (the
    fingerprint removed, dataset_info kept), ``datasets`` serves the first rows from its cache.
    """
    folder, cache, stale_cache = tmp_path / "out", tmp_path / "cache", tmp_path / "stale-cache"
    first = publish(mirror, folder, progress=False)
    first_meta, first_body = read_card(folder / "README.md")
    before = plain_load(folder, ["default"], cache=cache)
    unfingerprinted = {**first_meta, "configs": [{k: v for k, v in c.items() if k != "description"} for c in first_meta["configs"]]}
    (folder / "README.md").write_text(render_card(unfingerprinted, first_body))
    assert plain_load(folder, ["default"], cache=stale_cache) == before
    for shard in sorted((mirror / "data").glob("train-*.parquet")):
        rewrite_parquet(shard, lambda t: t.take(list(range(t.num_rows - 1, -1, -1))))
    second = publish(mirror, folder, overwrite=True, progress=False)
    meta, body = read_card(folder / "README.md")
    assert second.fingerprint != first.fingerprint
    assert all(c["description"] == FINGERPRINT_PREFIX + second.fingerprint for c in meta["configs"])
    # the same card as before but for the fingerprint (byte counts may differ by a byte or two: keep the first's)
    (folder / "README.md").write_text(render_card({**meta, "dataset_info": first_meta["dataset_info"]}, body))
    after = plain_load(folder, ["default"], cache=cache)
    assert after["default/train"] == expected(mirror)["default/train"] != before["default/train"]
    (folder / "README.md").write_text(render_card(unfingerprinted, first_body))  # control: no fingerprint, one card
    assert plain_load(folder, ["default"], cache=stale_cache) == before  # the old rows, from the cache


def test_the_ablate_card_names_its_shards_fingerprint(all_formats):
    for folder in all_formats["folders"]:
        meta, _ = read_card(folder / "README.md")
        shards = sorted(p.relative_to(folder).as_posix() for p in (folder / "data").glob("*.parquet"))
        assert meta["configs"][0]["description"] == FINGERPRINT_PREFIX + content_fingerprint(folder, shards)


def test_push_to_the_hub_api_and_load_it_back_with_plain_datasets(published, sample_dir, tmp_path):
    from hub_server import HubServer

    with HubServer() as hub:
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_TOKEN": "hf_test", "HF_HUB_DISABLE_XET": "1",
               "HF_DATASETS_CACHE": str(tmp_path / "ds"), "SPA_VL_CACHE": str(tmp_path / "spa")}
        env.pop("HF_HUB_OFFLINE", None)
        out = subprocess.run([sys.executable, "-m", "spa_vl.cli", "publish", str(sample_dir), "--out", str(tmp_path / "pub"),
                              "--push", "someone/SPA-VL-labelled", "--max-shard-mb", "0.06"],
                             env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        commits = hub.repos["someone/SPA-VL-labelled"]
        sha = commits[-1].sha
        assert f"pushed someone/SPA-VL-labelled @ {sha}: {hub.url}/datasets/someone/SPA-VL-labelled/tree/{sha}" in out.stdout
        local = sorted(p.relative_to(tmp_path / "pub").as_posix() for p in (tmp_path / "pub").rglob("*") if p.is_file())
        assert sorted(commits[-1].files) == sorted([*local, ".gitattributes"])
        assert len([f for f in local if f.startswith("data/")]) > 1
        got = plain_load("someone/SPA-VL-labelled", list(HUB_CONFIGS), cache=tmp_path / "hub-cache",
                         env={"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0"}, revision=sha)
        # a second publish with one train shard replaces the first in one commit: no stale shard stays
        again = subprocess.run([sys.executable, "-m", "spa_vl.cli", "publish", str(sample_dir), "--out", str(tmp_path / "pub2"),
                                "--push", "someone/SPA-VL-labelled"], env=env, capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stderr[-3000:]
        assert len(commits) == 3  # .gitattributes, the first publish, the second
        local = sorted(p.relative_to(tmp_path / "pub2").as_posix() for p in (tmp_path / "pub2").rglob("*") if p.is_file())
        assert sorted(commits[-1].files) == sorted([*local, ".gitattributes"])
        assert [f for f in local if f.startswith("data/")] == ["data/train-00000-of-00001.parquet"]
    assert got == expected(sample_dir)


# --- the official training files for the whole train (publish --format rlhf) -------------------------


def official_items(source: Path) -> dict[str, list[dict]]:
    """What the official files must hold, derived from the loader and the split files read here.

    Every train row with known classes and question type, under its training key, with the image at
    ``<class1>/<class2>/<class3>/<image of the split record holding the row's texts>``.
    """
    from spa_vl.analysis.writers.rlhf import RLHF_KEY

    names: dict[tuple, str] = {}
    for path in sorted((source / "meta_files" / "split").glob("*.json")):
        for record in json.loads(path.read_text(encoding="utf-8")):
            names.setdefault((record["question"], record["chosen"], record["rejected"]), record["image"])
    train = spa_vl.load_dataset(str(source), "train", split="train").remove_columns(["image"])
    out: dict[str, list[dict]] = {key: [] for key in RLHF_KEY.values()}
    for row in train:
        if min(row["class1"], row["class2"], row["class3"], row["question_type"]) < 0:
            continue
        classes = [train.features[c].int2str(row[c]) for c in ("class1", "class2", "class3")]
        key = RLHF_KEY[train.features["question_type"].int2str(row["question_type"])]
        image = "/".join([*classes, names[(row["question"], row["chosen"], row["rejected"])]])
        out[key].append({"image": image, "question": row["question"], "chosen": row["chosen"], "rejected": row["rejected"]})
    return out


def read_back(result: dict) -> dict[str, list[dict]]:
    """The official loader's items per key, less ``id`` and ``row_id`` (checked apart)."""
    items = next(iter(result["items"].values()))
    out: dict[str, list[dict]] = {}
    for item in items:
        assert isinstance(item["id"], int) and 0 <= item["id"] < 2**63
        out.setdefault(item["key"], []).append({k: item[k] for k in ("image", "question", "chosen", "rejected")})
    return out


def test_official_training_files_hold_every_labelled_train_row_for_the_official_loader(sample_dir, tmp_path):
    from test_export_rlhf import replay

    from spa_vl.analysis.writers.official import CONFIG_FILE, TRAIN_FILES, write_training_files

    files = write_training_files(sample_dir, tmp_path / "official", progress=False)
    config = json.loads((tmp_path / "official" / CONFIG_FILE).read_text())
    assert list(config) == ["hardq", "hardd", "easy"] and {Path(p).name for p in config.values()} == set(TRAIN_FILES.values())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    got = read_back(replay([str(tmp_path / "official" / CONFIG_FILE)], list(config), str(files.image_folder), cwd=elsewhere))
    want = official_items(sample_dir)
    assert {k: sorted(v, key=json.dumps) for k, v in got.items()} == {k: sorted(v, key=json.dumps) for k, v in want.items() if v}
    assert sum(files.rows.values()) == sum(map(len, want.values()))


def test_official_files_can_point_at_an_unzipped_train_zip(sample_dir, tmp_path):
    import shutil

    from test_export_rlhf import replay

    from spa_vl.analysis.writers.official import CONFIG_FILE, write_training_files
    from spa_vl.errors import SpaVLError

    copied = write_training_files(sample_dir, tmp_path / "copied", progress=False)
    unzipped = tmp_path / "train"  # stands for an unzipped train.zip: the class folders
    shutil.copytree(copied.image_folder, unzipped)
    files = write_training_files(sample_dir, tmp_path / "linked", image_folder=unzipped, progress=False)
    assert files.image_folder == unzipped.resolve() and files.images_written == 0
    assert not (tmp_path / "linked" / "images").exists()
    got = read_back(replay([str(tmp_path / "linked" / CONFIG_FILE)], ["hardq", "hardd", "easy"], str(unzipped), cwd=tmp_path))
    assert got == read_back(replay([str(tmp_path / "copied" / CONFIG_FILE)], ["hardq", "hardd", "easy"], str(copied.image_folder),
                                   cwd=tmp_path))
    gone = next(p for p in sorted(unzipped.rglob("*.jpg")))
    gone.unlink()
    with pytest.raises(SpaVLError, match=f"1 of the .* are not there, e.g. {re.escape(gone.relative_to(unzipped).as_posix())}"):
        write_training_files(sample_dir, tmp_path / "refused", image_folder=unzipped, progress=False)
    assert not (tmp_path / "refused").exists()


def test_a_refused_push_is_one_line_naming_the_repo_and_the_status(sample_dir, tmp_path):
    from hub_server import HubServer

    with HubServer() as hub:
        hub.fail(r"/commit/", 403)
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_TOKEN": "hf_test", "HF_HUB_DISABLE_XET": "1",
               "HF_DATASETS_CACHE": str(tmp_path / "ds"), "SPA_VL_CACHE": str(tmp_path / "spa")}
        env.pop("HF_HUB_OFFLINE", None)
        out = subprocess.run([sys.executable, "-m", "spa_vl.cli", "publish", str(sample_dir), "--out", str(tmp_path / "pub"),
                              "--push", "someone/refused"], env=env, capture_output=True, text=True, timeout=300)
    lines = [line for line in out.stderr.splitlines() if line.startswith("spa-vl: error:")]
    assert out.returncode == 1 and len(lines) == 1 and "Traceback" not in out.stderr
    assert "someone/refused" in lines[0] and "HTTP 403" in lines[0] and "HF_TOKEN" in lines[0]
    assert (tmp_path / "pub" / "README.md").is_file()  # the local folder is kept: push it again later


def test_a_hub_source_is_named_by_its_commit_in_the_card(sample_dir, tmp_path):
    from hub_server import HubServer

    with HubServer() as hub:
        sha = hub.commit("sqrti/SPA-VL", sample_dir)
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_DATASETS_CACHE": str(tmp_path / "ds"), "SPA_VL_CACHE": str(tmp_path / "spa")}
        env.pop("HF_HUB_OFFLINE", None)
        out = subprocess.run([sys.executable, "-m", "spa_vl.cli", "publish", "sqrti/SPA-VL", "--out", str(tmp_path / "pub")],
                             env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    _, body = read_card(tmp_path / "pub" / "README.md")
    assert f"Built from `sqrti/SPA-VL@{sha}`" in body
