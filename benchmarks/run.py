"""Benchmarks of spa-vl against the naive path, at full SPA-VL scale (not part of the test suite).

    .venv/bin/python benchmarks/run.py            # 100,788 rows (the hub's split sizes), ~3 GB of Parquet
    .venv/bin/python benchmarks/run.py --quick    # the same pairs at 10,000 rows
    .venv/bin/python benchmarks/run.py --only stats,diversity

The synthetic set (`spa-vl sample --rows N --image-size 256`: noisy 256-px JPEGs of ~33 KB, as the hub's
~38 KB a row) is generated once into benchmarks/.cache/ and reused. Each pair prints one line,

    name: ours X s, baseline Y s, ratio Z (baseline/ours; target ...) PASS|FAIL [peak RSS ...]

and everything lands in benchmarks/results.json. Timed steps that need a clean peak RSS or a cold
start run in a child process of this one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
FULL_ROWS = 100_788
QUICK_ROWS = 10_000
IMAGE_SIZE = 256


def child(code: str, env: dict | None = None) -> dict:
    """Run ``code`` in a fresh interpreter; it must print one JSON object last. Adds peak RSS (MB)."""
    prelude = "import json, time\n"
    # VmHWM is this process's own peak RSS (getrusage's ru_maxrss survives exec and would report the parent's)
    coda = (
        "\n_r = dict(result)\n"
        "_r['rss_mb'] = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')) / 1024\n"
        "print(json.dumps(_r))\n"
    )
    out = subprocess.run([sys.executable, "-c", prelude + code + coda], capture_output=True, text=True, env={**os.environ, **(env or {})})
    if out.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def dataset(rows: int) -> Path:
    """The synthetic benchmark set, generated once."""
    from spa_vl.sample import generate_sample, generator_fingerprint

    path = CACHE / f"sample-r{rows}-px{IMAGE_SIZE}-{generator_fingerprint()}"
    if not path.is_dir():
        print(f"generating {rows:,} rows at {IMAGE_SIZE} px into {path} (once) ...", flush=True)
        t = time.perf_counter()
        generate_sample(path, rows=rows, seed=0, image_size=IMAGE_SIZE)
        print(f"  done in {time.perf_counter() - t:.0f} s", flush=True)
    return path


def scale_from_arguments(doc: str) -> tuple[Path, bool]:
    """Parse ``--quick`` for a benchmark script described by ``doc``: its synthetic set, and whether it is quick."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ROWS:,} rows instead of {FULL_ROWS:,}")
    quick = parser.parse_args().quick
    return dataset(QUICK_ROWS if quick else FULL_ROWS), quick


def line(name: str, ours: float, baseline: float | None, target: str, ok: bool, extra: str = "") -> dict:
    ratio = baseline / ours if baseline else None
    text = f"{name}: ours {ours:.2f} s"
    if baseline is not None:
        text += f", baseline {baseline:.2f} s, ratio {ratio:.2f} (baseline/ours)"
    text += f"; target {target}: {'PASS' if ok else 'FAIL'}" + (f"; {extra}" if extra else "")
    print(text, flush=True)
    return {"name": name, "ours_s": ours, "baseline_s": baseline, "ratio": ratio, "target": target, "pass": ok, "note": extra}


# ---------------------------------------------------------------------------------------------

