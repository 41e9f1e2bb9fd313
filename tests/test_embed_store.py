"""The embedding store (spa-vl embed, local engine) and the analyses that read it (report, recipe)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spa_vl.analysis.embeddings.encoder import Encoder, default_model, text_keys
from spa_vl.analysis.embeddings.engines import embed_source
from spa_vl.analysis.embeddings.store import (
    KEY_COLUMN,
    MANIFEST,
    VECTOR_COLUMN,
    EmbeddingStore,
    StoreError,
    digest_keys,
    hex_keys,
    open_store,
    vector_table,
)
from spa_vl.cli import main
from spa_vl.errors import OutputError, SpaVLError

FIELDS = ("question", "chosen", "rejected")


def texts_in_files(folder, fields=FIELDS) -> dict[str, str]:
    """Every distinct text of ``fields`` in every Parquet file of a hub-layout folder, by its hex SHA-256 (the slow way)."""
    out = {}
    for path in sorted(folder.rglob("*.parquet")):
        table = pq.read_table(path)
        for field in fields:
            if field in table.column_names:
                for text in table[field].to_pylist():
                    text = "" if text is None else text
                    out[hashlib.sha256(text.encode("utf-8")).hexdigest()] = text
    return out


def stored(store_path) -> dict[str, np.ndarray]:
    """Every vector of a store by key, read straight from its Parquet parts."""
    out = {}
    for part in sorted(p for p in store_path.iterdir() if p.name.startswith("part-")):
        table = pq.read_table(part)
        for key, vector in zip(table[KEY_COLUMN].to_pylist(), table[VECTOR_COLUMN].to_pylist(), strict=True):
            out[key] = np.asarray(vector, np.float32)
    return out


@pytest.fixture(scope="module")
def store(sample_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("store") / "store"
    result = embed_source(sample_dir, path, chunk_rows=300, progress=False)
    assert result.embedded == result.texts > 0
    return path


@given(st.lists(st.text(), max_size=20))
@settings(max_examples=50, deadline=None)
def test_keys_are_sha256_of_the_utf8_text(texts):
    hexes = hex_keys(texts).to_pylist()
    assert hexes == [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
    assert digest_keys(pa.array(hexes, pa.string())).tolist() == text_keys(texts).tolist()


def test_store_holds_every_distinct_text_once_with_the_encoders_vector(store, sample_dir):
    expected = texts_in_files(sample_dir)
    vectors = stored(store)
    assert set(vectors) == set(expected)
    assert sum(pq.read_metadata(p).num_rows for p in store.glob("part-*.parquet")) == len(expected)  # once each
    schema = pq.read_schema(next(store.glob("part-*.parquet")))
    assert schema.field(VECTOR_COLUMN).type == pa.list_(pa.float32(), 384) and schema.field(KEY_COLUMN).type == pa.string()
    keys = sorted(expected)[:25]
    direct = Encoder(cache_dir=False, progress=False).encode([expected[k] for k in keys])
    np.testing.assert_allclose(np.stack([vectors[k] for k in keys]), direct, atol=1e-5)
    manifest = json.loads((store / MANIFEST).read_text())
    assert manifest["model"]["name"] == Encoder(progress=False).model_id and manifest["dimension"] == 384
    assert manifest["fields"] == sorted(FIELDS) and manifest["normalized"] == "l2" and manifest["texts"] == len(expected)
    assert manifest["sources"][0]["fingerprint"] and manifest["spa_vl_version"]


def test_rerun_embeds_nothing_and_a_lost_part_is_embedded_again(store, sample_dir, tmp_path):
    again = embed_source(sample_dir, store, progress=False)
    assert again.embedded == 0 and again.texts == len(texts_in_files(sample_dir))
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    lost = sorted(copy.glob("part-*.parquet"))[0]
    rows = pq.read_metadata(lost).num_rows
    lost.unlink()  # as if the run had died before writing this part
    resumed = embed_source(sample_dir, copy, chunk_rows=300, progress=False)
    assert resumed.embedded == rows
    before, after = stored(store), stored(copy)
    assert set(before) == set(after)
    np.testing.assert_allclose(np.stack([after[k] for k in before]), np.stack(list(before.values())), atol=1e-5)


def test_a_killed_run_keeps_its_finished_parts_and_a_rerun_embeds_the_rest(sample_dir, monkeypatch):
    url = "memory://spa-vl-test/killed-store"  # any fsspec URL is a store
    append = EmbeddingStore.append
    calls = []

    def die_after_first_part(self, table):
        if calls:
            raise KeyboardInterrupt  # the fault hook: a kill between two parts
        calls.append(table.num_rows)
        return append(self, table)

    monkeypatch.setattr(EmbeddingStore, "append", die_after_first_part)
    with pytest.raises(KeyboardInterrupt):
        embed_source(sample_dir, url, fields=["question"], chunk_rows=100, progress=False)
    monkeypatch.setattr(EmbeddingStore, "append", append)
    partial = EmbeddingStore(url)
    assert len(partial) == calls[0] == 100 and not partial.manifest  # finished part kept; no manifest yet
    assert all(name.rsplit("/", 1)[-1].startswith("part-") for name in partial.fs.ls(partial.root, detail=False))  # no temp left
    result = embed_source(sample_dir, url, fields=["question"], chunk_rows=100, progress=False)
    questions = texts_in_files(sample_dir, ["question"])
    assert result.embedded == len(questions) - 100 and set(open_store(url).keys().tolist()) == set(digest_keys(pa.array(list(questions))).tolist())


def test_a_second_writer_fails_at_once(sample_dir, tmp_path):
    with EmbeddingStore(tmp_path / "store").writing(), pytest.raises(OutputError, match="another spa-vl run is writing this embedding store"):
        embed_source(sample_dir, tmp_path / "store", fields=["question"], progress=False)


def test_a_store_of_another_model_is_refused_naming_both(store, tmp_path, sample_dir):
    # the packaged weights with another max length: another model as far as vectors go
    other = tmp_path / "MiniLM-128"
    for f in (p for p in Path(default_model()).rglob("*") if p.is_file()):
        target = other / f.relative_to(default_model())
        target.parent.mkdir(parents=True, exist_ok=True)
        if f.name == "sentence_bert_config.json":
            target.write_text(json.dumps({**json.loads(f.read_text()), "max_seq_length": 128}))
        else:
            target.symlink_to(f)
    with pytest.raises(StoreError) as error:
        Encoder(str(other), store=store, progress=False)
    message = str(error.value)
    assert str(other) in message and "sentence-transformers/all-MiniLM-L6-v2" in message and str(store) in message
    with pytest.raises(StoreError, match="MiniLM-128"):
        embed_source(sample_dir, store, model=str(other), fields=["question"], progress=False)
    with pytest.raises(StoreError, match="not an embedding store"):
        open_store(tmp_path)


def test_report_with_the_store_encodes_nothing(store, sample_dir, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["--quiet", "report", str(sample_dir), "--out", str(out), "--sample", "40", "--embeddings", str(store)]) == 0
    timings = json.loads((out / "timings.json").read_text())
    assert timings["texts_encoded"] == 0 and all(t["texts_encoded"] == 0 for t in timings["stages"])
    # the embedding recipe's vectors come from the store too
    from spa_vl.analysis.subsets.ablation import train_pool

    encoder = Encoder(store=store, cache_dir=False, progress=False)
    pool = train_pool(sample_dir)
    vectors = encoder.encode(pool["question"].tolist())
    assert encoder.last_encoded == 0 and vectors.shape == (len(pool), 384)
    by_key = stored(store)
    np.testing.assert_array_equal(vectors[:5], np.stack([by_key[k] for k in hex_keys(pool["question"].tolist()[:5]).to_pylist()]))


def test_a_store_missing_texts_encodes_only_those(store, tmp_path):
    partial = EmbeddingStore(tmp_path / "partial")
    full = open_store(store)
    with partial.writing():
        keys = full.keys()[:10]
        partial.append(vector_table(pa.array([k.hex() for k in keys.tolist()]), full.vectors()[:10]))
        partial.write_manifest(model=full.manifest["model"], dimension=384, fields=["question"], source=full.manifest["sources"][0])
    encoder = Encoder(store=partial, cache_dir=False, progress=False)
    encoder.encode(["a text no store holds", "another one"])
    assert encoder.last_encoded == 2


def test_embed_cli_bad_fields_and_engine_are_one_line(sample_dir, tmp_path, capsys):
    assert main(["embed", str(sample_dir), "--out", str(tmp_path / "s"), "--fields", "question,answer"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "answer is not a text field" in err and "question,chosen,rejected" in err
    assert not (tmp_path / "s" / MANIFEST).exists()


def test_embed_cli_writes_a_store(sample_dir, tmp_path, capsys):
    assert main(["--quiet", "embed", str(sample_dir), "--out", str(tmp_path / "s"), "--fields", "question"]) == 0
    n = len(texts_in_files(sample_dir, ["question"]))
    assert f"{n} distinct texts, {n} embedded now" in capsys.readouterr().out
    assert open_store(tmp_path / "s").manifest["fields"] == ["question"]


def test_store_errors_are_spa_vl_errors():
    assert issubclass(StoreError, SpaVLError)


def leaves(value, path=""):
    """Every scalar of a JSON-like value by its path."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in leaves(item, f"{path}/{key}").items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in leaves(item, f"{path}/{i}").items()}
    return {path: value}


def test_report_numbers_are_the_same_with_and_without_the_store(store, sample_dir, tmp_path):
    from spa_vl.analysis.report.build import ReportSettings, compute_report
    from spa_vl.analysis.report.render import jsonable

    settings = ReportSettings(diversity_sample=40)
    fresh = compute_report(sample_dir, settings, progress=False, encoder=Encoder(cache_dir=tmp_path, progress=False))
    stored_ = compute_report(sample_dir, settings, progress=False, embeddings=store)
    assert fresh.texts_encoded > 0 and stored_.texts_encoded == 0
    a, b = leaves(jsonable(fresh.stats)), leaves(jsonable(stored_.stats))
    assert a.keys() == b.keys()
    for key, value in a.items():  # vectors equal within 1e-5 (batches differ in padding): numbers equal to that order
        if isinstance(value, float):
            assert b[key] == pytest.approx(value, rel=1e-4, abs=1e-6), key
        else:
            assert b[key] == value, key
