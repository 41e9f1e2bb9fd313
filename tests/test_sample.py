import json
import re

import datasets
import pyarrow.parquet as pq
import pytest
from helpers import tree_digest

from spa_vl.errors import SpaVLError
from spa_vl.layout import HUB_SPLIT_ROWS, read_card
from spa_vl.sample import generate_sample, split_sizes
from spa_vl.taxonomy import RESPONSE_MODELS, reference_names


def test_split_sizes_keep_hub_proportions():
    assert split_sizes(100_788) == HUB_SPLIT_ROWS
    small = split_sizes(300)
    assert sum(small.values()) == 300
    assert min(small.values()) >= 10
    assert small[("validation", "validation")] == round(300 * 7000 / 100_788)
    with pytest.raises(SpaVLError, match=r"at least 40 rows \(rows=40\)"):
        split_sizes(39)


def test_sample_has_the_exact_hub_layout(sample_dir):
    files = sorted(str(p.relative_to(sample_dir)) for p in sample_dir.rglob("*") if p.is_file())
    assert files == [
        "README.md",
        *[f"data/train-{i:05d}-of-00008.parquet" for i in range(8)],
        "meta_files/image_info/meta.json",
        *[f"meta_files/{kind}/{t}.json" for kind in ("model_answer", "prefer", "safety", "split") for t in ("easy", "hardq", "hards")],
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
    # Taxonomy only from the reference names; image_name is a bare global file name, as on the hub.
    val = pq.read_table(sample_dir / "validation").to_pandas()
    assert set(val["class3"]) <= set(reference_names("class3"))
    assert all(re.fullmatch(r"\d+\.jpg", n) for n in train.column("image_name").to_pylist())
    # The real text quirks: every question starts with whitespace; responses are long.
    questions = train.column("question").to_pylist()
    assert all(q[:1].isspace() for q in questions) and any(q.strip().startswith('"') for q in questions)
    words = {c: [len(t.split()) for t in train.column(c).to_pylist()] for c in ("chosen", "rejected")}
    assert 20 <= sum(words["chosen"]) / len(questions) < sum(words["rejected"]) / len(questions) <= 250
    assert max(words["rejected"]) >= 150


def test_sample_meta_files_have_the_documented_fields(sample_dir):
    def fields(relative):
        records = json.loads((sample_dir / "meta_files" / relative).read_text())
        return records, set().union(*map(set, records))

    info, info_fields = fields("image_info/meta.json")
    assert info_fields == {"image", "width", "height", "url", "md5", "caption_laion", "text_similarity", "text_count", "gemini_caption", "class1", "class2", "class3"}
    train_names = set(pq.read_table(sample_dir / "data", columns=["image_name"]).column(0).to_pylist())
    assert {r["image"] for r in info} == train_names
    for t in ("easy", "hardq", "hards"):
        assert fields(f"split/{t}.json")[1] == {"image", "question", "chosen", "rejected"}
        assert fields(f"prefer/{t}.json")[1] == {"image", "question", "chosen", "rejected", "reason1", "reason2"}
        assert fields(f"model_answer/{t}.json")[1] == {"image", "question", *RESPONSE_MODELS}


def test_full_size_eval_harm_holds_each_subcategory_five_times():
    sizes = split_sizes(100_788)
    assert sizes[("eval", "harm")] == 53 * 5


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
    with pytest.raises(SpaVLError, match="overwrite=True"):
        generate_sample(out, rows=60, seed=2)
    generate_sample(out, rows=60, seed=2, overwrite=True)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left


def test_texts_vary_within_a_subcategory(sample_dir):
    val = pq.read_table(sample_dir / "data").to_pandas()
    assert val["question"].nunique() > 0.5 * len(val)
    assert val["chosen"].nunique() > 0.5 * len(val)
    # chosen refuses or redirects, rejected complies
    assert not set(val["chosen"]) & set(val["rejected"])



def test_only_planted_images_are_duplicates(sample_dir):
    """Textured images: the near (dhash distance ≤ threshold) and exact pairs are exactly the planted copies."""
    import io
    from itertools import combinations

    import imagehash
    from conftest import SAMPLE_ROWS
    from PIL import Image

    from spa_vl.analysis.metrics.images import HASH_SIZE, NEAR_THRESHOLD
    from spa_vl.sample import planted_duplicates

    split_of, payload = {}, {}
    for path in sorted(sample_dir.rglob("*.parquet")):
        split = {"data": "train/train", "validation": "validation/validation"}.get(path.parent.name) or f"eval/{path.name.split('-')[0]}"
        for image in pq.read_table(path, columns=["image"]).column("image").to_pylist():
            split_of[image["path"]], payload[image["path"]] = split, image["bytes"]
    dhash = {name: imagehash.dhash(Image.open(io.BytesIO(b)), hash_size=HASH_SIZE) for name, b in payload.items()}
    found: dict[str, dict[str, int]] = {split: {"near": 0, "exact": 0} for split in split_of.values()}
    for a, b in combinations(sorted(payload), 2):
        if payload[a] == payload[b]:
            kind = "exact"
        elif dhash[a] - dhash[b] <= NEAR_THRESHOLD:
            kind = "near"
        else:
            continue
        assert "train/train" in (split_of[a], split_of[b]), (a, b)  # every copy is of a train image
        copy_split = split_of[b] if split_of[a] == "train/train" else split_of[a]
        found[copy_split][kind] += 1
    assert found == planted_duplicates(SAMPLE_ROWS, seed=7)
    assert all(n >= 1 for counts in found.values() for n in counts.values())