def bench_stats(folder: Path, tmp: Path) -> list[dict]:
    # Library imports (pyarrow, pandas, datasets) stay outside both timers: they are per process, not per call.
    # ours: `spa-vl stats` itself, in process (its JSON written to a file, as a user would)
    def ours_command(command: str, out: str) -> str:
        return (
            f"import pandas, orjson\nfrom spa_vl.cli import main\nt = time.perf_counter()\n"
            f"rc = main(['--quiet', {command!r}, {str(folder)!r}, '--json', {str(tmp / out)!r}])\n"
            "result = {'s': time.perf_counter() - t, 'rc': rc}"
        )

    ours_env = {"SPA_VL_CACHE": str(tmp / "stats-cache")}
    shutil.rmtree(tmp / "stats-cache", ignore_errors=True)
    ours_cold = child(ours_command("stats", "stats.json"), ours_env)  # parses the meta JSON, labels, caches
    ours = child(ours_command("stats", "stats.json"), ours_env)  # warm: meta and label columns from the caches
    shutil.rmtree(tmp / "stats-cache", ignore_errors=True)
    doctor_cold = child(ours_command("doctor", "doctor.json"), ours_env)  # every meta file parsed, provenance built
    doctor_warm = child(ours_command("doctor", "doctor.json"), ours_env)
    # The naive path on the real layout: load every config, then join train to image_info (classes) and to
    # the split files (question type) with pandas, then count.
    naive = f"""
import datasets, pandas as pd, json
root = {str(folder)!r}
t = time.perf_counter()
info = pd.read_json(root + "/meta_files/image_info/meta.json")[["image", "class1", "class2", "class3"]]
types = pd.concat([pd.read_json(f"{{root}}/meta_files/split/{{q}}.json").assign(question_type=q) for q in ("easy", "hardq", "hards")])
types = types.drop_duplicates(["question", "chosen", "rejected"])[["question", "chosen", "rejected", "question_type"]]
for name, splits in (("default", ["train"]), ("validation", ["validation"]), ("test", ["harm", "help"])):
    built = datasets.load_dataset(root, name)
    for split in splits:
        frame = built[split].to_pandas()
        if "class1" not in frame:
            frame = frame.merge(info, left_on="image_name", right_on="image", how="left")
        if "chosen" in frame:
            frame = frame.merge(types, on=["question", "chosen", "rejected"], how="left")
        counts = [frame[c].value_counts() for c in ("class1", "class2", "class3") + (("question_type",) if "question_type" in frame else ())]
result = {{'s': time.perf_counter() - t}}
"""
    env = {"HF_DATASETS_CACHE": str(tmp / "naive-cache")}
    shutil.rmtree(tmp / "naive-cache", ignore_errors=True)
    cold = child(naive, env)
    warm = child(naive, env)
    peak = max(ours["rss_mb"], ours_cold["rss_mb"])
    rss = f"peak RSS ours {peak:.0f} MB (target <= 400), naive warm {warm['rss_mb']:.0f} MB"
    return [
        line("stats (warm caches) vs warm load_dataset+to_pandas+joins", ours["s"], warm["s"], ">= 12, RSS <= 400 MB", warm["s"] / ours["s"] >= 12 and peak <= 400, rss),
        line("stats (cold: no cache at all) vs cold load_dataset+to_pandas+joins", ours_cold["s"], cold["s"], ">= 15", cold["s"] / ours_cold["s"] >= 15,
             f"naive cold peak RSS {cold['rss_mb']:.0f} MB; ours cold peak RSS {ours_cold['rss_mb']:.0f} MB"),
        line("doctor (cold) vs stats (cold)", doctor_cold["s"], ours_cold["s"], "doctor <= 3x stats", doctor_cold["s"] <= 3 * ours_cold["s"],
             f"doctor warm {doctor_warm['s']:.2f} s, exit {doctor_cold['rc']}; doctor cold peak RSS {doctor_cold['rss_mb']:.0f} MB"),
    ]


