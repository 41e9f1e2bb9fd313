"""spa-vl embed: the local engine against the Ray Data engine on the same machine, same texts.

Each engine fills a fresh store from the same source and fields (default: the embedded sample's
questions, ~1,200 distinct texts). Printed per run:

    local  (1 process, T torch threads): N texts in S s embedding → R texts/s
    local1 (1 process, 1 torch thread):  ...                       → R texts/s per worker
    ray    (W actors x 1 CPU):           cluster start C s, pipeline P s (read, hash, dedup, embed, write),
                                         embedding E s → R texts/s, R/W texts/s per worker
    overhead ratio: ray wall (start + pipeline) / local1 wall, and per-worker throughput ray / local1

"embedding" seconds exclude reading the source and the store; "wall" seconds include everything the
command does except importing Python packages. The machine may be shared: run it twice. Writes
``benchmarks/embed.json``. Not part of the tests.

    .venv/bin/python benchmarks/embed.py [--source sample] [--fields question] [--workers 1]
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spa_vl.analysis.embeddings.engines import embed_source  # noqa: E402


def run_local(source: str, fields: list[str], out: Path, threads: int | None) -> dict:
    import torch

    saved = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        start = time.perf_counter()
        result = embed_source(source, out, fields=fields, progress=False)
        wall = time.perf_counter() - start
    finally:
        torch.set_num_threads(saved)
    used = threads or saved
    return {"texts": result.embedded, "threads": used, "embed_seconds": result.seconds, "wall_seconds": wall,
            "texts_per_s": result.embedded / result.seconds}


def run_ray(source: str, fields: list[str], out: Path, workers: int) -> dict:
    import ray

    start = time.perf_counter()
    ray.init(address="local", num_cpus=workers + 1, include_dashboard=False, log_to_driver=False)
    started = time.perf_counter() - start
    try:
        begin = time.perf_counter()
        result = embed_source(source, out, fields=fields, engine="ray", workers=workers, progress=False)
        pipeline = time.perf_counter() - begin
    finally:
        ray.shutdown()
    return {"texts": result.embedded, "workers": result.workers, "cluster_start_seconds": started, "pipeline_seconds": pipeline,
            "embed_seconds": result.seconds, "wall_seconds": started + pipeline, "texts_per_s": result.embedded / result.seconds,
            "texts_per_s_per_worker": result.embedded / result.seconds / result.workers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", default="sample")
    parser.add_argument("--fields", default="question")
    parser.add_argument("--workers", type=int, default=1, help="Ray actors (each 1 CPU); the cluster gets one CPU more for reads")
    args = parser.parse_args()
    fields = args.fields.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        local = run_local(args.source, fields, Path(tmp) / "local", None)
        print(f"local  (1 process, {local['threads']} torch threads): {local['texts']} texts in {local['embed_seconds']:.1f} s embedding "
              f"→ {local['texts_per_s']:.0f} texts/s (wall {local['wall_seconds']:.1f} s)", flush=True)
        local1 = run_local(args.source, fields, Path(tmp) / "local1", 1)
        print(f"local1 (1 process, 1 torch thread):  {local1['texts']} texts in {local1['embed_seconds']:.1f} s embedding "
              f"→ {local1['texts_per_s']:.0f} texts/s per worker (wall {local1['wall_seconds']:.1f} s)", flush=True)
        ray_ = run_ray(args.source, fields, Path(tmp) / "ray", args.workers)
        print(f"ray    ({ray_['workers']} actor(s) x 1 CPU): cluster start {ray_['cluster_start_seconds']:.1f} s, pipeline "
              f"{ray_['pipeline_seconds']:.1f} s, embedding {ray_['embed_seconds']:.1f} s → {ray_['texts_per_s']:.0f} texts/s, "
              f"{ray_['texts_per_s_per_worker']:.0f} texts/s per worker", flush=True)
    overhead = ray_["wall_seconds"] / local1["wall_seconds"]
    per_worker = ray_["texts_per_s_per_worker"] / local1["texts_per_s"]
    print(f"overhead ratio (ray wall / local1 wall, same texts): {overhead:.2f}x; per-worker throughput ray / local1: {per_worker:.2f}")
    record = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform()}, "source": args.source, "fields": fields,
              "local": local, "local_1_thread": local1, "ray": ray_, "overhead_ratio": overhead, "per_worker_ratio": per_worker}
    (Path(__file__).with_name("embed.json")).write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
