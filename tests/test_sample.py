import datasets
import pyarrow.parquet as pq
import pytest

from helpers import tree_digest
from spa_vl.errors import SpaVLError
from spa_vl.layout import HUB_SPLIT_ROWS, read_card
from spa_vl.sample import generate_sample, split_sizes
from spa_vl.taxonomy import reference_names


def test_split_sizes_keep_hub_proportions():
    assert split_sizes(100_788) == HUB_SPLIT_ROWS
    small = split_sizes(300)
    assert sum(small.values()) == 300
    assert min(small.values()) >= 10
    assert small[("validation", "validation")] == round(300 * 7000 / 100_788)
    with pytest.raises(SpaVLError, match="at least 40 rows"):
        split_sizes(39)


def test_sample_has_the_exact_hub_layout(sample_dir):
    files = sorted(str(p.relative_to(sample_dir)) for p in sample_dir.rglob("*") if p.is_file())
    assert files == [
        "README.md",
        *[f"data/train-{i:05d}-of-00008.parquet" for i in range(8)],
        "meta_files/prefer/easy.json",
        "meta_files/prefer/hardq.json",
        "meta_files/prefer/hards.json",
        "meta_files/split/easy.json",
        "meta_files/split/hardq.json",
        "meta_files/split/hards.json",
        "test/harm-00000-of-00001.parquet",
        "test/help-00000-of-00001.parquet",
        "validation/validation-00000-of-00001.parquet",
    ]
    metadata, _ = read_card(sample_dir / "README.md")
    assert [c["config_name"] for c in metadata["configs"]] == ["default", "validation", "test"]
    train = pq.read_table(sample_dir / "data")
    assert train.column_names == ["image", "question", "chosen", "rejected", "image_name"]
    assert pq.read_schema(sample_dir / "test/harm-00000-of-00001.parquet").names == [
        "image", "question", "class1", "class2", "class3"
    ]
    # Taxonomy only from the reference names; image_name is the `<c1>/<c2>/<c3>/<n>.jpg` path.
    val = pq.read_table(sample_dir / "validation").to_pandas()
    assert set(val["class3"]) <= set(reference_names("class3"))
    assert train.column("image_name")[0].as_py().count("/") == 3


def test_plain_datasets_load_dataset_reads_the_sample(sample_dir):
    validation = datasets.load_dataset(str(sample_dir), "validation", split="validation")
    assert validation.num_rows == split_sizes(300)[("validation", "validation")]
    image = validation[0]["image"]
    assert image.size == (32, 32) and image.format == "JPEG"
    test = datasets.load_dataset(str(sample_dir), "test")
    assert set(test) == {"harm", "help"}


def test_same_seed_same_bytes_other_seed_other_rows(tmp_path):
    a = generate_sample(tmp_path / "a", rows=120, seed=3)
    b = generate_sample(tmp_path / "b", rows=120, seed=3)
    c = generate_sample(tmp_path / "c", rows=120, seed=4)
    assert tree_digest(a) == tree_digest(b)
    assert tree_digest(a) != tree_digest(c)
    assert pq.read_table(a / "data").column("question") != pq.read_table(c / "data").column("question")


def test_sample_refuses_to_overwrite_unless_asked(tmp_path):
    out = generate_sample(tmp_path / "s", rows=60, seed=1)
    with pytest.raises(SpaVLError, match="--overwrite"):
        generate_sample(out, rows=60, seed=2)
    generate_sample(out, rows=60, seed=2, overwrite=True)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left


def test_texts_vary_within_a_subcategory(sample_dir):
    val = pq.read_table(sample_dir / "data").to_pandas()
    assert val["question"].nunique() > 0.5 * len(val)
    assert val["chosen"].nunique() > 0.5 * len(val)
    # chosen refuses or redirects, rejected complies
    assert not set(val["chosen"]) & set(val["rejected"])