def bench_builder(folder: Path, tmp: Path) -> list[dict]:
    build = f"""
from spa_vl.builder import SpaVL
t = time.perf_counter()
for name in ("train", "validation", "eval"):
    SpaVL(config_name=name, data_dir={str(folder)!r}, cache_dir={str(tmp / 'ours-build')!r}).download_and_prepare()
result = {{'s': time.perf_counter() - t}}
"""
    # fresh: no parsed meta files either (the first build parses them); then a rebuild with them cached
    shutil.rmtree(tmp / "builder-cache", ignore_errors=True)
    ours = child(build, {"SPA_VL_CACHE": str(tmp / "builder-cache")})
    shutil.rmtree(tmp / "ours-build", ignore_errors=True)
    rebuilt = child(build, {"SPA_VL_CACHE": str(tmp / "builder-cache")})
    baseline = child(f"""
import datasets
from spa_vl.features import hub_features
from spa_vl.layout import CONFIGS
t = time.perf_counter()
for name, layout in CONFIGS.items():
    files = {{split: {str(folder)!r} + "/" + pattern + ".parquet" for split, pattern in layout.splits.items()}}
    datasets.load_dataset("parquet", data_files=files, features=hub_features(name), cache_dir={str(tmp / 'parquet-build')!r})
result = {{'s': time.perf_counter() - t}}
""")
    shutil.rmtree(tmp / "ours-build", ignore_errors=True)
    shutil.rmtree(tmp / "parquet-build", ignore_errors=True)
    ratio = baseline["s"] / ours["s"]
    return [
        line("builder download_and_prepare vs packaged parquet builder (fresh caches)", ours["s"], baseline["s"], ">= 0.83 (ours <= 1.2x)",
             ratio >= 1 / 1.2, f"peak RSS ours {ours['rss_mb']:.0f} MB, parquet {baseline['rss_mb']:.0f} MB"),
        line("builder again, meta files already parsed (a new datasets cache)", rebuilt["s"], baseline["s"], ">= 0.83 (ours <= 1.2x)",
             baseline["s"] / rebuilt["s"] >= 1 / 1.2),
    ]


def bench_embeddings(folder: Path, tmp: Path, n_texts: int) -> list[dict]:
    import pyarrow.parquet as pq
    from sentence_transformers import SentenceTransformer

    from spa_vl.analysis.embeddings.encoder import Encoder, default_model

    questions = pq.read_table(folder / "data", columns=["question"]).column("question").to_pylist()
    texts = sorted(set(questions))[:n_texts]
    raw = SentenceTransformer(default_model(), device="cpu")
    raw.encode(texts[:64], batch_size=64)  # warm both paths equally
    t = time.perf_counter()
    raw.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    baseline = time.perf_counter() - t
    encoder = Encoder(cache_dir=tmp / "emb", progress=False)
    encoder._model = raw  # the same loaded model: the pair measures the cache and dedup layer, not a reload
    t = time.perf_counter()
    encoder.encode(texts)
    first = time.perf_counter() - t
    t = time.perf_counter()
    again = Encoder(cache_dir=tmp / "emb", progress=False)
    again.encode(texts)
    second = time.perf_counter() - t
    return [
        line(f"embeddings, {len(texts):,} unique questions", first, baseline, ">= 0.95 (throughput)", baseline / first >= 0.95,
             f"{len(texts) / first:.0f} texts/s ours, {len(texts) / baseline:.0f} raw"),
        line("embeddings, second run from the cache", second, first, "second <= 2% of first", second <= 0.02 * first,
             f"second run {100 * second / first:.2f}% of the first; encoded {again.last_encoded}"),
    ]


def bench_diversity(rows: int) -> list[dict]:
    from spa_vl.analysis.metrics import diversity as dv

    x = np.random.default_rng(0).normal(size=(rows, 384)).astype(np.float32)
    t = time.perf_counter()
    dv.mean_pairwise_cosine_distance(x)
    dv.vendi_score(x)
    ours = time.perf_counter() - t
    sub = x[:5000]
    t = time.perf_counter()
    brute = (dv.brute_force_mean_pairwise_cosine_distance(sub), dv.brute_force_vendi_score(sub))
    baseline = time.perf_counter() - t
    fast = (dv.mean_pairwise_cosine_distance(sub), dv.vendi_score(sub))
    error = max(abs(a - b) for a, b in zip(fast, brute))
    return [line(f"diversity metrics, {rows:,} x 384 (baseline: O(n^2) on 5,000 rows)", ours, baseline, "< 1 s and agree to 1e-6",
                 ours < 1.0 and error < 1e-6, f"max difference on 5,000 rows {error:.1e}")]


