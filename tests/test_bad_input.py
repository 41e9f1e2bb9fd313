"""Bad input end to end: each test feeds real bad files or arguments through the public commands and
checks the one-line message and the files left behind (nothing half-written, no stale cache)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import rewrite_parquet, set_column, tree_digest

import spa_vl
from spa_vl.analysis.inputs.frames import labelled_frame
from spa_vl.analysis.report.build import ReportSettings, compute_report
from spa_vl.cli import main
from spa_vl.errors import SpaVLError
from spa_vl.sample import generate_sample
from spa_vl.taxonomy import SpaVLWarning


def no_temp_left(root: Path) -> bool:
    return not [p for p in root.rglob(".spa-vl-tmp-*")]


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spa_vl.cli", *args], capture_output=True, text=True, env=env)


def test_missing_folder_and_wrong_layout(tmp_path, capsys):
    assert main(["stats", str(tmp_path / "absent")]) == 1
    err = capsys.readouterr().err
    assert str(tmp_path / "absent") in err and "README.md" in err and err.count("\n") == 1
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "file.csv").write_text("a,b\n")
    assert main(["stats", str(tmp_path / "other")]) == 1
    assert "not in the SPA-VL hub layout" in capsys.readouterr().err


def test_missing_shard_named_and_allow_partial(mirror, capsys):
    (mirror / "data/train-00007-of-00008.parquet").unlink()
    assert main(["stats", str(mirror)]) == 1
    err = capsys.readouterr().err
    assert "data/train-00007-of-00008.parquet" in err and "--allow-partial" in err
    full = json.loads((mirror / "README.md").read_text().split("num_examples: ")[1].split("\n")[0])
    assert main(["stats", str(mirror), "--allow-partial", "--name", "train"]) == 0
    captured = capsys.readouterr()
    assert "of the card's" in captured.err and "missing" in captured.err
    present = sum(pq.read_metadata(p).num_rows for p in (mirror / "data").glob("*.parquet"))
    assert f"{present:,} rows of the card's {full:,} ({full - present:,} missing)" in captured.err
    with pytest.warns(SpaVLWarning, match="loaded without"):
        train = spa_vl.load_dataset(mirror, "train", split="train", allow_partial=True)
    assert train.num_rows == present


def test_truncated_parquet_named_no_traceback(mirror, capsys):
    shard = mirror / "validation/validation-00000-of-00001.parquet"
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    assert main(["stats", str(mirror)]) == 1
    err = capsys.readouterr().err
    assert str(shard) in err and "re-download" in err and "Traceback" not in err
    with pytest.raises(SpaVLError, match="re-download"):
        spa_vl.load_dataset(mirror, "validation")
    assert "Traceback" in run_cli("--debug", "stats", str(mirror)).stderr


def test_schema_missing_wrong_and_extra(mirror, tmp_path, capsys):
    val = mirror / "validation/validation-00000-of-00001.parquet"
    original = pq.read_table(val)
    pq.write_table(original.drop_columns(["question"]), val)
    assert main(["stats", str(mirror)]) == 1
    err = capsys.readouterr().err
    assert "column 'question' is missing" in err and str(val) in err
    pq.write_table(original.set_column(1, "question", pa.array(range(original.num_rows))), val)
    assert main(["stats", str(mirror)]) == 1
    assert "column 'question' has type int64" in capsys.readouterr().err
    pq.write_table(original.append_column("source_url", pa.array(["http://x"] * original.num_rows)), val)
    assert main(["stats", str(mirror), "--name", "validation"]) == 0
    assert "extra column(s) 'source_url'" in capsys.readouterr().err
    with pytest.warns(SpaVLWarning, match="source_url"):
        ds = spa_vl.load_dataset(mirror, "validation", split="validation", cache_dir=str(tmp_path / "c"))
    assert ds["source_url"][0] == "http://x"  # kept


def test_unknown_labels_counted_warned_strict_errors(mirror, capsys):
    shard = mirror / "data/train-00002-of-00008.parquet"
    names = pq.read_table(shard, columns=["image_name"]).column("image_name").to_pylist()
    names[0] = "Brand New Domain/Some category/odd sub/1.jpg"
    names[1] = "not-a-path.jpg"
    rewrite_parquet(shard, lambda t: set_column(t, "image_name", names))
    assert main(["stats", str(mirror), "--json", str(mirror.parent / "s.json")]) == 0
    err = capsys.readouterr().err
    assert "'Brand New Domain'" in err and "'odd sub'" in err
    assert "1 row(s) have an image_name that is neither a <class1>/<class2>/<class3>/<file> path nor an image of meta_files/image_info/meta.json" in err
    stats = json.loads((mirror.parent / "s.json").read_text())["train/train"]
    assert stats["class1"]["Brand New Domain"] == 1 and stats["class1"]["unknown"] == 1
    assert main(["stats", str(mirror), "--strict"]) == 1
    assert "strict mode" in capsys.readouterr().err


def test_corrupt_image_bytes(mirror, tmp_path, capsys):
    val = mirror / "validation/validation-00000-of-00001.parquet"
    table = pq.read_table(val)
    images = table.column("image").to_pylist()
    images[3] = {"bytes": b"this is not a jpeg", "path": images[3]["path"]}
    pq.write_table(table.set_column(0, "image", pa.array(images, table.schema.field("image").type)).replace_schema_metadata(table.schema.metadata), val)
    assert main(["stats", str(mirror), "--name", "validation"]) == 0  # statistics never touch images
    with pytest.warns(SpaVLWarning, match=r"validation-00000-of-00001.parquet: image bytes of row 3 are not an image"):
        ds = spa_vl.load_dataset(mirror, "validation", split="validation", cache_dir=str(tmp_path / "c"))
    assert ds[2]["image"].size == (32, 32)
    with pytest.raises(OSError, match=r"validation-00000-of-00001.parquet: row 3 has corrupt image bytes"):
        ds[3]["image"]  # decoding the row names the row and the file


def test_empty_split(mirror, tmp_path):
    help_file = mirror / "test/help-00000-of-00001.parquet"
    rewrite_parquet(help_file, lambda t: t.slice(0, 0))
    stats = spa_vl.compute_stats(mirror)
    assert stats["eval/help"] == {"rows": 0, "class1": {}, "class2": {}, "class3": {}, "question_type": {}}
    report = compute_report(mirror, ReportSettings(diversity_sample=40), progress=False)
    assert report.stats["eval/help"]["rows"] == 0
    assert "eval/help" not in report.stats["diversity"]["train_eval_overlap"]
    from spa_vl.analysis.report.render import write_report

    write_report(report, tmp_path / "r")
    assert (tmp_path / "r" / "report.html").is_file() and no_temp_left(tmp_path)


@pytest.mark.parametrize("sizes", ["0,10", "10,10", "10,999999"])
def test_bad_subset_sizes(sample_dir, tmp_path, capsys, sizes):
    assert main(["ablate", str(sample_dir), "--out", str(tmp_path / "o"), "--sizes", sizes]) == 1
    err = capsys.readouterr().err
    assert "rows" in err and "1.." in err
    assert not (tmp_path / "o").exists() and no_temp_left(tmp_path)


def test_unknown_config_or_split_lists_valid_names(sample_dir, capsys):
    with pytest.raises(SpaVLError, match=r"valid names are train, validation, eval; aliases default \(= train\), test \(= eval\)"):
        spa_vl.load_dataset(sample_dir, "training")
    with pytest.raises(SpaVLError, match="valid splits are harm, help"):
        spa_vl.load_dataset(sample_dir, "test", split="train")
    assert main(["stats", str(sample_dir), "--name", "bogus"]) == 1
    assert "aliases default" in capsys.readouterr().err


def test_hub_offline_and_unreachable_leave_no_cache(tmp_path):
    cache = tmp_path / "hf"
    env = {**os.environ, "HF_DATASETS_CACHE": str(cache), "SPA_VL_CACHE": str(tmp_path / "spa")}
    offline = run_cli("stats", "sqrti/SPA-VL", env={**env, "HF_HUB_OFFLINE": "1"})
    assert offline.returncode == 1 and "local mirror" in offline.stderr and "'sample'" in offline.stderr
    # online, but nothing answers: a closed port on this machine
    unreachable = run_cli("stats", "sqrti/SPA-VL", env={**env, "HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9"})
    assert unreachable.returncode == 1 and "cannot reach the Hugging Face Hub" in unreachable.stderr
    assert unreachable.stderr.count("\n") == 1
    assert not cache.exists() or not any(cache.rglob("*.arrow"))


def test_existing_outputs_refused_then_replaced(sample_dir, tmp_path, capsys):
    out = tmp_path / "rep"
    out.mkdir()
    (out / "report.html").write_text("an older report")
    assert main(["--quiet", "report", str(sample_dir), "--out", str(out), "--sample", "20"]) == 1
    assert "--overwrite" in capsys.readouterr().err and (out / "report.html").read_text() == "an older report"
    assert main(["--quiet", "report", str(sample_dir), "--out", str(out), "--sample", "20", "--overwrite"]) == 0
    assert "SPA-VL report" in (out / "report.html").read_text() and no_temp_left(tmp_path)


def _kill_when_writing(args: list[str], parent: Path, pattern: str, timeout: float = 240) -> bool:
    """Start the CLI, SIGKILL it as soon as its temp output appears; True if it was killed mid-write."""
    process = subprocess.Popen([sys.executable, "-m", "spa_vl.cli", "--quiet", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if list(parent.glob(pattern)):
                process.send_signal(signal.SIGKILL)
                process.wait()
                return True
            time.sleep(0.002)
        return False
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def bigger_sample(tmp_path_factory):
    return generate_sample(tmp_path_factory.mktemp("big") / "s", rows=2400, seed=1, image_size=96)


def test_sigkill_during_ablate(bigger_sample, tmp_path):
    out = tmp_path / "subsets"
    args = ["ablate", str(bigger_sample), "--out", str(out), "--sizes", "800,2000"]
    assert _kill_when_writing(args, out, ".spa-vl-tmp-*"), "the export finished before it could be killed"
    assert not list(out.glob("scale-*"))  # nothing under the final names
    assert main(["--quiet", *args]) == 0  # a rerun succeeds and sweeps the leftovers
    assert main(["ablate", "--verify", str(out)]) == 0 and no_temp_left(tmp_path)


def test_sigkill_during_report(sample_dir, tmp_path):
    out = tmp_path / "report"
    args = ["report", str(sample_dir), "--out", str(out), "--sample", "60"]
    assert _kill_when_writing(args, tmp_path, ".spa-vl-tmp-report.*"), "the report finished before it could be killed"
    assert not out.exists()
    assert main(["--quiet", *args]) == 0 and (out / "stats.json").is_file() and no_temp_left(tmp_path)


def test_null_empty_unicode_and_huge_texts(mirror, tmp_path):
    shard = mirror / "data/train-00000-of-00008.parquet"
    table = pq.read_table(shard)
    questions, chosen, rejected = (table.column(c).to_pylist() for c in ("question", "chosen", "rejected"))
    questions[0] = None
    chosen[1] = ""
    rejected[2] = "拒绝：这个请求涉及伤害。Ça ne va pas — ✋"
    questions[3] = "word " * 200_000  # 1 MB
    for name, values in (("question", questions), ("chosen", chosen), ("rejected", rejected)):
        table = set_column(table, name, values)
    pq.write_table(table, shard)
    stats = spa_vl.compute_stats(mirror, ["train"])
    assert stats["train/train"]["rows"] == sum(pq.read_metadata(p).num_rows for p in (mirror / "data").glob("*.parquet"))
    frame = labelled_frame(mirror, ["train"])
    assert frame["question"].isna().sum() == 1
    report = compute_report(mirror, ReportSettings(diversity_sample=None), progress=False)
    assert report.stats["diversity"]["sample_rows"] == stats["train/train"]["rows"]  # every row embedded
    lengths = report.tables["text_lengths"]
    # the empty chosen answer is an empty text; the null question is missing, so it is skipped, not counted as empty
    every = labelled_frame(mirror)
    assert lengths.xs("question", level="column")["count"].sum() == every["question"].notna().sum() == len(every) - 1
    assert lengths.xs("chosen", level="column")["empty"].sum() >= 1 and lengths["max_words"].max() == 200_000
    ds = spa_vl.load_dataset(mirror, "train", split="train", cache_dir=str(tmp_path / "c"))
    assert ds[2]["rejected"].startswith("拒绝") and ds[0]["question"] is None


def test_mismatched_meta_files(mirror, tmp_path):
    easy = mirror / "meta_files/split/easy.json"
    records = json.loads(easy.read_text())
    records += [{"id": 10**6 + i, "image": "x/y/z/1.jpg", "question": f"a question nobody asked {i}"} for i in range(5)]
    easy.write_text(json.dumps(records))
    (mirror / "meta_files/split/hards.json").unlink()
    with pytest.warns(SpaVLWarning) as caught:
        ds = spa_vl.load_dataset(mirror, "validation", split="validation", cache_dir=str(tmp_path / "c"))
    messages = " ".join(str(w.message) for w in caught)
    assert "meta_files/split/hards.json missing" in messages
    assert "5 of" in messages and "match no row" in messages
    assert "match no item of meta_files/split/; question_type -1" in messages
    names = ds.features["question_type"].names
    assert "hards" not in {names[i] for i in ds["question_type"] if i >= 0} and -1 in ds["question_type"]


def test_embedding_cache_corrupted_or_foreign(tmp_path):
    """(test_embeddings.py covers a tampered chunk and a foreign model.json; here: an emptied chunk and a
    manifest that is not JSON, through the report's own encoder path.)"""
    from spa_vl.analysis.embeddings.encoder import Encoder

    texts = ["first text", "second text", "third text"]
    reference = Encoder(cache_dir=tmp_path, progress=False).encode(texts)
    (chunk,) = tmp_path.rglob("chunk-*.npz")
    chunk.write_bytes(b"")
    (manifest,) = tmp_path.rglob("model.json")
    manifest.write_text("{not json")
    with pytest.warns(SpaVLWarning, match="not from model"):
        encoder = Encoder(cache_dir=tmp_path, progress=False)
        again = encoder.encode(texts)
    assert encoder.last_encoded == 3  # rebuilt, nothing reused
    assert abs(again - reference).max() < 1e-5


# determinism ----------------------------------------------------------------------------------
def test_same_command_same_bytes_across_processes(sample_dir, tmp_path):
    """Same seed, same bytes: every file but timings.json, and the pages without their timing footer.

    The second run finds every embedding in the cache the first one filled, so what it encodes (and how
    long each stage takes) differs: those numbers must live in timings.json and the footer only."""
    import hashlib

    from spa_vl.analysis.report.render import TIMINGS_START, strip_timings

    digests, encoded = [], []
    cache = tmp_path / "cache"  # empty before the first run, shared by both
    for hash_seed in ("0", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "SPA_VL_CACHE": str(cache)}
        out = tmp_path / f"run{hash_seed}"
        for args in (["sample", str(out / "sample"), "--rows", "80", "--seed", "5"],
                     ["report", str(sample_dir), "--out", str(out / "report"), "--sample", "50", "--seed", "5"]):
            result = run_cli("--quiet", *args, env=env)
            assert result.returncode == 0, result.stderr
        digest = tree_digest(out)
        assert "report/timings.json" in digest and "report/stats.json" in digest
        del digest["report/timings.json"]
        for page in ("report/report.md", "report/report.html"):
            text = (out / page).read_text(encoding="utf-8")
            assert TIMINGS_START in text
            digest[page] = hashlib.sha256(strip_timings(text).encode()).hexdigest()
        digests.append(digest)
        encoded.append(json.loads((out / "report/timings.json").read_text())["texts_encoded"])
    assert encoded[0] > 0 and encoded[1] == 0  # the runs did differ in what they encoded
    assert digests[0] == digests[1]
    assert no_temp_left(tmp_path)
