"""The fastest faithful CPU encoder: every backend of spa_vl.analysis.embeddings.backends against raw SentenceTransformer.encode.

One run, the same texts for all: 2,000 texts of the embedded sample (questions and responses, drawn
with a seed) and 500 longer ones (3–6 sample responses joined, ~100–300 words, as long as real
SPA-VL answers), encoded in batches of 64 on this machine's cores. For each backend it prints

    name: ours X texts/s, baseline Y texts/s, ratio Z, mean cosine C, ranking same/different, target T, PASS|FAIL

where the baseline is ``SentenceTransformer.encode`` (fp32 torch), timed again right before each
backend (the machine may be shared, and its load changes), the cosine is between each text's
vector and its fp32 vector, and the ranking is the order of the domains (class1) of the embedded
sample by the Vendi score and by the mean pairwise cosine distance of their questions
(``diversity.group_diversity``, equal n, seed 0). PASS needs ratio >= 1.5, mean cosine >= 0.995 and
both rankings unchanged. Writes ``benchmarks/encoders.json``. Not part of the tests.

    .venv/bin/python benchmarks/encoders.py [--texts 2000] [--long 500] [--backends onnx,openvino]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spa_vl.analysis.embeddings.backends import BACKENDS, make_encode  # noqa: E402
from spa_vl.analysis.inputs.frames import labelled_frame  # noqa: E402
from spa_vl.analysis.metrics import diversity  # noqa: E402
from spa_vl.taxonomy import UNKNOWN  # noqa: E402

TARGET_RATIO, MIN_COSINE = 1.5, 0.995
BATCH = 64


def bench_texts(frame, n: int, n_long: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    pool = sorted({t for c in ("question", "chosen", "rejected") for t in frame[c].dropna().tolist() if t.strip()})
    responses = sorted({t for c in ("chosen", "rejected") for t in frame[c].dropna().tolist() if t.strip()})
    texts = [pool[i] for i in rng.choice(len(pool), size=min(n, len(pool)), replace=False)]
    for _ in range(n_long):
        k = int(rng.integers(3, 7))
        texts.append(" ".join(responses[i] for i in rng.choice(len(responses), size=k, replace=False)))
    return texts


def rankings(x: np.ndarray, groups) -> dict[str, list[str]]:
    table = diversity.group_diversity(x, groups, random_state=0)
    return {
        metric: table[metric].sort_values(ascending=False, kind="stable").index.astype(str).tolist()
        for metric in ("vendi_score", "mean_pairwise_cosine_distance")
    }


def timed(encode, texts) -> tuple[np.ndarray, float]:
    encode(texts[:BATCH], BATCH)  # warm-up: first-call allocations, graph compilation
    t0 = time.perf_counter()
    x = encode(texts, BATCH)
    return x, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--long", type=int, default=500)
    parser.add_argument("--backends", default=",".join(b for b in BACKENDS if b != "torch"))
    args = parser.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    from spa_vl.analysis.embeddings.encoder import default_model

    frame = labelled_frame("sample")
    texts = bench_texts(frame, args.texts, args.long)
    labelled = frame[frame["class1"] != UNKNOWN]
    questions, groups = labelled["question"].fillna("").tolist(), labelled["class1"].tolist()
    words = np.array([len(t.split()) for t in texts])
    print(f"{len(texts):,} texts ({words.mean():.0f} words on average, max {words.max()}), batch {BATCH}, "
          f"{torch.get_num_threads()} torch threads; ranking on {len(questions):,} sample questions by class1")

    model = SentenceTransformer(default_model(), device="cpu", local_files_only=True)
    baseline_encode = make_encode(model, "torch", Path())
    base_x, base_s = timed(baseline_encode, texts)
    base_rate = len(texts) / base_s
    base_rank = rankings(baseline_encode(questions, BATCH), groups)
    print(f"baseline torch fp32: {base_rate:.1f} texts/s ({base_s:.1f} s); domains by Vendi: {base_rank['vendi_score']}")

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in [b for b in args.backends.split(",") if b]:
            try:
                t0 = time.perf_counter()
                encode = make_encode(model, name, Path(tmp) / "onnx")
                prepare = time.perf_counter() - t0
            except Exception as e:  # a runtime that is missing or fails is reported, not fatal
                print(f"{name}: not measured ({type(e).__name__}: {e})")
                results[name] = {"error": f"{type(e).__name__}: {e}"}
                continue
            # the baseline again right before each backend: on a shared machine, load changes by the minute
            _, base_s = timed(baseline_encode, texts)
            base_rate = len(texts) / base_s
            x, seconds = timed(encode, texts)
            rate = len(texts) / seconds
            cos = (x * base_x).sum(axis=1)
            rank = rankings(encode(questions, BATCH), groups)
            same = rank == base_rank
            ratio = rate / base_rate
            verdict = "PASS" if ratio >= TARGET_RATIO and cos.mean() >= MIN_COSINE and same else "FAIL"
            print(f"{name}: ours {rate:.1f} texts/s, baseline {base_rate:.1f} texts/s, ratio {ratio:.2f}, mean cosine {cos.mean():.5f}, "
                  f"ranking {'same' if same else 'different'}, target {TARGET_RATIO}, {verdict}  (min cosine {cos.min():.4f}, prepared in {prepare:.1f} s)")
            if not same:
                print(f"    domains by Vendi: {rank['vendi_score']}")
            results[name] = {
                "texts_per_s": round(rate, 2), "seconds": round(seconds, 3), "baseline_texts_per_s": round(base_rate, 2), "ratio": round(ratio, 3),
                "mean_cosine": round(float(cos.mean()), 6), "min_cosine": round(float(cos.min()), 6),
                "ranking_same": same, "ranking": rank, "prepare_seconds": round(prepare, 2), "verdict": verdict,
            }
    faithful = {k: v for k, v in results.items() if v.get("verdict") == "PASS"}
    best = max(faithful, key=lambda k: faithful[k]["texts_per_s"]) if faithful else "torch"
    print(f"default backend: {best}")
    record = {
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "python": platform.python_version()},
        "texts": len(texts), "mean_words": round(float(words.mean()), 1), "batch_size": BATCH,
        "baseline": {"name": "SentenceTransformer.encode fp32", "texts_per_s": round(base_rate, 2), "seconds": round(base_s, 3), "ranking": base_rank},
        "targets": {"ratio": TARGET_RATIO, "mean_cosine": MIN_COSINE, "ranking": "unchanged"},
        "backends": results,
        "default": best,
    }
    out = Path(__file__).with_name("encoders.json")
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