def bench_ablate(folder: Path, tmp: Path) -> list[dict]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from spa_vl.analysis.subsets.ablation import DEFAULT_SIZES, ScaleLadder, train_pool
    from spa_vl.analysis.writers.export import export_subsets
    from spa_vl.sources import resolve_source
    from spa_vl.tables import split_files

    t = time.perf_counter()
    pool = train_pool(folder)
    sizes = [s for s in DEFAULT_SIZES if s <= len(pool)]
    subsets = ScaleLadder(sizes=sizes, random_state=0).sample(pool)
    export_subsets(folder, subsets, tmp / "ours-ablate", formats=["parquet"], progress=False, pool=pool)
    ours = time.perf_counter() - t
    files = split_files(resolve_source(str(folder)), "train", "train")
    chosen = [subset.rows_in(pool) for subset in subsets]
    t = time.perf_counter()
    for index, path in enumerate(files):  # the same rows, each shard read once, written as is
        table = pq.read_table(path)
        for subset, subset_rows in zip(subsets, chosen):
            rows = subset_rows.loc[subset_rows["file"] == index, "position"].to_numpy()
            if len(rows):
                target = tmp / "bare-ablate" / subset.name / f"{index}.parquet"
                target.parent.mkdir(parents=True, exist_ok=True)
                pq.write_table(table.take(pa.array(rows)), target)
    baseline = time.perf_counter() - t
    shutil.rmtree(tmp / "ours-ablate", ignore_errors=True)
    shutil.rmtree(tmp / "bare-ablate", ignore_errors=True)
    return [line(f"scale ladder {','.join(map(str, sizes))} as Parquet", ours, baseline, ">= 0.5 (ours <= 2x)", baseline / ours >= 0.5)]


def bench_report(folder: Path, tmp: Path) -> list[dict]:
    t = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "spa_vl.cli", "--quiet", "report", str(folder), "--out", str(tmp / "report")],
        capture_output=True, text=True, env={**os.environ, "SPA_VL_CACHE": str(tmp / "report-cache")},
    )
    seconds = time.perf_counter() - t
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    sample = json.loads((tmp / "report" / "stats.json").read_text())["diversity"]["sample_rows"]
    return [line("spa-vl report end to end (fresh caches)", seconds, None, "< 300 s", seconds < 300, f"diversity sample {sample} rows per field")]


PAIRS = ("stats", "builder", "embeddings", "diversity", "ablate", "report")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, help=f"rows of the synthetic set (default {FULL_ROWS:,}; --quick {QUICK_ROWS:,})")
    parser.add_argument("--quick", action="store_true", help=f"run at {QUICK_ROWS:,} rows")
    parser.add_argument("--only", help=f"comma-separated pairs among {', '.join(PAIRS)}")
    args = parser.parse_args(argv)
    rows = args.rows or (QUICK_ROWS if args.quick else FULL_ROWS)
    chosen = [p.strip() for p in (args.only or ",".join(PAIRS)).split(",")]
    folder = dataset(rows)
    results = []
    with tempfile.TemporaryDirectory(prefix="spa-vl-bench-", dir=CACHE) as scratch:
        tmp = Path(scratch)
        for pair in chosen:
            if pair == "stats":
                results += bench_stats(folder, tmp)
            elif pair == "builder":
                results += bench_builder(folder, tmp)
            elif pair == "embeddings":
                results += bench_embeddings(folder, tmp, n_texts=max(500, round(20_000 * rows / FULL_ROWS)))
            elif pair == "diversity":
                results += bench_diversity(rows)
            elif pair == "ablate":
                results += bench_ablate(folder, tmp)
            elif pair == "report":
                results += bench_report(folder, tmp)
            else:
                parser.error(f"unknown pair {pair!r}: choose from {', '.join(PAIRS)}")
    from spa_vl.atomic import atomic_write_text

    summary = {"rows": rows, "cores": os.cpu_count(), "results": results}
    atomic_write_text(HERE / "results.json", json.dumps(summary, indent=2) + "\n")
    print(f"wrote {HERE / 'results.json'}; {sum(r['pass'] for r in results)} of {len(results)} targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
