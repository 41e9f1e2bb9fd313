import importlib.util
import sys
import warnings

import datasets
import pyarrow.parquet as pq
import pytest
from helpers import REPO, rewrite_parquet, set_column
from PIL import Image

from spa_vl import SpaVLWarning, load_dataset
from spa_vl.sample import generate_sample, split_sizes
from spa_vl.taxonomy import reference_names


@pytest.fixture(scope="module")
def script():
    """spa_vl.py loaded by file path, as a classic loading script is."""
    spec = importlib.util.spec_from_file_location("spa_vl_loading_script", REPO / "spa_vl.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as datasets' own script loader did
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


@pytest.mark.parametrize("config, splits", [("train", ["train"]), ("validation", ["validation"]), ("eval", ["harm", "help"])])
def test_script_builder_builds_every_config(script, sample_dir, tmp_path, config, splits):
    builder = script.SpaVL(config_name=config, data_dir=str(sample_dir), cache_dir=str(tmp_path / "cache"))
    builder.download_and_prepare()
    built = builder.as_dataset()
    assert sorted(built) == sorted(splits)
    for split in splits:
        expected = split_sizes(300)[(config, split)]
        assert built[split].num_rows == expected
        features = built[split].features
        assert isinstance(features["image"], datasets.Image)
        assert features["class1"].names == reference_names("class1")
        assert features["question_type"].names == ["easy", "hardq", "hards"]
        assert ("chosen" in features) == (config != "eval")
        assert ("chosen_model" in features) == (config != "eval")
        assert "width" not in features and "reason1" not in features  # opt-in only
        assert ("image_name" in features) == (config == "train")


def test_script_and_package_share_one_builder(script):
    import spa_vl.builder

    assert script.SpaVL is spa_vl.builder.SpaVL
    assert [c.name for c in script.SpaVL.BUILDER_CONFIGS] == ["train", "validation", "eval"]


def test_aliases_default_and_test(sample_dir):
    default = load_dataset(sample_dir, "default", split="train")
    test = load_dataset(sample_dir, "test")
    assert default.num_rows == split_sizes(300)[("train", "train")]
    assert sorted(test) == ["harm", "help"]


def test_images_decode_and_every_train_row_is_labelled(sample_dir):
    train = load_dataset(sample_dir, "train", split="train")
    row = train[5]
    assert isinstance(row["image"], Image.Image) and row["image"].size == (32, 32)
    assert "/" not in row["image_name"]  # the hub's bare global file name
    labels = train.select_columns(["class1", "class3", "question_type", "chosen_model", "rejected_model"]).to_pandas()
    assert (labels >= 0).all().all()  # every sample row is labelled, through the meta files
    assert set(labels["question_type"]) == {0, 1, 2}
    assert (labels["chosen_model"] != labels["rejected_model"]).all()


def test_question_type_comes_from_the_meta_files(sample_dir):
    import json

    validation = load_dataset(sample_dir, "validation", split="validation")
    easy = {r["question"] for r in json.loads((sample_dir / "meta_files/split/easy.json").read_text())}
    types = validation.features["question_type"]
    for row in validation.select(range(20)):
        assert (types.int2str(row["question_type"]) == "easy") == (row["question"] in easy)


def test_class_path_image_names_are_parsed(tmp_path):
    paths = generate_sample(tmp_path / "paths", rows=80, seed=2, image_name_style="path")
    (paths / "meta_files/image_info/meta.json").unlink()  # labels can only come from the paths
    train = load_dataset(paths, "train", split="train", cache_dir=str(tmp_path / "c"))
    names = {level: train.features[level].names for level in ("class1", "class2", "class3")}
    for row in train.select_columns(["image_name", "class1", "class2", "class3"]):
        c1, c2, c3, _ = row["image_name"].split("/")
        assert (names["class1"][row["class1"]], names["class2"][row["class2"]], names["class3"][row["class3"]]) == (c1, c2, c3)


def test_unknown_labels_are_minus_one_and_new_names_warn(mirror, tmp_path):
    val_file = mirror / "validation/validation-00000-of-00001.parquet"
    n = pq.read_metadata(val_file).num_rows
    rewrite_parquet(val_file, lambda t: set_column(t, "class3", ["brand new sub"] + [None] * (n - 1)))
    shard = mirror / "data/train-00000-of-00008.parquet"
    m = pq.read_metadata(shard).num_rows
    rewrite_parquet(shard, lambda t: set_column(t, "image_name", ["just-a-file.jpg"] * m))  # in no meta record
    (mirror / "meta_files/split/easy.json").unlink()

    with pytest.warns(SpaVLWarning, match="brand new sub"):
        val = load_dataset(mirror, "validation", split="validation", cache_dir=str(tmp_path / "cache"))
    names = val.features["class3"].names
    assert names[-1] == "brand new sub" and names[:53] == reference_names("class3")
    assert val[0]["class3"] == len(names) - 1
    assert set(val["class3"][1:]) == {-1}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpaVLWarning)
        train = load_dataset(mirror, "train", split="train", cache_dir=str(tmp_path / "cache"))
        # The same label list for every config of the source: ids mean the same everywhere.
        assert train.features["class3"].names == names
    first_shard = train.select(range(m))
    assert set(first_shard["class1"]) == {-1}
    assert -1 in set(train["question_type"])  # easy questions lost their meta file


def test_cache_is_keyed_by_content_not_path(mirror, tmp_path):
    cache = str(tmp_path / "cache")
    before = load_dataset(mirror, "validation", split="validation", cache_dir=cache)
    val_file = mirror / "validation/validation-00000-of-00001.parquet"
    rewrite_parquet(val_file, lambda t: t.slice(0, 10))
    after = load_dataset(mirror, "validation", split="validation", cache_dir=cache)
    assert before.num_rows > 10 and after.num_rows == 10


def test_streaming_reads_the_same_rows(sample_dir):
    streamed = load_dataset(sample_dir, "eval", split="harm", streaming=True)
    rows = list(streamed)
    built = load_dataset(sample_dir, "eval", split="harm")
    assert [r["question"] for r in rows] == built["question"]
    assert [r["class2"] for r in rows] == built["class2"]
