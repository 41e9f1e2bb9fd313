"""Image analyses on a real mirror folder of real JPEG/PNG bytes with planted duplicates.

The mirror is built here: seeded photo-like images, some copied exactly, resized, re-encoded or
slightly cropped into other train rows and into the eval splits, written as hub-layout Parquet.
"""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from spa_vl.analysis.inputs import images as image_input
from spa_vl.analysis.metrics import images as image_metrics

SIZE = 256


def photo(seed: int, size: int = SIZE) -> Image.Image:
    """A photo-like image: smooth seeded colour field plus grain."""
    rng = np.random.default_rng(seed)
    field = Image.fromarray(rng.uniform(0, 255, size=(6, 6, 3)).astype(np.uint8)).resize((size, size), Image.BICUBIC)
    pixels = np.asarray(field).astype(float) + rng.normal(0, 8, size=(size, size, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def encode(image: Image.Image, fmt: str = "JPEG", quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": quality} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def crop(image: Image.Image, px: int = 6) -> Image.Image:
    return image.crop((px, px, image.width - px, image.height - px))


def write_split(path, payloads: list[bytes], with_answers: bool = True) -> None:
    n = len(payloads)
    columns = {
        "image": pa.array([{"bytes": b, "path": None} for b in payloads], pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
        "question": [f"question {i}?" for i in range(n)],
    }
    if with_answers:
        columns |= {"chosen": [f"chosen {i}" for i in range(n)], "rejected": [f"rejected {i}" for i in range(n)]}
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path, row_group_size=7)  # several row groups and batches per file


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A mirror with 30 distinct train images and known duplicates; returns (folder, expectations)."""
    root = tmp_path_factory.mktemp("images") / "mirror"
    originals = [photo(seed) for seed in range(30)]
    train = [encode(im) for im in originals]
    # within train: rows 30, 31 exact copies of rows 0, 1; 32 resized 0.5x of 2; 33 re-encoded q=40 of 3;
    # 34 cropped 2.3 % per side of 4; 35 PNG of 5 (same pixels, other format)
    train += [train[0], train[1], encode(originals[2].resize((SIZE // 2, SIZE // 2))), encode(originals[3], quality=40),
              encode(crop(originals[4])), encode(originals[5], "PNG")]
    train += [encode(photo(seed)) for seed in range(100, 110)]  # 10 more distinct images: 46 rows
    harm = [train[6], encode(crop(originals[7])), encode(photo(200)), encode(photo(201))]  # 1 exact, 1 near, 2 new
    help_ = [encode(originals[8].resize((300, 300))), encode(photo(300)), encode(photo(301))]  # 1 near (upscaled)
    validation = [encode(photo(400 + i)) for i in range(5)]
    write_split(root / "data" / "train-00000-of-00002.parquet", train[:20])
    write_split(root / "data" / "train-00001-of-00002.parquet", train[20:])
    write_split(root / "validation" / "validation-00000-of-00001.parquet", validation)
    write_split(root / "test" / "harm-00000-of-00001.parquet", harm, with_answers=False)
    write_split(root / "test" / "help-00000-of-00001.parquet", help_, with_answers=False)
    return root, {"train": train, "harm": harm, "help": help_}


def test_image_table_reads_headers_and_hashes_every_row(planted):
    root, data = planted
    table = image_input.image_table(root, n_jobs=1, batch_size=8)
    counts = table["split"].value_counts()
    assert counts["train/train"] == len(data["train"]) and counts["eval/harm"] == 4 and counts["eval/help"] == 3
    train = table[table["split"] == "train/train"].reset_index(drop=True)
    assert train["row"].tolist() == list(range(len(data["train"])))  # file order across both shards
    assert train.loc[32, ["width", "height"]].tolist() == [SIZE // 2, SIZE // 2]
    assert train.loc[34, "width"] == SIZE - 12
    assert train.loc[35, "format"] == "PNG" and train.loc[0, "format"] == "JPEG"
    assert train["bytes"].tolist() == [len(b) for b in data["train"]]
    assert train.loc[30, "sha256"] == train.loc[0, "sha256"] != train.loc[2, "sha256"]


def test_pool_and_cache_give_the_same_table(planted, monkeypatch, tmp_path):
    root, _ = planted
    monkeypatch.setenv("SPA_VL_CACHE", str(tmp_path / "cache"))  # empty cache: every image is hashed
    in_process = image_input.image_table(root, n_jobs=1, batch_size=8)
    monkeypatch.setenv("SPA_VL_CACHE", str(tmp_path / "cache2"))
    monkeypatch.setattr(image_input, "_POOL_FROM", 1)  # force the worker pool on this small mirror
    pooled = image_input.image_table(root, n_jobs=2, batch_size=8)
    assert image_input._ContentCache.load(image_metrics.HASH_SIZE).entries  # saved by content
    cached = image_input.image_table(root, n_jobs=2, batch_size=8)  # every content from the cache now
    pd.testing.assert_frame_equal(pooled, in_process)
    pd.testing.assert_frame_equal(cached, in_process)


def test_a_second_table_reads_no_image_bytes_and_an_edited_file_is_hashed_again(planted, monkeypatch, tmp_path):
    """Each split file's rows are kept by the file's stamp: a warm report hashes nothing and reads no image
    (15 s of reading and sha256 at full scale); a rewritten file is read again, the others are not."""
    import shutil

    root = shutil.copytree(planted[0], tmp_path / "mirror")
    monkeypatch.setenv("SPA_VL_CACHE", str(tmp_path / "cache"))
    first = image_input.image_table(root, n_jobs=1, batch_size=8)
    read = image_input._file_image_batches
    opened: list[str] = []

    def counting(parquet, path, batch_size):
        opened.append(path.rsplit("/", 1)[-1])
        return read(parquet, path, batch_size)

    monkeypatch.setattr(image_input, "_file_image_batches", counting)
    pd.testing.assert_frame_equal(image_input.image_table(root, n_jobs=1, batch_size=8), first)
    assert opened == []
    shard = root / "test" / "harm-00000-of-00001.parquet"
    write_split(shard, [encode(photo(900)), encode(photo(901))], with_answers=False)  # other images, fewer rows
    again = image_input.image_table(root, n_jobs=1, batch_size=8)
    assert opened == [shard.name]
    assert again[again["split"] == "eval/harm"]["sha256"].tolist() == [
        hashlib.sha256(encode(photo(s))).hexdigest() for s in (900, 901)]
    others = again["split"] != "eval/harm"
    pd.testing.assert_frame_equal(again[others].reset_index(drop=True), first[first["split"] != "eval/harm"].reset_index(drop=True))


def test_planted_duplicates_are_found_within_train_and_across_splits(planted):
    root, data = planted
    dup = image_metrics.find_duplicates(image_input.image_table(root, n_jobs=1))
    s = dup.summary.set_index(["scope", "kind"])
    # exact within train: rows 0, 30 and 1, 31 (two pairs, four rows)
    assert s.loc[("train/train", "exact"), ["duplicated_rows", "pairs", "images", "duplicated_images"]].tolist() == [4, 2, 44, 2]
    # near within train: the resized, re-encoded, cropped and PNG copies and their originals, nothing else
    near = dup.examples[(dup.examples["scope"] == "train/train") & (dup.examples["kind"] == "near")]
    pairs = {tuple(sorted((a, b))) for a, b in zip(near["row_a"], near["row_b"])}
    assert s.loc[("train/train", "near"), "pairs"] == 4
    assert pairs == {(2, 32), (3, 33), (4, 34), (5, 35)}
    assert s.loc[("train/train", "near"), ["duplicated_rows", "duplicated_images"]].tolist() == [8, 8]
    assert s.loc[("train/train ↔ eval/harm", "near"), ["images", "duplicated_images"]].tolist() == [4, 1]
    assert (near["distance"] <= image_metrics.NEAR_THRESHOLD).all()
    # across splits
    assert s.loc[("train/train ↔ eval/harm", "exact"), "duplicated_rows"] == 1
    assert s.loc[("train/train ↔ eval/harm", "near"), "duplicated_rows"] == 1
    assert s.loc[("train/train ↔ eval/help", "exact"), "duplicated_rows"] == 0
    assert s.loc[("train/train ↔ eval/help", "near"), "duplicated_rows"] == 1
    assert s.loc[("train/train ↔ validation/validation", "near"), "duplicated_rows"] == 0
    assert s.loc[("train/train ↔ eval/harm", "exact"), "share"] == pytest.approx(1 / 4)
    harm = dup.examples[(dup.examples["scope"] == "train/train ↔ eval/harm")].set_index("kind")
    assert (harm.loc["exact", "row_a"], harm.loc["exact", "row_b"]) == (6, 0)
    assert (harm.loc["near", "row_a"], harm.loc["near", "row_b"]) == (7, 1)


def test_a_stricter_threshold_finds_fewer_near_duplicates(planted):
    root, _ = planted
    images = image_input.image_table(root, n_jobs=1)
    loose = image_metrics.find_duplicates(images, threshold=image_metrics.NEAR_THRESHOLD).summary
    strict = image_metrics.find_duplicates(images, threshold=0).summary
    pick = lambda t: t[(t["scope"] == "train/train") & (t["kind"] == "near")]["pairs"].item()  # noqa: E731
    assert pick(strict) < pick(loose)


def test_near_pairs_match_brute_force():
    rng = np.random.default_rng(3)
    a = rng.integers(0, 2**63, size=700, dtype=np.int64).view(np.uint64)
    a[rng.choice(700, 50, replace=False)] = a[:50] ^ np.uint64(0b1011)  # 50 planted pairs at distance <= 3
    has, _, n, best = image_metrics._near_pairs(a, None, 6, keep=5)
    bits = np.bitwise_count(a[:, None] ^ a[None, :])
    expected = np.triu(bits <= 6, k=1)
    assert n == expected.sum() and (has == (expected | expected.T).any(axis=1)).all()
    assert (best[:, 2] == np.sort(bits[expected])[:5]).all()


def test_fetch_images_returns_the_rows_bytes(planted):
    root, data = planted
    got = image_input.fetch_images(root, [("train/train", 33), ("eval/help", 2), ("train/train", 0)])
    assert got[("train/train", 33)] == data["train"][33] and got[("eval/help", 2)] == data["help"][2]


def test_unreadable_bytes_do_not_stop_the_table(tmp_path):
    root = tmp_path / "mirror"
    write_split(root / "data" / "train-00000-of-00001.parquet", [encode(photo(1)), b"\xff\xd8 not really a jpeg"])
    table = image_input.image_table(root, n_jobs=1)
    assert table["format"].tolist() == ["JPEG", "unreadable"]
    assert image_metrics.find_duplicates(table).summary.loc[0, "rows"] == 1  # the unreadable row is left out
